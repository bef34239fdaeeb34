/* locust-mtls: the --mtls-threshold verdicts and the live charts (/mtls/charts, in a frame)
 * under the mTLS tab's table.
 * Locust's extension tabs render a table only (extended_tables); this script, added to
 * Locust's page by locust/charts.py, watches for the mTLS tab and places the frame after
 * the table's container, outside anything React renders, and removes it on other tabs. */
(function () {
  "use strict";
  var FRAME_ID = "mtls-charts-frame";
  var THRESHOLDS_ID = "mtls-thresholds";
  var verdicts = [];
  var ticks = 0;

  // --mtls-threshold verdicts (locust/thresholds.py): so far while running, final after.
  function fetchVerdicts() {
    fetch("./mtls/thresholds").then(function (r) { return r.json(); })
      .then(function (data) { verdicts = data; }).catch(function () {});
  }

  function thresholdsBox() {
    var box = document.getElementById(THRESHOLDS_ID);
    if (!box) {
      box = document.createElement("table");
      box.id = THRESHOLDS_ID;
      box.style.cssText = "border-collapse:collapse;margin-top:16px;font-size:14px";
    }
    var key = JSON.stringify(verdicts);
    if (box.dataset.key === key) return box;
    box.dataset.key = key;
    box.textContent = "";
    box.style.display = verdicts.length ? "" : "none";
    var cells = [["Threshold", "Row", "Measured", "Verdict"]].concat(verdicts.map(function (v) {
      var verdict = (v.passed ? "passed" : "FAILED") + (v.aborted ? " (aborted the run)" : "");
      return [v.expression, v.row, v.measured_text, verdict];
    }));
    cells.forEach(function (row, index) {
      var tr = box.insertRow();
      row.forEach(function (text, column) {
        var cell = document.createElement(index ? "td" : "th");
        cell.textContent = text;
        cell.style.cssText = "border:1px solid #e0e0e0;padding:4px 10px;text-align:left";
        if (index && column === 3) cell.style.color = text === "passed" ? "#1b5e20" : "#b00020";
        tr.appendChild(cell);
      });
    });
    return box;
  }

  function mtlsTable() {
    var selected = document.querySelector('[role="tab"][aria-selected="true"]');
    if (!selected || selected.textContent.trim() !== "mTLS") return null;
    var bleed = document.querySelector('th[data-sortkey="bleed"]');
    return bleed ? bleed.closest(".MuiTableContainer-root") || bleed.closest("table") : null;
  }

  function sync() {
    var table = mtlsTable();
    var frame = document.getElementById(FRAME_ID);
    var box = document.getElementById(THRESHOLDS_ID);
    if (!table) {
      if (frame) frame.remove();
      if (box) box.remove();
      return;
    }
    if (ticks++ % 4 === 0) fetchVerdicts();
    box = thresholdsBox();
    if (table.nextSibling !== box) table.after(box);
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = FRAME_ID;
      frame.title = "mTLS rates over time";
      frame.src = "./mtls/charts";
      frame.style.cssText = "width:100%;height:1400px;border:0;margin-top:16px;display:block";
    }
    if (box.nextSibling !== frame) box.after(frame);
    var body = frame.contentDocument && frame.contentDocument.body;
    if (body && body.scrollHeight) frame.style.height = body.scrollHeight + 20 + "px";
  }

  setInterval(sync, 500);
})();
