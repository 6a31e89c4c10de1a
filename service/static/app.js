// The pages' shared script: charts from JSON options, and confirmation before destructive actions.
(function () {
  "use strict";

  function drawCharts() {
    var boxes = document.querySelectorAll(".chart[data-chart]");
    if (!boxes.length) return;
    if (typeof window.echarts === "undefined") {
      boxes.forEach(function (box) {
        box.classList.add("chart-missing");
        box.textContent = "图表组件未安装（运行 ./scripts/run 会安装）。数据见下方表格。";
      });
      return;
    }
    var charts = [];
    boxes.forEach(function (box) {
      var source = document.getElementById(box.getAttribute("data-chart"));
      if (!source) return;
      var chart = window.echarts.init(box, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(source.textContent));
      box.setAttribute("data-chart-ready", "1");
      charts.push(chart);
    });
    window.addEventListener("resize", function () {
      charts.forEach(function (chart) { chart.resize(); });
    });
  }

  function confirmForms() {
    document.addEventListener("submit", function (event) {
      var form = event.target;
      var question = form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) event.preventDefault();
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawCharts();
    confirmForms();
  });
})();
