// Alert rules, their current state and the recent history of firings (GET /v1/alerts).
import { api } from "../api.js";
import { h, clear, json } from "../dom.js";
import { t } from "../i18n.js";

const at = (ts) => (ts ? new Date(ts * 1000).toLocaleString() : "");

export async function render(main, ctx) {
  const data = await api("/v1/alerts", { signal: ctx.signal });
  const table = (cols, rows) => h("table", {}, h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows));
  clear(main).append(
    h("h1", {}, t("Alerts")),
    h("h2", {}, t("State")),
    data.states.length ? table([t("Name"), t("State"), t("Value"), "labels", t("Since ")],
      data.states.map((s) => h("tr", {}, h("td", {}, s.rule), h("td", {}, h("span", { class: `status ${s.state}` }, s.state)), h("td", {}, String(s.value)), h("td", {}, h("code", {}, json(s.labels))), h("td", {}, at(s.since)))))
      : h("p", { class: "muted" }, t("Nothing here yet.")),
    h("h2", {}, t("Rules")),
    table([t("Name"), t("Severity"), t("Threshold"), t("Description")],
      data.rules.map((r) => h("tr", {}, h("td", {}, r.name), h("td", {}, r.severity || ""), h("td", {}, `${r.op || ">"} ${r.threshold}`), h("td", {}, h("pre", {}, r.description || json(r.expr || r.usage || {})))))),
    h("h2", {}, t("Firing history")),
    data.history.length ? table([t("When"), t("Name"), t("Change"), t("Value"), "labels"],
      data.history.map((e) => h("tr", {}, h("td", {}, at(e.at)), h("td", {}, e.rule), h("td", {}, `${e.old} → ${e.new}`), h("td", {}, String(e.value)), h("td", {}, h("code", {}, json(e.labels))))))
      : h("p", { class: "muted" }, t("Nothing here yet.")));
}
