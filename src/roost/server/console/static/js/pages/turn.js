// One conversation turn on screen, built from stream events or stored messages: text as
// it streams, tool calls and results in collapsible blocks, approve/reject buttons.
import { api } from "../api.js";
import { h, json } from "../dom.js";
import { t } from "../i18n.js";

export function userBubble(text) {
  return h("div", { class: "msg user" }, h("div", { class: "role" }, t("User")), h("div", { class: "text" }, text));
}

function resultText(result) {
  const parts = (result.content || []).map((b) => (b.type === "text" ? b.text : json(b)));
  return parts.join("\n");
}

export class Turn {
  constructor(label, runId, calls) {
    this.runId = runId;
    this.calls = calls || new Map(); // call id → {details, body}
    this.text = null;
    this.el = h("div", { class: "msg assistant", "data-run": runId || "" }, h("div", { class: "role" }, label));
  }

  textNode() {
    if (!this.text) {
      this.text = document.createTextNode("");
      this.el.append(h("div", { class: "text" }, this.text));
    }
    return this.text;
  }

  call(id, name) {
    let c = this.calls.get(id);
    if (!c) {
      const body = h("div");
      const summary = h("summary", {}, `${t("Tool call")}: ${name || ""}`);
      const details = h("details", { class: "tool", "data-call": id }, summary, body);
      c = { details, body, summary };
      this.calls.set(id, c);
      this.el.append(details);
      this.text = null;
    }
    return c;
  }

  line(text, cls = "muted") {
    this.el.append(h("div", { class: cls }, text));
  }

  block(block) {
    if (block.type === "text") this.textNode().appendData(block.text);
    else if (block.type === "tool_use") this.call(block.id, block.name).body.append(h("div", { class: "muted" }, t("Arguments")), h("pre", {}, json(block.input)));
    else if (block.type === "tool_result") this.result(block.tool_use_id, block);
    else if (block.type === "thinking") this.el.append(h("details", { class: "tool" }, h("summary", {}, "…"), h("pre", {}, block.thinking)));
  }

  result(callId, result) {
    const c = this.call(callId, result.name);
    c.body.append(h("div", { class: result.is_error ? "bad" : "muted" }, t("Result")), h("pre", { class: "result" }, resultText(result)));
    this.text = null;
  }

  apply(type, data) {
    switch (type) {
      case "reply.started": this.text = null; break;
      case "text.delta": this.textNode().appendData(data.delta); break;
      case "tool_call.started": this.call(data.call_id, data.name); break;
      case "tool_call.finished": this.call(data.call_id, data.name).body.append(h("div", { class: "muted" }, t("Arguments")), h("pre", {}, json(data.input))); break;
      case "tool.progress": this.call(data.call_id, data.name).body.append(h("pre", {}, data.delta)); break;
      case "tool.result": this.result(data.call_id, data.result); break;
      case "approval.required": this.ask(data); break;
      case "approval.resolved": this.resolved(data); break;
      case "error": this.line(`${data.code}: ${data.message}`, "error"); break;
      case "interrupted": this.line(t("Canceled")); break;
      case "run.completed": break;
      case "run.failed": this.line(`${t("Error")}: ${(data.error && data.error.message) || data.message || "failed"}`, "error"); break;
      case "run.canceled": this.line(t("Canceled")); break;
      default: break;
    }
  }

  ask(data) {
    const c = this.call(data.call_id, data.name);
    c.details.open = true;
    const decide = (approve) => async () => {
      for (const b of c.buttons.querySelectorAll("button")) b.disabled = true;
      await api(`/v1/runs/${encodeURIComponent(this.runId)}/approvals/${encodeURIComponent(data.call_id)}`, { method: "POST", body: { approve } });
    };
    c.buttons = h("div", { class: "row approval", role: "group", "aria-label": `${t("Waiting for approval")}: ${data.name}` },
      h("span", { class: "status waiting_approval" }, t("Waiting for approval")),
      h("button", { type: "button", class: "primary", onclick: decide(true) }, t("Approve")),
      h("button", { type: "button", class: "danger", onclick: decide(false) }, t("Reject")));
    c.body.append(h("pre", {}, json(data.input)), c.buttons);
  }

  resolved(data) {
    const c = this.call(data.call_id);
    if (c.buttons) c.buttons.replaceWith(h("div", { class: data.approved ? "ok" : "bad" }, t(data.approved ? "approved" : "rejected")));
  }
}

// Stored messages of a session as turns (tool results are matched to their calls).
export function renderMessages(container, messages) {
  let turn = null;
  const calls = new Map();
  for (const m of messages) {
    if (m.role === "user") {
      container.append(userBubble(m.content.filter((b) => b.type === "text").map((b) => b.text).join("\n")));
      turn = null;
      continue;
    }
    if (!turn || turn.runId !== m.run_id) {
      turn = new Turn(m.name || m.role, m.run_id, calls);
      container.append(turn.el);
    }
    for (const block of m.content || []) turn.block(block);
  }
}
