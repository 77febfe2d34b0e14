// The loss dashboard's charts. Data comes from the json_script block "dashboard-data"; every
// chart has a table with the same numbers (and the drill-down links) next to it. Series differ
// by pattern, dash and marker as well as colour, so the charts read in greyscale too.
(function () {
  "use strict";
  const source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  // Dark to light with distinct patterns: readable without colour.
  const INK = ["#1b3a5c", "#b4451f", "#3c7a3a", "#6b4c9a", "#8a6d00"];
  const DASHES = [[], [8, 4], [2, 3], [12, 4, 2, 4], [4, 4]];
  const MARKERS = ["circle", "rect", "triangle", "rectRot", "crossRot"];

  function pattern(kind, colour) {
    const size = 10;
    const canvas = document.createElement("canvas");
    canvas.width = canvas.height = size;
    const ctx = canvas.getContext("2d");
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, size, size);
    ctx.strokeStyle = colour;
    ctx.fillStyle = colour;
    ctx.lineWidth = 2;
    if (kind === "solid") {
      ctx.fillRect(0, 0, size, size);
    } else if (kind === "stripes") {
      ctx.beginPath();
      ctx.moveTo(0, size);
      ctx.lineTo(size, 0);
      ctx.moveTo(-size / 2, size / 2);
      ctx.lineTo(size / 2, -size / 2);
      ctx.moveTo(size / 2, size + size / 2);
      ctx.lineTo(size + size / 2, size / 2);
      ctx.stroke();
    } else {
      ctx.beginPath();
      ctx.arc(size / 2, size / 2, 2, 0, 2 * Math.PI);
      ctx.fill();
    }
    return ctx.createPattern(canvas, "repeat");
  }

  const percent = (value) => (value === null || value === undefined ? "—" : (value * 100).toFixed(1) + "%");

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = "#212529";
  if (reduceMotion) Chart.defaults.animation = false;

  function goTo(links) {
    return function (_event, elements, chart) {
      if (!elements.length) return;
      const element = elements[0];
      const list = Array.isArray(links[0]) ? links[element.datasetIndex] : links;
      const url = list && list[element.index];
      if (url) window.location.assign(url);
    };
  }

  function shareChart(id, block) {
    const canvas = document.getElementById(id);
    if (!canvas || !block.labels.length) {
      if (canvas) canvas.closest(".chart-box").classList.add("is-hidden");
      return;
    }
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: block.labels,
        datasets: [
          {
            label: "Share of lost deals",
            data: block.count_share,
            backgroundColor: pattern("solid", INK[0]),
            borderColor: INK[0],
            borderWidth: 1,
          },
          {
            label: "Share of lost value",
            data: block.value_share,
            backgroundColor: pattern("stripes", INK[1]),
            borderColor: INK[1],
            borderWidth: 1,
          },
        ],
      },
      options: {
        indexAxis: "y",
        maintainAspectRatio: false,
        onClick: goTo(block.links),
        scales: { x: { ticks: { callback: (v) => Math.round(v * 100) + "%" }, beginAtZero: true } },
        plugins: {
          tooltip: { callbacks: { label: (c) => c.dataset.label + ": " + percent(c.raw) } },
          legend: { position: "bottom" },
        },
      },
    });
  }

  shareChart("chart-reasons", data.reasons);
  shareChart("chart-categories", data.categories);

  const trendCanvas = document.getElementById("chart-trend");
  if (trendCanvas) {
    if (!data.trend.series.length) {
      trendCanvas.closest(".chart-box").classList.add("is-hidden");
    } else {
      new Chart(trendCanvas, {
        type: "line",
        data: {
          labels: data.trend.labels,
          datasets: data.trend.series.map((s, i) => ({
            label: (i + 1) + ". " + s.label,
            data: s.data,
            borderColor: INK[i % INK.length],
            backgroundColor: INK[i % INK.length],
            borderDash: DASHES[i % DASHES.length],
            pointStyle: MARKERS[i % MARKERS.length],
            pointRadius: 5,
            borderWidth: 2,
            tension: 0,
          })),
        },
        options: {
          maintainAspectRatio: false,
          onClick: goTo(data.trend.series.map((s) => s.links)),
          interaction: { mode: "nearest", intersect: true },
          scales: { y: { beginAtZero: true, ticks: { precision: 0 }, title: { display: true, text: "Lost deals" } } },
          plugins: { legend: { position: "bottom", labels: { usePointStyle: true } } },
        },
      });
    }
  }

  const stageCanvas = document.getElementById("chart-stages");
  if (stageCanvas) {
    if (!data.stages.labels.length) {
      stageCanvas.closest(".chart-box").classList.add("is-hidden");
    } else {
      new Chart(stageCanvas, {
        type: "bar",
        data: {
          labels: data.stages.labels,
          datasets: [
            {
              label: "Lost deals",
              data: data.stages.data,
              backgroundColor: pattern("solid", INK[0]),
              borderColor: INK[0],
              borderWidth: 1,
            },
          ],
        },
        options: {
          maintainAspectRatio: false,
          onClick: goTo(data.stages.links),
          scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
          plugins: { legend: { display: false } },
        },
      });
    }
  }

  const competitorCanvas = document.getElementById("chart-competitors");
  if (competitorCanvas) {
    if (!data.competitors.labels.length) {
      competitorCanvas.closest(".chart-box").classList.add("is-hidden");
    } else {
      new Chart(competitorCanvas, {
        type: "bar",
        data: {
          labels: data.competitors.labels,
          datasets: [
            {
              label: "Won against",
              data: data.competitors.won,
              backgroundColor: pattern("dots", INK[2]),
              borderColor: INK[2],
              borderWidth: 1,
            },
            {
              label: "Lost to",
              data: data.competitors.lost,
              backgroundColor: pattern("solid", INK[0]),
              borderColor: INK[0],
              borderWidth: 1,
            },
          ],
        },
        options: {
          indexAxis: "y",
          maintainAspectRatio: false,
          onClick: goTo([data.competitors.won_links, data.competitors.lost_links]),
          scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
          plugins: { legend: { position: "bottom" } },
        },
      });
    }
  }

  // Choosing dates means a custom period; choosing a preset clears the custom dates' meaning.
  const period = document.getElementById("id_period");
  ["id_date_from", "id_date_to"].forEach(function (id) {
    const input = document.getElementById(id);
    if (input && period) input.addEventListener("change", function () { period.value = "custom"; });
  });
})();
