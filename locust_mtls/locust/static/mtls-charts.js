/* locust-mtls: charts of every row's rates over the run (uPlot, shipped in the package).
 * MtlsCharts.render(container, timeline) draws one full-width chart per series of
 * /mtls/timeline (engine/timeline.py SERIES), one line per row, the same colour for a
 * row in every chart. Used by the live page (/mtls/charts, polling) and by the HTML
 * report (data inlined). container.dataset.points says how many points are drawn. */
var MtlsCharts = (function () {
  "use strict";
  // Tableau 10: distinguishable for 7-10 rows, and for common colour-vision deficiencies.
  var COLOURS = ["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                 "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];
  var charts = {};

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

  function options(title, unit, names, width) {
    return {
      title: title + " (" + unit + ")",
      width: width,
      height: 220,
      scales: { x: { time: false } },
      axes: [
        { label: "seconds since start", values: function (u, ticks) {
            return ticks.map(function (t) { return t + " s"; }); } },
        { label: unit, size: 60 },
      ],
      series: [{ label: "t" }].concat(names.map(function (name, i) {
        return { label: name, stroke: COLOURS[i % COLOURS.length], width: 2, spanGaps: false };
      })),
    };
  }

  function render(container, timeline) {
    var series = timeline.series;
    var names = Object.keys(timeline.rows);
    var width = Math.max(Math.min(container.clientWidth || 1200, 1400) - 20, 500);
    var points = 0;
    series.forEach(function (entry) {
      var key = entry[0], title = entry[1], unit = entry[2];
      var data = aligned(timeline, key);
      points += data[0].length * names.length;
      var chart = charts[key];
      var sameRows = chart && chart.mtlsNames === names.join("\n");
      if (sameRows && chart.width === width) {
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
      chart = charts[key] = new uPlot(options(title, unit, names, width), data, holder);
      chart.mtlsNames = names.join("\n");
    });
    container.dataset.points = String(points);
    container.dataset.rows = String(names.length);
    var empty = document.getElementById("mtls-charts-empty");
    if (empty) empty.style.display = names.length ? "none" : "block";
  }

  return { render: render };
})();
