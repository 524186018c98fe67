// Knowledge bases of the caller's tenant: their documents, and a search box.
import { api } from "../api.js";
import { h, clear, json } from "../dom.js";
import { t } from "../i18n.js";

const enc = encodeURIComponent;

export async function render(main, ctx) {
  const data = await api("/v1/knowledge-bases", { signal: ctx.signal });
  const bases = data.data || [];
  clear(main).append(h("h1", {}, t("Knowledge bases")));
  if (!bases.length) main.append(h("p", { class: "muted" }, t("Nothing here yet.")));
  const list = h("ul");
  for (const kb of bases) list.append(h("li", {}, h("a", { href: `/console/knowledge/${enc(kb.id)}` }, kb.name || kb.id)));
  main.append(list);
  const id = ctx.parts[0];
  if (!id) return;
  const kb = await api(`/v1/knowledge-bases/${enc(id)}`, { signal: ctx.signal });
  const docs = await api(`/v1/knowledge-bases/${enc(id)}/documents`, { signal: ctx.signal });
  const query = h("input", { id: "kb-query", type: "search" });
  const hits = h("div");
  main.append(
    h("h2", {}, kb.name || kb.id), h("pre", {}, json(kb)),
    h("h2", {}, t("Documents")),
    h("table", {}, h("tbody", {}, (docs.data || []).map((d) => h("tr", {}, h("td", {}, d.title || d.source || d.id), h("td", {}, h("code", {}, d.id)))))),
    h("form", { class: "row card", onsubmit: async (e) => {
      e.preventDefault();
      const res = await api(`/v1/knowledge-bases/${enc(id)}/search`, { method: "POST", body: { query: query.value } });
      clear(hits).append(...(res.data || res.hits || []).map((r) => h("pre", {}, json(r))));
    } }, h("label", { class: "field" }, t("Query"), query), h("button", { type: "submit", class: "primary" }, t("Search"))),
    hits);
}
