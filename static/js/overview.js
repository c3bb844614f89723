// The overview's charts, drawn by the vendored Chart.js from the numbers the page
// embeds (#overview-data). Series differ by line style, point shape and fill pattern
// as well as by colour, so they read without colour; every chart has a table beside it.
"use strict";

function stripes(color) {
  const size = 8;
  const canvas = document.createElement("canvas");
  canvas.width = canvas.height = size;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, size, size);
  ctx.strokeStyle = color;
  ctx.lineWidth = 2;
  ctx.beginPath();
  ctx.moveTo(0, size);
  ctx.lineTo(size, 0);
  ctx.stroke();
  return ctx.createPattern(canvas, "repeat");
}

const INK = "#1f3a8a";
const ACCENT = "#b45309";

function percentAxis() {
  return { beginAtZero: true, max: 100, ticks: { callback: (v) => `${v} %` } };
}

function drawOverview() {
  const source = document.getElementById("overview-data");
  if (!source || !window.Chart) return;
  const data = JSON.parse(source.textContent);
  if (!data.totals.requested) return;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  const charts = {};

  const hourly = data.granularity === "hour";
  const labels = data.series.map((p) => (hourly ? p.start.slice(5, 16).replace("T", " ") : p.start.slice(0, 10)));
  charts.series = new Chart(document.getElementById("chart-series"), {
    type: "line",
    data: {
      labels,
      datasets: [
        { label: "Sent", data: data.series.map((p) => p.sent), borderColor: INK, backgroundColor: INK,
          pointStyle: "circle", borderWidth: 2, tension: 0.2 },
        { label: "Approved", data: data.series.map((p) => p.approved), borderColor: ACCENT, backgroundColor: ACCENT,
          pointStyle: "triangle", pointRadius: 4, borderDash: [6, 4], borderWidth: 2, tension: 0.2 },
      ],
    },
    options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
      plugins: { legend: { labels: { usePointStyle: true } } } },
  });

  const t = data.totals;
  charts.funnel = new Chart(document.getElementById("chart-funnel"), {
    type: "bar",
    data: {
      labels: ["Requested", "Sent", "Delivered", "Approved"],
      datasets: [{ label: "Codes", data: [t.requested, t.sent, t.delivered, t.approved],
        backgroundColor: [INK, INK, INK, stripes(ACCENT)], borderColor: [INK, INK, INK, ACCENT], borderWidth: 2 }],
    },
    options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true } } },
  });

  function rateChart(id, rows, label, keys) {
    const top = rows.slice(0, 12);
    return new Chart(document.getElementById(id), {
      type: "bar",
      data: {
        labels: top.map((r) => r[label]),
        datasets: keys.map(([key, name], i) => ({
          label: name,
          data: top.map((r) => r[key]),
          backgroundColor: i ? stripes(ACCENT) : INK,
          borderColor: i ? ACCENT : INK,
          borderWidth: 2,
        })),
      },
      options: { scales: { y: percentAxis() },
        plugins: { tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${c.parsed.y ?? "—"} %` } } } },
    });
  }
  charts.country = rateChart("chart-country", data.by_country, "country",
    [["delivered_rate", "Delivered (% of sent)"], ["approved_rate", "Approved (% of requested)"]]);
  charts.gateway = rateChart("chart-gateway", data.by_gateway, "gateway",
    [["delivered_rate", "Delivered (% of sent)"], ["approved_rate", "Approved (% of requested)"]]);
  window.overviewCharts = charts; // read by the browser tests
}

document.addEventListener("DOMContentLoaded", drawOverview);
