// Tenants (Govern): list, create, disable / enable, and one tenant's quotas with their
// current usage. /console/tenants/<id> opens that tenant's quotas (a reload keeps it).
import { api, ApiError } from "../api.js";
import { h, clear, when } from "../dom.js";
import { t } from "../i18n.js";

// every quota the API knows (QuotaLimits); the costs are decimals, the rest counts
const QUOTAS = [
  ["runs_per_minute", "Runs per minute"], ["tokens_per_day", "Tokens per day"],
  ["tokens_per_month", "Tokens per month"], ["cost_per_day", "Cost per day"],
  ["cost_per_month", "Cost per month"], ["open_sessions", "Open sessions"], ["sandboxes", "Sandboxes"],
];

export function problem(box, err) {
  const text = err instanceof ApiError ? `${err.code || err.status}: ${err.message}${err.hint ? ` — ${err.hint}` : ""}` : String(err);
  clear(box).append(h("div", { class: "error" }, text));
}

export async function render(main, ctx) {
  const selected = ctx.parts[0] || null;
  const alert = h("div", { role: "alert" });
  const body = h("tbody");
  const quotas = h("section", { id: "quotas", "aria-live": "polite" });
  const id = h("input", { id: "tenant-id", required: true, spellcheck: "false" });
  const name = h("input", { id: "tenant-name" });
  const open = (tid) => ctx.navigate(`/console/tenants/${encodeURIComponent(tid)}`);

  async function act(fn) {
    clear(alert);
    try { await fn(); } catch (err) { if (err.name !== "AbortError") problem(alert, err); }
  }

  async function load() {
    const data = await api("/v1/tenants", { signal: ctx.signal });
    clear(body);
    for (const tn of data.data) {
      const state = tn.disabled ? "disabled" : "enabled";
      const label = tn.disabled ? t("Enable") : t("Disable");
      const toggle = h("button", { type: "button", class: tn.disabled ? "" : "danger", "aria-label": `${label} ${tn.id}`, onclick: () => act(async () => {
        const ask = tn.disabled ? t("Enable tenant {id}?") : t("Disable tenant {id}? Its keys stop working at once; its data stays.");
        if (!window.confirm(ask.replace("{id}", tn.id))) return;
        await api(`/v1/tenants/${encodeURIComponent(tn.id)}/${tn.disabled ? "enable" : "disable"}`, { method: "POST" });
        await load();
      }) }, label);
      const show = h("button", { type: "button", "aria-label": `${t("Quotas")} ${tn.id}`, onclick: () => open(tn.id) }, t("Quotas"));
      body.append(h("tr", { "data-tenant": tn.id, "aria-selected": tn.id === selected ? "true" : null },
        h("td", {}, h("code", {}, tn.id)), h("td", {}, tn.name), h("td", {}, h("span", { class: `status ${state}` }, t(state))),
        h("td", {}, when(tn.created_at)), h("td", { class: "row" }, show, toggle)));
    }
    if (!data.data.length) body.append(h("tr", {}, h("td", { colspan: 5, class: "muted" }, t("Nothing here yet."))));
  }

  async function showQuotas(tid) {
    const data = await api(`/v1/tenants/${encodeURIComponent(tid)}/quotas`, { signal: ctx.signal });
    const now = Object.fromEntries(data.quotas.map((q) => [q.quota, q]));
    const inputs = {};
    const saved = h("div", { role: "status" });
    const rows = QUOTAS.map(([key, label]) => {
      const q = now[key];
      inputs[key] = h("input", { id: `quota-${key}`, type: "number", min: 0, step: key.startsWith("cost") ? "any" : 1,
        value: q ? q.limit : "", placeholder: t("unlimited") });
      // usage against the limit; nothing to measure while the quota is unlimited
      const usage = q ? h("span", { class: "row" }, h("meter", { min: 0, max: q.limit || 1, value: Math.min(q.used, q.limit), high: q.limit * 0.8, "aria-label": `${t(label)} ${t("used")}` }),
        h("span", { class: "used" }, `${q.used} / ${q.limit}`), q.resets_at ? h("span", { class: "muted" }, `${t("resets")} ${when(Date.parse(q.resets_at) / 1000)}`) : null) : h("span", { class: "muted" }, t("unlimited"));
      return h("tr", { "data-quota": key }, h("th", { scope: "row" }, h("label", { for: `quota-${key}` }, t(label))), h("td", {}, inputs[key]), h("td", {}, usage));
    });
    const form = h("form", { class: "card", onsubmit: (e) => { e.preventDefault(); act(async () => {
      // PUT sets every limit: one left empty is removed (unlimited)
      const limits = {};
      for (const [key] of QUOTAS) if (inputs[key].value !== "") limits[key] = Number(inputs[key].value);
      await api(`/v1/tenants/${encodeURIComponent(tid)}/quotas`, { method: "PUT", body: limits });
      await showQuotas(tid);
      quotas.querySelector("[role=status]").textContent = t("Saved");
    }); } },
      h("table", {}, h("thead", {}, h("tr", {}, [t("Quota"), t("Limit"), t("Usage")].map((c) => h("th", { scope: "col" }, c)))), h("tbody", {}, rows)),
      h("p", { class: "muted" }, t("An empty limit is unlimited.")),
      h("div", { class: "row" }, h("button", { class: "primary", type: "submit" }, t("Save quotas")), saved));
    clear(quotas).append(h("h2", {}, `${t("Quotas")} · ${tid}`), form);
  }

  const form = h("form", { class: "row card", onsubmit: (e) => { e.preventDefault(); act(async () => {
    const made = await api("/v1/tenants", { method: "POST", body: { id: id.value.trim(), name: name.value.trim() || null } });
    id.value = ""; name.value = "";
    open(made.id);
  }); } },
    h("label", { class: "field" }, t("Tenant ID"), id), h("label", { class: "field" }, t("Name"), name),
    h("button", { class: "primary", type: "submit" }, t("Create tenant")));
  clear(main).append(h("h1", {}, t("Tenants")), form, alert,
    h("table", { id: "tenants" }, h("thead", {}, h("tr", {}, [t("ID"), t("Name"), t("Status"), t("Created"), ""].map((c) => h("th", { scope: "col" }, c)))), body),
    quotas);
  await load();
  if (selected) await act(() => showQuotas(selected));
}
