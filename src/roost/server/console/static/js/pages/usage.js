// Usage and cost over a chosen time range, from the runs table (GET /v1/usage per
// interval); a user key sees its own figures only, as the API decides.
import { api } from "../api.js";
import { h, clear } from "../dom.js";
import { t } from "../i18n.js";
import { lineChart } from "../chart.js";

const RANGES = { "1h": [3600, 12], "24h": [86400, 24], "7d": [604800, 14] };
const GROUPS = ["agent", "user", "tenant", "model", "session"];

export async function render(main, ctx) {
  const range = h("select", { id: "range" },
    h("option", { value: "1h" }, t("Last hour")), h("option", { value: "24h", selected: true }, t("Last 24 hours")), h("option", { value: "7d" }, t("Last 7 days")));
  const group = h("select", { id: "group" }, GROUPS.map((g) => h("option", { value: g }, g)));
  const charts = h("div", { class: "charts" });
  const totals = h("tbody");
  clear(main).append(
    h("h1", {}, t("Usage")),
    h("div", { class: "row card" }, h("label", { class: "field" }, t("Range"), range), h("label", { class: "field" }, t("Group by"), group)),
    charts,
    h("h2", {}, t("Totals")),
    h("table", { id: "totals" }, h("thead", {}, h("tr", {}, [t("Group by"), t("Runs"), t("Input"), t("Output"), t("Cost"), t("Currency")].map((c) => h("th", { scope: "col" }, c)))), totals));

  async function draw() {
    const [span, n] = RANGES[range.value];
    const now = Math.ceil(Date.now() / 1000);
    const step = span / n;
    const starts = Array.from({ length: n }, (_, i) => Math.floor(now - span + i * step));
    const by = group.value;
    const pages = await Promise.all(starts.map((s) => api(`/v1/usage?group_by=${by}&since=${s}&until=${Math.floor(s + step)}`, { signal: ctx.signal })));
    const whole = await api(`/v1/usage?group_by=${by}&since=${now - span}`, { signal: ctx.signal });
    const field = whole.group_by;
    const keys = [...new Set(whole.data.map((r) => String(r[field] ?? "-")))];
    const series = (metric) => Object.fromEntries(keys.map((k) => [k, pages.map((p) => p.data.filter((r) => String(r[field] ?? "-") === k).reduce((a, r) => a + (r[metric] || 0), 0))]));
    const xs = starts.map((s) => s + step / 2);
    clear(charts);
    for (const [title, metric] of [[t("Tokens"), "total_tokens"], [t("Cost"), "cost"], [t("Runs"), "runs"]]) {
      const box = h("div", { class: "chart", "data-metric": metric });
      charts.append(h("div", { class: "card" }, h("h2", {}, `${title} · ${field}`), box));
      await lineChart(box, `${title} · ${field}`, xs, series(metric));
    }
    clear(totals);
    for (const r of whole.data) {
      totals.append(h("tr", {}, h("td", {}, String(r[field] ?? "-")), h("td", {}, String(r.runs)), h("td", {}, String(r.input_tokens)),
        h("td", {}, String(r.output_tokens)), h("td", {}, r.cost === null ? "" : String(r.cost)), h("td", {}, r.currency || "")));
    }
  }
  range.addEventListener("change", draw);
  group.addEventListener("change", draw);
  await draw();
}
