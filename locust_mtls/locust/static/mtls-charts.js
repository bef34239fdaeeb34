/* locust-mtls: charts of every row's rates over the run (uPlot, shipped in the package).
 * MtlsCharts.render(container, timeline) draws one full-width chart per series of
 * /mtls/timeline (engine/timeline.py SERIES), one line per row, the same colour and dash
 * for a row in every chart. Used by the live page (/mtls/charts, polling) and by the HTML
 * report (data inlined). container.dataset.points says how many points are drawn, and
 * dataset.text / dataset.background the colours the charts' words are drawn in and on.
 * A null in a series (an interval without data, e.g. no worker report) is a gap. */
var MtlsCharts = (function () {
  "use strict";
  // Tableau 10: distinguishable for 7-10 rows, and for common colour-vision deficiencies.
  var COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  // Rows whose lines lie on each other (every row at 0 % bleed) stay apart: each row its
  // own dash, and an earlier row's line wider than a later one's, so it shows around it.
  var DASHES = [[], [10, 5], [2, 4], [12, 4, 2, 4], [6, 3], [1, 3], [16, 6], [4, 2, 4, 6]];
  var charts = {};

  function rgb(colour) {
    var parts = (colour || "").match(/[\d.]+/g) || [];
    return parts.length >= 3 ? parts.slice(0, 4).map(Number) : null;
  }

  function background(element) {
    // The first colour painted behind `element`: transparent ancestors let it through.
    for (; element; element = element.parentElement) {
      var colour = rgb(getComputedStyle(element).backgroundColor);
      if (colour && (colour.length < 4 || colour[3] > 0)) return colour.slice(0, 3);
    }
    return null;
  }

  function pageColours(container) {
    // Locust's dark theme (its own switch, not only the system's) colours Locust's page;
    // inside the mTLS tab's frame that page is the parent, whose colours ours take. Alone,
    // the page's own CSS follows prefers-color-scheme.
    var view = container.ownerDocument.defaultView;
    try {
      var frame = view.frameElement;
      if (frame) {
        var body = container.ownerDocument.body;
        var paper = background(frame) || [255, 255, 255];
        body.style.color = getComputedStyle(frame).color;
        body.style.backgroundColor = "rgb(" + paper.join(",") + ")";
      }
    } catch (e) { /* another origin's frame: keep our own colours */ }
    var text = rgb(getComputedStyle(container).color) || [34, 34, 34];
    var behind = background(container);
    if (!behind) behind = view.matchMedia("(prefers-color-scheme: dark)").matches
      ? [18, 18, 18] : [255, 255, 255];
    return {
      text: "rgb(" + text.slice(0, 3).join(",") + ")",
      grid: "rgba(" + text.slice(0, 3).join(",") + ",0.18)",
      background: "rgb(" + behind.join(",") + ")",
    };
  }

  function fromZero(u, min, max) {
    // Rates and counts are never negative: the axis starts at 0 (uPlot would fit the data).
    return [0, max > 0 ? max * 1.08 : 1];
  }

  function aligned(timeline, key) {
    var names = Object.keys(timeline.rows);
    var times = {};
    names.forEach(function (name) {
      timeline.rows[name].t.forEach(function (t) { times[t] = true; });
    });
    var xs = Object.keys(times).map(Number).sort(function (a, b) { return a - b; });
    var data = [xs];
    names.forEach(function (name) {
      var row = timeline.rows[name], at = {};
      row.t.forEach(function (t, i) { at[t] = row[key][i]; });
      data.push(xs.map(function (t) { return t in at ? at[t] : null; }));
    });
    return data;
  }

  function options(title, unit, names, width, colours) {
    var axis = { stroke: colours.text, grid: { stroke: colours.grid, width: 1 },
                 ticks: { stroke: colours.grid, width: 1 } };
    return {
      title: title + " (" + unit + ")",
      width: width,
      height: 220,
      scales: { x: { time: false }, y: { range: fromZero } },
      axes: [
        Object.assign({ label: "seconds since start", values: function (u, ticks) {
            return ticks.map(function (t) { return t + " s"; }); } }, axis),
        // "% of requests sent without a certificate" is the title's; the axis says "%".
        Object.assign({ label: unit.indexOf("% of") === 0 ? "%" : unit, size: 60 }, axis),
      ],
      series: [{ label: "t" }].concat(names.map(function (name, i) {
        var colour = COLOURS[i % COLOURS.length];
        return {
          label: name, stroke: colour, spanGaps: false,
          width: 1.5 + 1.5 * ((names.length - 1 - i) % 3),
          dash: DASHES[i % DASHES.length],
          points: { size: 5 + 2 * ((names.length - 1 - i) % 3), stroke: colour, fill: colour },
        };
      })),
    };
  }

  function render(container, timeline) {
    var series = timeline.series;
    var names = Object.keys(timeline.rows);
    var width = Math.max(Math.min(container.clientWidth || 1200, 1400) - 20, 500);
    var colours = pageColours(container);
    var look = [names.join("\n"), width, colours.text, colours.background].join("|");
    var points = 0;
    series.forEach(function (entry) {
      var key = entry[0], title = entry[1], unit = entry[2];
      var data = aligned(timeline, key);
      points += data[0].length * names.length;
      var chart = charts[key];
      if (chart && chart.mtlsLook === look) {  // same rows, width and theme
        chart.setData(data);
        return;
      }
      if (chart) chart.destroy();
      var holder = document.getElementById("mtls-chart-" + key);
      if (!holder) {
        holder = document.createElement("div");
        holder.id = "mtls-chart-" + key;
        holder.className = "mtls-chart";
        container.appendChild(holder);
      }
      chart = charts[key] = new uPlot(options(title, unit, names, width, colours), data, holder);
      chart.mtlsLook = look;
    });
    container.dataset.points = String(points);
    container.dataset.text = colours.text;
    container.dataset.background = colours.background;
    container.dataset.rows = String(names.length);
    var empty = document.getElementById("mtls-charts-empty");
    if (empty) empty.style.display = names.length ? "none" : "block";
  }

  return { render: render };
})();
