// The audit trail (admin): filters, a page of records newest first with the cursor,
// verification of the hash chain, CSV/JSONL export of the current filter, legal holds.
import { api, blob } from "../api.js";
import { h, clear, when } from "../dom.js";
import { t } from "../i18n.js";

const TEXT = [["user_id", "User"], ["tenant_id", "Tenant"], ["key_id", "API key"], ["action", "Action"],
  ["resource_type", "Target type"], ["resource_id", "Target"], ["run_id", "Run"], ["session_id", "Session"]];
const OUTCOMES = ["ok", "denied", "failed", "error"];

function problem(el, err) {
  clear(el).append(h("div", { class: "error" }, `${err.code || err.status || ""}: ${err.message}${err.hint ? ` — ${err.hint}` : ""}`));
}

export async function render(main, ctx) {
  const inputs = Object.fromEntries(TEXT.map(([k]) => [k, h("input", { id: `a-${k}`, name: k, maxlength: 256 })]));
  inputs.action.placeholder = "run.*";
  const outcome = h("select", { id: "a-outcome" }, h("option", { value: "" }, t("All")), OUTCOMES.map((o) => h("option", { value: o }, o)));
  const since = h("input", { id: "a-since", type: "datetime-local" });
  const until = h("input", { id: "a-until", type: "datetime-local" });
  const body = h("tbody");
  const alert = h("div", { role: "alert" });
  const verdict = h("div", { id: "audit-verify", role: "status" });
  const next = h("button", { type: "button", id: "a-next", hidden: true }, t("Next page"));
  const first = h("button", { type: "button", id: "a-first", hidden: true }, t("First page"));
  let cursor = null;

  function filters() {
    const q = new URLSearchParams();
    for (const [k, el] of Object.entries(inputs)) if (el.value.trim()) q.set(k, el.value.trim());
    if (outcome.value) q.set("outcome", outcome.value);
    // datetime-local is the browser's local time; the API takes RFC 3339
    if (since.value) q.set("since", new Date(since.value).toISOString());
    if (until.value) q.set("until", new Date(until.value).toISOString());
    return q;
  }

  async function load(before = null) {
    const q = filters();
    q.set("limit", "50");
    if (before) q.set("before", String(before));
    try {
      const data = await api(`/v1/audit?${q}`, { signal: ctx.signal });
      clear(alert);
      clear(body);
      for (const r of data.data) {
        const target = [r.resource_type, r.resource_id].filter(Boolean).join(": ");
        body.append(h("tr", { "data-seq": r.seq },
          h("td", {}, when(r.at_us / 1e6)), h("td", {}, r.user_id || r.key_id || ""), h("td", {}, r.tenant_id || ""),
          h("td", {}, h("code", {}, r.action)), h("td", {}, target),
          h("td", {}, h("span", { class: `status ${r.outcome === "ok" ? "succeeded" : "failed"}` }, r.outcome)),
          h("td", {}, h("code", { title: r.hash }, (r.hash || "").slice(0, 12)))));
      }
      if (!data.data.length) body.append(h("tr", {}, h("td", { colspan: 7, class: "muted" }, t("Nothing here yet."))));
      cursor = data.next_before;
      next.hidden = !cursor;
      first.hidden = !before;
    } catch (err) {
      if (err.name !== "AbortError") problem(alert, err);
    }
  }

  async function verify() {
    clear(verdict).append(t("Loading…"));
    try {
      const r = await api("/v1/audit/verify", { signal: ctx.signal });
      const p = r.problem;
      clear(verdict).append(r.ok
        ? h("div", { class: "ok" }, `${t("Chain intact")}: ${r.records} ${t("records")}${r.signatures_checked ? ` · ${t("signatures checked")}` : ""}`)
        : h("div", { class: "error" }, `${t("Chain broken")}: ${t("first bad record")} #${p && p.seq} (${p && p.kind}) — ${p && p.message}`));
    } catch (err) {
      problem(verdict, err);
    }
  }

  async function exportAs(format) {
    const q = filters();
    q.set("format", format);
    try {
      const url = URL.createObjectURL(await blob(`/v1/audit?${q}`));
      const a = h("a", { href: url, download: `audit.${format}`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10_000);
    } catch (err) {
      problem(alert, err);
    }
  }

  const form = h("form", { class: "row card", id: "audit-filter", onsubmit: (e) => { e.preventDefault(); load(); } },
    TEXT.map(([k, label]) => h("label", { class: "field" }, t(label), inputs[k])),
    h("label", { class: "field" }, t("Outcome"), outcome), h("label", { class: "field" }, t("Since"), since),
    h("label", { class: "field" }, t("Until"), until), h("button", { class: "primary", type: "submit" }, t("Search")));
  next.addEventListener("click", () => load(cursor));
  first.addEventListener("click", () => load());
  const tools = h("div", { class: "row" },
    h("button", { type: "button", id: "a-verify", onclick: verify }, t("Verify chain")),
    h("button", { type: "button", id: "a-csv", onclick: () => exportAs("csv") }, t("Export CSV")),
    h("button", { type: "button", id: "a-jsonl", onclick: () => exportAs("jsonl") }, t("Export JSONL")));
  const cols = [t("Time"), t("Actor"), t("Tenant"), t("Action"), t("Target"), t("Outcome"), t("Hash")];
  const holds = h("tbody");
  clear(main).append(h("h1", {}, t("Audit")), form, tools, verdict, alert,
    h("table", { id: "audit" }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))), body),
    h("div", { class: "row pager" }, first, next),
    h("h2", {}, t("Legal holds")),
    h("table", { id: "holds" }, h("thead", {}, h("tr", {}, [t("Tenant"), t("User"), t("Reason"), t("Created")].map((c) => h("th", { scope: "col" }, c)))), holds));
  await load();
  try {
    const data = await api("/v1/audit/holds", { signal: ctx.signal });
    for (const x of data.data.filter((x) => !x.released_at_us)) {
      holds.append(h("tr", {}, h("td", {}, x.tenant_id || ""), h("td", {}, x.user_id || ""), h("td", {}, x.reason),
        h("td", {}, when(x.created_at_us / 1e6))));
    }
    if (!holds.children.length) holds.append(h("tr", {}, h("td", { colspan: 4, class: "muted" }, t("Nothing here yet."))));
  } catch (err) {
    if (err.name !== "AbortError") problem(alert, err);
  }
}
