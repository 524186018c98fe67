// The OpenAPI document, rendered offline: paths, methods, summaries and parameters.
import { api } from "../api.js";
import { h, clear, json } from "../dom.js";
import { t } from "../i18n.js";

export async function render(main, ctx) {
  const doc = await api("/openapi.json", { signal: ctx.signal });
  clear(main).append(h("h1", {}, t("API reference")), h("p", { class: "muted" }, `${doc.info.title} ${doc.info.version || ""} · `, h("a", { href: "/openapi.json" }, "openapi.json")));
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      if (typeof op !== "object" || !op.responses) continue;
      const params = (op.parameters || []).map((p) => `${p.in} ${p.name}${p.required ? " *" : ""}: ${p.description || ""}`).join("\n");
      main.append(h("details", { class: "tool" },
        h("summary", {}, h("code", {}, `${method.toUpperCase()} ${path}`), ` — ${op.summary || ""}`),
        params ? h("pre", {}, params) : null,
        op.requestBody ? h("pre", {}, json(op.requestBody)) : null,
        h("pre", {}, Object.keys(op.responses).join(" "))));
    }
  }
}
