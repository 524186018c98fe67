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
  const query = h("input", { id: "kb-query", type: "search", required: true });
  const mode = h("select", { id: "kb-mode" }, ["hybrid", "bm25", "vector"].map((m) => h("option", { value: m }, m)));
  const hits = h("div", { id: "kb-hits", role: "status" });
  main.append(
    h("h2", {}, kb.name || kb.id),
    h("p", { class: "muted" }, `${t("Tenant")}: ${kb.tenant_id || "-"} · ${t("Documents")}: ${kb.documents} · chunks: ${kb.chunks} · ${kb.embedder || ""}`),
    h("table", { id: "kb-documents" }, h("thead", {}, h("tr", {}, [t("Documents"), "chunks", t("Created")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, (docs.data || []).map((d) => h("tr", {}, h("td", {}, d.source || d.id), h("td", {}, String(d.chunks ?? "")), h("td", {}, String(d.created_at ?? "")))))),
    h("form", { class: "row card", onsubmit: async (e) => {
      e.preventDefault();
      const res = await api(`/v1/knowledge-bases/${enc(id)}/search`, { method: "POST", body: { query: query.value, mode: mode.value } });
      clear(hits);
      if (!res.data.length) hits.append(h("p", { class: "muted" }, t("Nothing here yet.")));
      for (const r of res.data) hits.append(h("div", { class: "card" }, h("div", { class: "muted" }, `${r.source || r.document_id || ""} · ${json(r.scores)}`), h("pre", {}, r.text)));
    } }, h("label", { class: "field" }, t("Query"), query), h("label", { class: "field" }, "mode", mode), h("button", { type: "submit", class: "primary" }, t("Search"))),
    hits);
}
