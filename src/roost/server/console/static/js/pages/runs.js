// A run: its status and usage, its events (replayed from the stream) and its trace as a
// waterfall of spans with timings, tokens, cost and (where the key may see it) content.
import { api, stream } from "../api.js";
import { h, clear, when, json } from "../dom.js";
import { t } from "../i18n.js";

const enc = encodeURIComponent;

const STATUSES = ["queued", "running", "waiting_approval", "succeeded", "failed", "canceled"];

// The caller's runs, newest first, a cursor page at a time; status and session are
// filtered by the API, the agent on the page.
async function list(main, ctx) {
  const cursors = [null];
  let page = 0;
  let items = [];
  const status = h("select", { id: "f-status" }, h("option", { value: "" }, t("All")), STATUSES.map((s) => h("option", { value: s }, s)));
  const session = h("input", { id: "f-session", placeholder: "ses_…" });
  const agent = h("select", { id: "f-agent" }, h("option", { value: "" }, t("All")), ctx.me.agents.map((a) => h("option", { value: a }, a)));
  const body = h("tbody");
  const next = h("button", { type: "button", id: "next" }, t("Next page"));
  const first = h("button", { type: "button" }, t("First page"));
  function draw() {
    clear(body);
    for (const r of items.filter((x) => !agent.value || x.agent === agent.value)) {
      const u = r.usage || {};
      body.append(h("tr", {},
        h("td", {}, h("a", { href: `/console/runs/${enc(r.id)}` }, h("code", {}, r.id))),
        h("td", {}, h("span", { class: `status ${r.status}` }, r.status)), h("td", {}, r.agent || ""),
        h("td", {}, r.session_id ? h("a", { href: `/console/sessions/${enc(r.session_id)}` }, h("code", {}, r.session_id)) : ""),
        h("td", {}, String((u.input_tokens || 0) + (u.output_tokens || 0))),
        h("td", {}, when(r.created_at))));
    }
  }
  async function load() {
    const q = new URLSearchParams({ limit: "50" });
    if (cursors[page]) q.set("cursor", cursors[page]);
    if (status.value) q.set("status", status.value);
    if (session.value.trim()) q.set("session_id", session.value.trim());
    const data = await api(`/v1/runs?${q}`, { signal: ctx.signal });
    items = data.data;
    cursors[page + 1] = data.next_cursor;
    next.disabled = !data.next_cursor;
    first.disabled = page === 0;
    draw();
  }
  const reload = () => { page = 0; cursors.length = 1; load(); };
  status.addEventListener("change", reload);
  session.addEventListener("change", reload);
  agent.addEventListener("change", draw);
  next.addEventListener("click", () => { page += 1; load(); });
  first.addEventListener("click", () => { page = 0; load(); });
  clear(main).append(h("h1", {}, t("Runs")),
    h("div", { class: "row card", role: "search" },
      h("label", { class: "field" }, t("Status"), status), h("label", { class: "field" }, t("Session"), session),
      h("label", { class: "field" }, t("Agent"), agent)),
    h("table", { id: "runs" }, h("thead", {}, h("tr", {}, [t("Run"), t("Status"), t("Agent"), t("Session"), t("Tokens"), t("Created")].map((c) => h("th", { scope: "col" }, c)))), body),
    h("div", { class: "row pager" }, first, next));
  await load();
}

