// Secrets (admin): names and versions, never values (the API returns none); set one
// (the value input is cleared after saving), delete with confirmation, copy its reference.
import { api } from "../api.js";
import { h, clear, when } from "../dom.js";
import { t } from "../i18n.js";

function problem(el, err) {
  clear(el).append(h("div", { class: "error" }, `${err.code || err.status || ""}: ${err.message}${err.hint ? ` — ${err.hint}` : ""}`));
}

export async function render(main, ctx) {
  const body = h("tbody");
  const alert = h("div", { role: "alert" });
  const done = h("div", { role: "status", id: "secret-status" });
  const name = h("input", { id: "secret-name", required: true, maxlength: 200, pattern: "[A-Za-z0-9_.:\\-]+", autocomplete: "off", spellcheck: "false" });
  const value = h("input", { id: "secret-value", type: "password", required: true, autocomplete: "new-password" });

  async function remove(s) {
    if (!window.confirm(`${t("Delete secret")} ${s.name}?`)) return;
    try {
      await api(`/v1/secrets/${encodeURIComponent(s.name)}`, { method: "DELETE" });
      clear(alert);
      clear(done).append(`${t("Deleted")}: ${s.name}`);
      await load();
    } catch (err) {
      problem(alert, err);
    }
  }

  async function copy(ref) {
    try { await navigator.clipboard.writeText(ref); clear(done).append(`${t("Copied")}: ${ref}`); } catch { /* the reference is on screen to select */ }
  }

  async function load() {
    const data = await api("/v1/secrets", { signal: ctx.signal });
    clear(body);
    for (const s of data.data) {
      const ref = `secret://${s.name}`;
      // names with "/" are Roost's own keys (e.g. the DLP hash key): shown, not deletable here
      const own = s.name.includes("/");
      body.append(h("tr", { "data-name": s.name },
        h("td", {}, s.name), h("td", {}, h("code", {}, ref), " ",
          h("button", { type: "button", "aria-label": `${t("Copy")} ${ref}`, onclick: () => copy(ref) }, t("Copy"))),
        h("td", {}, String(s.version)), h("td", {}, when(Date.parse(s.updated_at) / 1000)), h("td", {}, s.tenant_id || ""),
        h("td", {}, own ? h("span", { class: "muted" }, t("Managed by Roost"))
          : h("button", { type: "button", class: "danger", "aria-label": `${t("Delete")} ${s.name}`, onclick: () => remove(s) }, t("Delete")))));
    }
    if (!data.data.length) body.append(h("tr", {}, h("td", { colspan: 6, class: "muted" }, t("Nothing here yet."))));
  }

  const form = h("form", { class: "row card", id: "secret-form", onsubmit: async (e) => {
    e.preventDefault();
    try {
      const s = await api(`/v1/secrets/${encodeURIComponent(name.value.trim())}`, { method: "PUT", body: { value: value.value } });
      value.value = "";
      clear(alert);
      clear(done).append(`${t("Saved")}: ${s.name} (${t("version")} ${s.version})`);
      name.value = "";
      await load();
    } catch (err) {
      problem(alert, err); // the value stays (hidden) so the name can be fixed and saved again
    }
  } },
    h("label", { class: "field" }, t("Name"), name), h("label", { class: "field" }, t("Value"), value),
    h("button", { class: "primary", type: "submit" }, t("Save secret")));
  const cols = [t("Name"), t("Secret reference"), t("Version"), t("Updated"), t("Tenant"), ""];
  clear(main).append(h("h1", {}, t("Secrets")),
    h("p", { class: "muted" }, t("Values are stored encrypted and never shown; agents and tools refer to a secret as secret://NAME.")),
    form, done, alert,
    h("table", { id: "secrets" }, h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, c)))), body));
  try {
    await load();
  } catch (err) {
    if (err.name !== "AbortError") problem(alert, err);
  }
}
