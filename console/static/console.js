// The console's only script: it draws each usage chart from the numbers
// the page embeds (script.chart-data: the API's values, ms for
// durations), scaled to the axis unit. Days are stacked by tier: each
// layer is drawn as the sum of its tier and those below it, the legend
// shows the tier's own value. The tables beside the charts hold the same
// numbers for those who cannot see them.
(function () {
  "use strict";
  var palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
  var drawn = [];
  function fmt(v) {
    return v == null ? "" : (Math.round(v * 1000) / 1000).toLocaleString(document.documentElement.lang);
  }
  document.querySelectorAll("script.chart-data").forEach(function (el) {
    var d = JSON.parse(el.textContent);
    var target = document.getElementById(el.getAttribute("data-chart"));
    var stacked = el.getAttribute("data-stacked") === "true";
    var zone = el.getAttribute("data-zone") || "UTC";
    var scaled = d.series.map(function (s) {
      return s.values.map(function (v) { return v / d.scale; });
    });
    var data = [d.x];
    var series = [{}];
    var add = function (i, values) {
      var c = palette[i % palette.length];
      data.push(values);
      series.push({
        label: d.series[i].label,
        stroke: c,
        fill: stacked ? c : undefined,
        width: stacked ? 0 : 1.5,
        paths: stacked ? uPlot.paths.bars({ size: [0.8, 60] }) : undefined,
        points: { show: !stacked },
        value: function (u, v, si, idx) { return idx == null ? "" : fmt(scaled[i][idx]); }
      });
    };
    if (stacked) {
      var cum = [];
      for (var i = 0; i < scaled.length; i++) {
        cum.push(scaled[i].map(function (v, j) { return v + (i > 0 ? cum[i - 1][j] : 0); }));
      }
      for (var k = cum.length - 1; k >= 0; k--) add(k, cum[k]); // tallest first, the others over it
    } else {
      scaled.forEach(function (v, i) { add(i, v); });
    }
    var opts = {
      width: Math.max(target.clientWidth, 280),
      height: 260,
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), zone); },
      series: series,
      axes: [{}, { label: el.getAttribute("data-unit"), size: 70 }],
      legend: { live: true }
    };
    var plot = new uPlot(opts, data, target);
    drawn.push({ id: target.id, family: d.family, items: d.series.map(function (s) { return s.item; }),
                 raw: d.series.map(function (s) { return s.values; }), plot: plot, stacked: stacked });
    window.addEventListener("resize", function () {
      plot.setSize({ width: Math.max(target.clientWidth, 280), height: 260 });
    });
  });
  window.livebillCharts = drawn; // read by the browser tests
})();