export async function render(main, ctx) {
  const id = ctx.parts[0];
  if (!id) return list(main, ctx);
  const run = await api(`/v1/runs/${enc(id)}`, { signal: ctx.signal });
  const events = h("tbody");
  const trace = h("div", { class: "waterfall", id: "waterfall" });
  const usage = run.usage || {};
  clear(main).append(
    h("h1", {}, `${t("Run")} `, h("code", {}, run.id)),
    h("div", { class: "card" },
      h("div", { class: "row" }, h("span", { class: `status ${run.status}`, id: "run-status" }, run.status),
        [`${t("Agent")}: ${run.agent || ""}`, `${t("Model")}: ${run.model || "-"}`,
          `${t("Tokens")}: ${(usage.input_tokens || 0)} / ${(usage.output_tokens || 0)}`,
          usage.cost !== undefined && usage.cost !== null ? `${t("Cost")}: ${usage.cost} ${usage.currency || ""}` : null,
          `${t("Created")}: ${when(run.created_at)}`].filter(Boolean).map((x) => h("span", {}, x))),
      run.error ? h("div", { class: "error" }, `${run.error.code}: ${run.error.message}`) : null,
      run.session_id ? h("a", { href: `/console/sessions/${enc(run.session_id)}` }, `${t("Session")} ${run.session_id}`) : null),
    h("h2", {}, `${t("Trace")} · ${t("Waterfall")}`), trace,
    h("h2", {}, t("Events")),
    h("table", { id: "events" }, h("thead", {}, h("tr", {}, ["#", "type", t("Details")].map((c) => h("th", { scope: "col" }, c)))), events));
  const done = ["succeeded", "failed", "canceled"].includes(run.status);
  const loadTrace = api(`/v1/runs/${enc(id)}/trace`, { signal: ctx.signal })
    .then((tree) => drawTrace(trace, tree))
    .catch((err) => trace.append(h("p", { class: "muted" }, `${t("No spans")}: ${err.message}`)));
  if (done) {
    const rows = [];
    await stream(`/v1/runs/${enc(id)}/events`, { signal: ctx.signal, onEvent: (type, data, seq) => {
      if (type === "text.delta" && rows.length && rows[rows.length - 1].type === type) { rows[rows.length - 1].text += data.delta; return; }
      const { seq: _s, run_id: _r, session_id: _x, agent: _a, type: _t, ...rest } = data;
      rows.push({ seq, type, text: type === "text.delta" ? data.delta : JSON.stringify(rest) });
    } });
    for (const r of rows) events.append(h("tr", {}, h("td", {}, String(r.seq)), h("td", {}, h("code", {}, r.type)), h("td", {}, h("pre", {}, r.text))));
  }
  await loadTrace;
}

function flatten(spans, depth, out) {
  for (const s of spans) {
    out.push([s, depth]);
    flatten(s.children || [], depth + 1, out);
  }
  return out;
}

export function drawTrace(el, tree) {
  const rows = flatten(tree.spans || [], 0, []);
  const total = Math.max(1, ...rows.map(([s]) => s.offset_ms + s.duration_ms));
  const frag = document.createDocumentFragment();
  frag.append(h("div", { class: "muted" }, `${rows.length} ${t("Spans")} · ${total.toFixed(1)} ms`));
  for (const [s, depth] of rows) {
    const bar = h("span", { class: `bar ${s.operation || ""} ${s.status === "error" ? "error" : ""}` });
    bar.style.left = `${(100 * s.offset_ms) / total}%`;
    bar.style.width = `${(100 * s.duration_ms) / total}%`;
    const tokens = (s.input_tokens || 0) + (s.output_tokens || 0);
    const name = h("span", { class: "name" }, s.name);
    name.style.paddingLeft = `${depth * 14}px`;
    const info = h("div", { hidden: true, class: "card" },
      h("div", {}, `${t("Duration")}: ${s.duration_ms} ms · ${t("Tokens")}: ${s.total_input_tokens ?? s.input_tokens}/${s.total_output_tokens ?? s.output_tokens}${s.total_cost !== null && s.total_cost !== undefined ? ` · ${t("Cost")}: ${s.total_cost} ${s.total_currency || ""}` : ""}${s.model ? ` · ${t("Model")}: ${s.model}` : ""}`),
      s.status_message ? h("div", { class: "bad" }, s.status_message) : null,
      h("pre", {}, json(s.attributes || {})),
      (s.events || []).length ? h("pre", {}, json(s.events)) : null);
    const row = h("button", { type: "button", class: "span", "aria-expanded": "false", "data-span": s.span_id },
      name, h("span", { class: "track", "aria-hidden": "true" }, bar),
      h("span", { class: "muted" }, `${s.duration_ms.toFixed(1)} ms${tokens ? ` · ${tokens} tok` : ""}`));
    row.addEventListener("click", () => {
      info.hidden = !info.hidden;
      row.setAttribute("aria-expanded", String(!info.hidden));
    });
    frag.append(row, info);
  }
  clear(el).append(frag);
}
