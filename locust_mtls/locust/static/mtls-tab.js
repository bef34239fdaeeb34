/* locust-mtls: the live charts (/mtls/charts) in a frame under the mTLS tab's table.
 * Locust's extension tabs render a table only (extended_tables); this script, added to
 * Locust's page by locust/charts.py, watches for the mTLS tab and places the frame after
 * the table's container, outside anything React renders, and removes it on other tabs. */
(function () {
  "use strict";
  var FRAME_ID = "mtls-charts-frame";

  function mtlsTable() {
    var selected = document.querySelector('[role="tab"][aria-selected="true"]');
    if (!selected || selected.textContent.trim() !== "mTLS") return null;
    var bleed = document.querySelector('th[data-sortkey="bleed"]');
    return bleed ? bleed.closest(".MuiTableContainer-root") || bleed.closest("table") : null;
  }

  function sync() {
    var table = mtlsTable();
    var frame = document.getElementById(FRAME_ID);
    if (!table) {
      if (frame) frame.remove();
      return;
    }
    if (!frame) {
      frame = document.createElement("iframe");
      frame.id = FRAME_ID;
      frame.title = "mTLS rates over time";
      frame.src = "./mtls/charts";
      frame.style.cssText = "width:100%;height:1400px;border:0;margin-top:16px;display:block";
    }
    if (table.nextSibling !== frame) table.after(frame);
    var body = frame.contentDocument && frame.contentDocument.body;
    if (body && body.scrollHeight) frame.style.height = body.scrollHeight + 20 + "px";
  }

  setInterval(sync, 500);
})();
