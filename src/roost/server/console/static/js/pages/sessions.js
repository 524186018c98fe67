// Sessions: a cursor-paged list (never all of them at once) filtered on the page by
// agent, user, id and time; a session's transcript and the runs in it.
import { api } from "../api.js";
import { h, clear, when, json } from "../dom.js";
import { t } from "../i18n.js";
import { renderMessages } from "./turn.js";

const enc = encodeURIComponent;

export async function render(main, ctx) {
  if (ctx.parts[0]) return detail(main, ctx, ctx.parts[0]);
  const cursors = [null];
  let page = 0;
  let items = [];
  const q = h("input", { id: "q", type: "search", "aria-label": t("Search") });
  const agent = h("select", { id: "f-agent", "aria-label": t("Agent") }, h("option", { value: "" }, t("All")), ctx.me.agents.map((a) => h("option", { value: a }, a)));
  const user = h("input", { id: "f-user", "aria-label": t("User"), placeholder: t("User") });
  const since = h("input", { id: "f-since", type: "datetime-local", "aria-label": t("Since") });
  const body = h("tbody");
  const next = h("button", { type: "button", id: "next" }, t("Next page"));
  const first = h("button", { type: "button" }, t("First page"));

  function draw() {
    const text = q.value.trim().toLowerCase();
    const from = since.value ? new Date(since.value).getTime() / 1000 : null;
    clear(body);
    for (const s of items) {
      if (agent.value && s.agent !== agent.value) continue;
      if (user.value && !(s.user_id || "").includes(user.value)) continue;
      if (from && (s.created_at || 0) < from) continue;
      if (text && !`${s.id} ${json(s.metadata)}`.toLowerCase().includes(text)) continue;
      body.append(h("tr", {},
        h("td", {}, h("a", { href: `/console/sessions/${enc(s.id)}` }, h("code", {}, s.id))),
        h("td", {}, s.agent), h("td", {}, s.user_id || ""), h("td", {}, s.tenant_id || ""),
        h("td", {}, when(s.created_at)), h("td", {}, when(s.updated_at))));
    }
  }
  async function load() {
    const cursor = cursors[page];
    const data = await api(`/v1/sessions?limit=50${cursor ? `&cursor=${enc(cursor)}` : ""}`, { signal: ctx.signal });
    items = data.data;
    cursors[page + 1] = data.next_cursor;
    next.disabled = !data.next_cursor;
    first.disabled = page === 0;
    draw();
  }
  next.addEventListener("click", () => { page += 1; load(); });
  first.addEventListener("click", () => { page = 0; load(); });
  for (const el of [q, agent, user, since]) el.addEventListener("input", draw);
  clear(main).append(
    h("h1", {}, t("Sessions")),
    h("div", { class: "row card", role: "search" },
      h("label", { class: "field" }, t("Search"), q), h("label", { class: "field" }, t("Agent"), agent),
      h("label", { class: "field" }, t("User"), user), h("label", { class: "field" }, t("Since"), since),
      h("span", { class: "muted" }, t("Filter this page"))),
    h("table", { id: "sessions" }, h("thead", {}, h("tr", {}, [t("Session"), t("Agent"), t("User"), t("Tenant"), t("Created"), t("Updated")].map((c) => h("th", { scope: "col" }, c)))), body),
    h("div", { class: "row pager" }, first, next));
  await load();
}

async function detail(main, ctx, sid) {
  const session = await api(`/v1/sessions/${enc(sid)}`, { signal: ctx.signal });
  const page = await api(`/v1/sessions/${enc(sid)}/messages?limit=500`, { signal: ctx.signal });
  const runs = (await api(`/v1/runs?limit=100&session_id=${enc(sid)}`, { signal: ctx.signal })).data;
  const transcript = h("div", { class: "transcript", role: "log", "aria-label": t("Transcript") });
  renderMessages(transcript, page.data);
  clear(main).append(
    h("h1", {}, `${t("Session")} `, h("code", {}, session.id)),
    h("div", { class: "card" },
      h("div", {}, `${t("Agent")}: ${session.agent} · ${t("User")}: ${session.user_id || "-"} · ${t("Tenant")}: ${session.tenant_id || "-"} · ${t("Created")}: ${when(session.created_at)}`),
      Object.keys(session.metadata || {}).length ? h("pre", {}, json(session.metadata)) : null,
      h("a", { href: `/console/chat/${enc(session.id)}` }, t("Chat"))),
    h("h2", {}, t("Runs")),
    h("table", { id: "runs" }, h("thead", {}, h("tr", {}, [t("Run"), t("Status"), t("Model"), t("Tokens"), t("Created")].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, runs.map((r) => h("tr", {},
        h("td", {}, h("a", { href: `/console/runs/${enc(r.id)}` }, h("code", {}, r.id))),
        h("td", {}, h("span", { class: `status ${r.status}` }, r.status)), h("td", {}, r.model || ""),
        h("td", {}, r.usage ? String((r.usage.input_tokens || 0) + (r.usage.output_tokens || 0)) : ""),
        h("td", {}, when(r.created_at)))))),
    h("h2", {}, t("Transcript")), transcript);
}
