// The console's shell: sign-in, navigation (only pages whose API this key may call),
// language switch and a small router over /console/<page>/<rest>.
import { api, ApiError } from "./api.js";
import { h, clear } from "./dom.js";
import { t, lang, setLang } from "./i18n.js";

const NAV = [
  ["Build", [["chat", "Chat"], ["knowledge", "Knowledge"], ["evals", "Evaluation"]]],
  ["Observe", [["sessions", "Sessions"], ["runs", "Runs"], ["usage", "Usage"], ["metrics", "Metrics"], ["alerts", "Alerts"]]],
  ["Govern", [["keys", "API keys"], ["audit", "Audit"], ["tenants", "Tenants"], ["roles", "Roles"], ["secrets", "Secrets"]]],
  ["Reference", [["api", "API reference"]]],
];
const MODULES = {
  chat: "./pages/chat.js", sessions: "./pages/sessions.js", runs: "./pages/runs.js",
  usage: "./pages/usage.js", metrics: "./pages/metrics.js", alerts: "./pages/alerts.js",
  knowledge: "./pages/knowledge.js", keys: "./pages/keys.js", api: "./pages/apiref.js",
  audit: "./pages/audit.js", secrets: "./pages/secrets.js",
  tenants: "./pages/tenants.js", evals: "./pages/evals.js",
};
const ALWAYS = new Set(["api"]);
const PAGE_API = { audit: "/v1/audit", tenants: "/v1/tenants", roles: "/v1/roles", secrets: "/v1/secrets", evals: "/v1/evals" };

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let me = null;
let current = null; // AbortController of the page on screen

function allowed(page) {
  return ALWAYS.has(page) || (me && me.pages.includes(page));
}

function navigate(path, replace = false) {
  if (replace) history.replaceState(null, "", path);
  else history.pushState(null, "", path);
  route();
}

function translateStatic() {
  document.querySelector(".skip").textContent = t("Skip to content");
  document.getElementById("lang-label").textContent = t("Language");
  document.getElementById("signout").textContent = t("Sign out");
}

function renderNav(page) {
  clear(nav);
  if (!me) return;
  for (const [group, items] of NAV) {
    const shown = items.filter(([p]) => allowed(p));
    if (!shown.length) continue;
    nav.append(h("div", { class: "group", id: `nav-${group}` }, t(group)));
    for (const [p, label] of shown) {
      nav.append(h("a", { href: `/console/${p}`, "aria-current": p === page ? "page" : null, "data-page": p }, t(label)));
    }
  }
}

function signIn(error) {
  me = null;
  renderNav(null);
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  const input = h("input", { id: "key", type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const problem = h("div", { role: "alert" }, error ? h("div", { class: "error" }, error) : null);
  const form = h("form", { class: "card signin", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api("/v1/console/session", { method: "POST", headers: { authorization: `Bearer ${input.value.trim()}` } });
      input.value = "";
      await start();
    } catch (err) {
      clear(problem).append(h("div", { class: "error" }, err.message + (err.hint ? ` — ${err.hint}` : "")));
    }
  } },
    h("h1", {}, t("Sign in with an API key")),
    h("div", { class: "field" }, h("label", { for: "key" }, t("API key")), input),
    h("p", { class: "muted" }, t("The key is kept in an HttpOnly cookie of this browser for 12 hours.")),
    problem,
    h("button", { class: "primary", type: "submit" }, t("Sign in")));
  clear(main).append(form);
  input.focus();
}

async function route() {
  if (current) current.abort();
  current = new AbortController();
  if (!me) return signIn();
  const parts = location.pathname.replace(/^\/console\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  let page = parts[0] || (allowed("chat") ? "chat" : (me.pages[0] || "api"));
  if (!parts.length) history.replaceState(null, "", `/console/${page}`);
  renderNav(page);
  clear(main);
  if (!allowed(page)) {
    main.append(h("h1", {}, t("Not found")));
    return;
  }
  const ctx = { me, navigate, signal: current.signal, parts: parts.slice(1), api: PAGE_API[page] };
  try {
    const mod = await import(MODULES[page] || "./pages/resource.js");
    if (ctx.signal.aborted) return;
    await mod.render(main, ctx);
  } catch (err) {
    if (err.name === "AbortError") return;
    main.append(h("div", { class: "error", role: "alert" }, err instanceof ApiError ? `${err.code || err.status}: ${err.message}` : String(err)));
  }
}

async function start() {
  // the page's module loads while the key is checked (one round trip less on first load)
  const first = location.pathname.replace(/^\/console\/?/, "").split("/")[0] || "chat";
  if (MODULES[first]) import(MODULES[first]).catch(() => null);
  try {
    me = await api("/v1/console/session");
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signIn();
    clear(main).append(h("div", { class: "error", role: "alert" }, String(err.message)));
    return;
  }
  const who = me.role === "admin" ? `admin · ${me.app}` : `${me.user_id}${me.tenant_id ? " @ " + me.tenant_id : ""} · ${me.app}`;
  document.getElementById("who").textContent = who;
  document.getElementById("signout").hidden = false;
  route();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  const href = a.getAttribute("href");
  if (href && href.startsWith("/console/") && !href.startsWith("/console/assets/")) {
    e.preventDefault();
    navigate(href);
  }
});
window.addEventListener("popstate", route);
window.addEventListener("roost:signedout", () => { if (me) signIn(t("Sign in")); });
document.getElementById("signout").addEventListener("click", async () => {
  try { await api("/v1/console/session", { method: "DELETE" }); } catch { /* already out */ }
  signIn();
});
const select = document.getElementById("lang");
select.value = lang;
setLang(lang);
select.addEventListener("change", () => { setLang(select.value); translateStatic(); if (me) route(); else signIn(); });
translateStatic();
start();
