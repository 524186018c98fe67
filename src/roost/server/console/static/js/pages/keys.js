// API keys (admin): list, create (the plaintext is shown once), revoke.
import { api } from "../api.js";
import { h, clear } from "../dom.js";
import { t } from "../i18n.js";

export async function render(main, ctx) {
  const body = h("tbody");
  const name = h("input", { id: "key-name", required: true });
  const role = h("select", { id: "key-role" }, h("option", { value: "user" }, "user"), h("option", { value: "admin" }, "admin"));
  const user = h("input", { id: "key-user" });
  const tenant = h("input", { id: "key-tenant" });
  const made = h("div", { role: "status" });
  async function load() {
    const data = await api("/v1/keys", { signal: ctx.signal });
    clear(body);
    for (const k of data.data) {
      const revoke = h("button", { type: "button", class: "danger", disabled: k.revoked, "aria-label": `${t("Revoke")} ${k.name}` }, t("Revoke"));
      revoke.addEventListener("click", async () => { await api(`/v1/keys/${encodeURIComponent(k.id)}`, { method: "DELETE" }); load(); });
      body.append(h("tr", {}, h("td", {}, k.name), h("td", {}, h("code", {}, k.prefix || "")), h("td", {}, k.role),
        h("td", {}, k.user_id || ""), h("td", {}, k.tenant_id || ""), h("td", {}, k.revoked ? t("Revoked") : ""), h("td", {}, revoke)));
    }
  }
  const form = h("form", { class: "row card", onsubmit: async (e) => {
    e.preventDefault();
    const key = await api("/v1/keys", { method: "POST", body: { name: name.value, role: role.value, user_id: user.value || null, tenant_id: tenant.value || null } });
    clear(made).append(h("div", { class: "card" }, t("Copy it now: it is shown once."), h("pre", { id: "new-key" }, key.key)));
    name.value = "";
    load();
  } },
    h("label", { class: "field" }, t("Name"), name), h("label", { class: "field" }, t("Role"), role),
    h("label", { class: "field" }, t("User"), user), h("label", { class: "field" }, t("Tenant"), tenant),
    h("button", { class: "primary", type: "submit" }, t("Create key")));
  clear(main).append(h("h1", {}, t("API keys")), form, made,
    h("table", { id: "keys" }, h("thead", {}, h("tr", {}, [t("Name"), t("Prefix"), t("Role"), t("User"), t("Tenant"), t("Status"), ""].map((c) => h("th", { scope: "col" }, c)))), body));
  await load();
}
