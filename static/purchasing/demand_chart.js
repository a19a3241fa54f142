// The reorder policy page's chart (purchasing/replenishment.py, demand_chart): daily demand,
// stock-out days apart (their sales are a floor, not the demand), and the forecast after them.
(function () {
  const data = JSON.parse(document.getElementById("demand-chart-data").textContent);
  const numbers = (values) => values.map((v) => (v === null ? null : Number(v)));
  new Chart(document.getElementById("demand-chart"), {
    type: "line",
    data: {
      labels: data.labels,
      datasets: [
        { label: "Demand", data: numbers(data.demand), borderColor: "#417690", pointRadius: 0, spanGaps: false },
        { label: "Stock-out days (sold)", data: numbers(data.stockout), borderColor: "#ba2121", showLine: false },
        { label: "Forecast", data: numbers(data.forecast), borderColor: "#e8a317", borderDash: [6, 4], pointRadius: 0 },
      ],
    },
    options: { animation: false, interaction: { mode: "index", intersect: false }, scales: { y: { beginAtZero: true } } },
  });
})();
