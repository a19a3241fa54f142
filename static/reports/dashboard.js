// The managers' dashboard charts (reports/dashboard.py "trends"), drawn with the vendored Chart.js.
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("dashboard-trends").textContent);
  if (typeof Chart === "undefined") { return; }
  window.dashboardCharts = [
    new Chart(document.getElementById("chart-value"), {
      type: "line",
      data: {
        labels: data.labels,
        datasets: [
          { label: "Inventory value (week end)", data: data.value },
          { label: "Cost of goods sold", data: data.cogs }
        ]
      },
      options: { maintainAspectRatio: false, animation: false }
    }),
    new Chart(document.getElementById("chart-stockouts"), {
      type: "bar",
      data: { labels: data.labels, datasets: [{ label: "Items out of stock during the week", data: data.stock_outs }] },
      options: { maintainAspectRatio: false, animation: false, scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } }
    })
  ];
})();
