// Chat with any agent: streamed text, tool calls, approvals, stop, history, and resume
// after a reload (the run's events so far are kept in sessionStorage; the stream goes
// on from Last-Event-ID).
import { api, stream } from "../api.js";
import { h, clear, when } from "../dom.js";
import { t } from "../i18n.js";
import { Turn, renderMessages, userBubble } from "./turn.js";

const ACTIVE = new Set(["queued", "running", "waiting_approval"]);
const TERMINAL = new Set(["run.completed", "run.failed", "run.canceled"]);
const enc = encodeURIComponent;

async function allMessages(sid, signal) {
  const out = [];
  let after = null;
  for (let i = 0; i < 20; i++) {
    const page = await api(`/v1/sessions/${enc(sid)}/messages?limit=500${after ? `&after=${after}` : ""}`, { signal });
    out.push(...page.data);
    if (!page.has_more) break;
    after = page.next_after;
  }
  return out;
}

export async function render(main, ctx) {
  let sid = ctx.parts[0] || null;
  const session = sid ? await api(`/v1/sessions/${enc(sid)}`, { signal: ctx.signal }) : null;
  const agentSel = h("select", { id: "agent" }, ctx.me.agents.map((a) => h("option", { value: a }, a)));
  if (session) { agentSel.value = session.agent; agentSel.disabled = true; }
  const historyList = h("ul", { "aria-label": t("History") });
  const transcript = h("div", { class: "transcript", id: "transcript", role: "log", "aria-live": "polite", "aria-label": t("Transcript"), tabindex: "0" });
  const input = h("textarea", { id: "input", placeholder: t("Type a message"), "aria-label": t("Message") });
  const send = h("button", { class: "primary", type: "submit", id: "send" }, t("Send"));
  const stop = h("button", { type: "button", class: "danger", id: "stop", disabled: true }, t("Stop"));
  const notice = h("div", { class: "muted", role: "status", id: "notice" });
  let state = null; // {id, seq, events, input}
  let saveTimer = null;

  const key = () => `roost.run.${sid}`;
  const save = (now = false) => {
    if (!state || !sid) return;
    clearTimeout(saveTimer);
    const write = () => { try { sessionStorage.setItem(key(), JSON.stringify(state)); } catch { /* full */ } };
    if (now) write(); else saveTimer = setTimeout(write, 150);
  };
  window.addEventListener("pagehide", () => save(true), { signal: ctx.signal });

  async function follow(turn, first) {
    let tries = 0;
    let terminal = false;
    const onEvent = (type, data, id) => {
      if (id) state.seq = id;
      state.events.push([type, data]);
      save();
      turn.apply(type, data);
      transcript.scrollTop = transcript.scrollHeight;
      if (TERMINAL.has(type)) terminal = true;
    };
    send.disabled = true; stop.disabled = false;
    try {
      if (first) await first(onEvent);
      while (!terminal && !ctx.signal.aborted && tries++ < 30) {
        notice.textContent = t("Reconnecting…");
        await new Promise((r) => setTimeout(r, 500));
        await stream(`/v1/runs/${enc(state.id)}/events`, { lastEventId: state.seq, signal: ctx.signal, onEvent });
      }
    } finally {
      if (!ctx.signal.aborted) {
        if (terminal) { notice.textContent = ""; sessionStorage.removeItem(key()); state = null; }
        send.disabled = false; stop.disabled = true;
      }
    }
  }

  async function submit(e) {
    e.preventDefault();
    const text = input.value.trim();
    if (!text || send.disabled) return;
    input.value = "";
    if (!sid) {
      const made = await api("/v1/sessions", { method: "POST", body: { agent: agentSel.value }, signal: ctx.signal });
      sid = made.id;
      agentSel.disabled = true;
      history.replaceState(null, "", `/console/chat/${enc(sid)}`);
    }
    transcript.append(userBubble(text));
    const turn = new Turn(agentSel.value, null);
    transcript.append(turn.el);
    state = { id: null, seq: 0, events: [], input: text };
    await follow(turn, (onEvent) => stream(`/v1/sessions/${enc(sid)}/runs`, {
      method: "POST", body: { input: text, stream: true }, signal: ctx.signal,
      onOpen: (headers) => {
        state.id = headers.get("x-run-id");
        turn.runId = state.id;
        turn.el.dataset.run = state.id;
        save(true);
      },
      onEvent,
    }));
    loadHistory();
  }

  stop.addEventListener("click", async () => {
    if (state && state.id) await api(`/v1/runs/${enc(state.id)}/cancel`, { method: "POST" }).catch(() => {});
  });
  input.addEventListener("keydown", (e) => { if (e.key === "Enter" && !e.shiftKey) { e.preventDefault(); form.requestSubmit(); } });
  agentSel.addEventListener("change", loadHistory);

  async function loadHistory() {
    const page = await api("/v1/sessions?limit=100", { signal: ctx.signal });
    clear(historyList);
    for (const s of page.data.filter((x) => x.agent === agentSel.value)) {
      historyList.append(h("li", {}, h("a", { href: `/console/chat/${enc(s.id)}`, "aria-current": s.id === sid ? "true" : null }, `${when(s.updated_at || s.created_at)} · ${s.id.slice(-8)}`)));
    }
  }

  const form = h("form", { class: "composer", onsubmit: submit }, input, send, stop);
  clear(main).append(h("div", { class: "chat" },
    h("aside", {},
      h("h1", {}, t("Chat")),
      h("div", { class: "field" }, h("label", { for: "agent" }, t("Agent")), agentSel),
      h("a", { href: "/console/chat", class: "btn", id: "new-chat" }, t("New chat")),
      h("h2", {}, t("History")), historyList),
    h("section", { class: "convo", "aria-label": t("Chat") }, transcript, notice, form)));
  loadHistory();

  if (!sid) { input.focus(); return; }
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(key()) || "null"); } catch { saved = null; }
  let active = null;
  if (saved && saved.id) {
    const run = await api(`/v1/runs/${enc(saved.id)}`, { signal: ctx.signal }).catch(() => null);
    if (run && ACTIVE.has(run.status)) active = saved;
    else sessionStorage.removeItem(key());
  }
  const messages = await allMessages(sid, ctx.signal);
  renderMessages(transcript, active ? messages.filter((m) => m.run_id !== active.id) : messages);
  if (active) {
    transcript.append(userBubble(active.input));
    const turn = new Turn(agentSel.value, active.id);
    transcript.append(turn.el);
    for (const [type, data] of active.events) turn.apply(type, data);
    state = active;
    notice.textContent = t("Resumed after reload");
    transcript.dataset.resumedFrom = String(active.seq);
    follow(turn, null);
  }
  transcript.scrollTop = transcript.scrollHeight;
}
