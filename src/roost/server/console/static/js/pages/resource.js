// A page for an API the console has no page of its own for (roles, and any later one
// until it gets one): its GET listing as a table, so the entry is useful on landing.
import { api } from "../api.js";
import { h, clear, json } from "../dom.js";
import { t } from "../i18n.js";

export async function render(main, ctx) {
  const data = await api(ctx.api, { signal: ctx.signal });
  const items = Array.isArray(data) ? data : data.data || data.items || [];
  clear(main).append(h("h1", {}, ctx.api));
  if (!items.length) { main.append(h("pre", {}, json(data))); return; }
  const cols = [...new Set(items.flatMap((i) => Object.keys(i)))].slice(0, 8);
  main.append(h("table", {}, h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, items.map((i) => h("tr", {}, cols.map((c) => h("td", {}, typeof i[c] === "object" ? json(i[c]) : String(i[c] ?? ""))))))));
}
