// The server's Prometheus metrics, polled every 5 s while the page is open: runs/s,
// tokens/s, error rate, run latency percentiles and the sandbox pool, as charts.
import { api } from "../api.js";
import { h, clear } from "../dom.js";
import { t } from "../i18n.js";
import { lineChart } from "../chart.js";

export function parseExposition(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = line.match(/^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

const sum = (samples, name, pred = () => true) => samples.filter((s) => s.name === name && pred(s.labels)).reduce((a, s) => a + s.value, 0);

function quantile(q, buckets) {
  // buckets: [[le, cumulative count]] sorted by le
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (!total) return null;
  const rank = q * total;
  let prevLe = 0, prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (!Number.isFinite(le)) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le; prevCount = count;
  }
  return prevLe;
}

function buckets(samples, name) {
  const by = new Map();
  for (const s of samples) if (s.name === name) by.set(Number(s.labels.le), (by.get(Number(s.labels.le)) || 0) + s.value);
  return [...by.entries()].sort((a, b) => a[0] - b[0]);
}

export async function render(main, ctx) {
  const charts = h("div", { class: "charts" });
  clear(main).append(h("h1", {}, t("Live metrics (this server)")), h("p", { class: "muted" }, t("Collected every 5 s while this page is open.")), charts);
  const boxes = {};
  for (const k of ["runs", "tokens", "errors", "latency", "pool"]) {
    boxes[k] = h("div", { class: "chart", "data-metric": k });
  }
  charts.append(
    h("div", { class: "card" }, h("h2", {}, t("Runs/s")), boxes.runs), h("div", { class: "card" }, h("h2", {}, t("Tokens/s")), boxes.tokens),
    h("div", { class: "card" }, h("h2", {}, t("Error rate")), boxes.errors), h("div", { class: "card" }, h("h2", {}, t("Run latency p50 / p95 (s)")), boxes.latency),
    h("div", { class: "card" }, h("h2", {}, t("Sandbox pool")), boxes.pool));
  const xs = [], s = { runs: [], tokens: [], errors: [], p50: [], p95: [], pool: [] };
  let prev = null;
  async function sample() {
    const samples = parseExposition(await api("/metrics", { signal: ctx.signal }));
    const now = Date.now() / 1000;
    const cur = {
      now, started: sum(samples, "roost_runs_started_total"), tokens: sum(samples, "roost_model_tokens_total"),
      finished: sum(samples, "roost_runs_finished_total"), failed: sum(samples, "roost_runs_finished_total", (l) => l.status === "failed"),
      lat: buckets(samples, "roost_run_duration_seconds_bucket"), pool: sum(samples, "roost_sandbox_pool_size"),
    };
    if (prev) {
      const dt = Math.max(0.001, now - prev.now);
      const fin = cur.finished - prev.finished;
      const delta = cur.lat.map(([le, c], i) => [le, c - ((prev.lat[i] || [le, 0])[1])]);
      xs.push(now);
      s.runs.push((cur.started - prev.started) / dt); s.tokens.push((cur.tokens - prev.tokens) / dt);
      s.errors.push(fin > 0 ? (cur.failed - prev.failed) / fin : 0);
      s.p50.push(quantile(0.5, delta)); s.p95.push(quantile(0.95, delta)); s.pool.push(cur.pool);
      if (xs.length > 120) { xs.shift(); for (const v of Object.values(s)) v.shift(); }
      await lineChart(boxes.runs, t("Runs/s"), xs, { runs: s.runs });
      await lineChart(boxes.tokens, t("Tokens/s"), xs, { tokens: s.tokens });
      await lineChart(boxes.errors, t("Error rate"), xs, { errors: s.errors });
      await lineChart(boxes.latency, t("Run latency p50 / p95 (s)"), xs, { p50: s.p50, p95: s.p95 });
      await lineChart(boxes.pool, t("Sandbox pool"), xs, { pool: s.pool });
    }
    prev = cur;
  }
  await sample();
  const timer = setInterval(() => sample().catch(() => clearInterval(timer)), 5000);
  ctx.signal.addEventListener("abort", () => clearInterval(timer));
  setTimeout(() => sample().catch(() => {}), 1000);
}
