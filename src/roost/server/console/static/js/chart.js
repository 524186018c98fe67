// uPlot (vendored in assets/vendor, MIT) loaded only by the pages that draw charts.
import { h } from "./dom.js";

let loading = null;

export function loadUPlot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!loading) {
    loading = new Promise((resolve, reject) => {
      document.head.append(h("link", { rel: "stylesheet", href: "/console/assets/vendor/uPlot.min.css" }));
      const s = h("script", { src: "/console/assets/vendor/uPlot.iife.min.js" });
      s.onload = () => resolve(window.uPlot);
      s.onerror = reject;
      document.head.append(s);
    });
  }
  return loading;
}

const COLORS = ["#1f5fbf", "#d98a2b", "#2f9e8f", "#7b61c9", "#b42318", "#5b6475", "#9a6700", "#1a7f37"];

// A line chart of series {label: values[]} over xs (Unix seconds) into el.
export async function lineChart(el, title, xs, series, { width = 460, height = 220 } = {}) {
  const uPlot = await loadUPlot();
  const names = Object.keys(series);
  const opts = {
    width, height,
    series: [{}, ...names.map((n, i) => ({ label: n, stroke: COLORS[i % COLORS.length], width: 2, points: { show: xs.length < 40 } }))],
    axes: [{}, { size: 60 }],
  };
  el.replaceChildren();
  el.setAttribute("role", "img");
  el.setAttribute("aria-label", `${title}: ${names.join(", ")}`);
  el.dataset.points = String(names.reduce((n, k) => n + series[k].filter((v) => v !== null && v !== 0).length, 0));
  return new uPlot(opts, [xs, ...names.map((n) => series[n])], el);
}
