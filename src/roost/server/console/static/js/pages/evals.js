// Evaluation (Build): datasets, experiments (start one, watch it run), an experiment's
// per-case results, a comparison of two experiments, and the gray releases (read-only).
// /console/evals/<experiment id> opens one experiment.
import { api } from "../api.js";
import { h, clear, when } from "../dom.js";
import { t } from "../i18n.js";
import { problem } from "./tenants.js";

const POLL_MS = 1000;
const pct = (x) => (x === null || x === undefined ? "" : `${Math.round(x * 1000) / 10} %`);
const text = (v) => (v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v));
const head = (cols) => h("thead", {}, h("tr", {}, cols.map((c) => h("th", { scope: "col" }, t(c)))));
const enc = encodeURIComponent;
const badge = (status) => h("span", { class: `status ${status}` }, t(status));

// an experiment still running is read again until it ends (or the page is left)
async function poll(ctx, fn) {
  while (!ctx.signal.aborted && (await fn())) await new Promise((r) => setTimeout(r, POLL_MS));
}

export async function render(main, ctx) {
  const alert = h("div", { role: "alert" });
  const guard = async (fn) => { clear(alert); try { await fn(); } catch (err) { if (err.name !== "AbortError") problem(alert, err); } };
  if (ctx.parts[0]) return experiment(main, ctx, ctx.parts[0], alert, guard);
  const datasets = h("tbody");
  const experiments = h("tbody");
  const dsSelect = h("select", { id: "exp-dataset", required: true });
  const agentSelect = h("select", { id: "exp-agent", required: true }, ctx.me.agents.map((a) => h("option", { value: a }, a)));
  const base = h("select", { id: "cmp-baseline" });
  const cand = h("select", { id: "cmp-candidate" });
  const compared = h("section", { id: "comparison", "aria-live": "polite" });
  const releases = h("section", { id: "releases" });
  const dsName = h("input", { id: "ds-name", required: true });
  const dsCases = h("textarea", { id: "ds-cases", rows: 3, required: true, placeholder: '{"input": "What is 2 plus 2?", "expected": "4"}' });

  async function load() {
    const [ds, ex] = await Promise.all([api("/v1/evals/datasets", { signal: ctx.signal }), api("/v1/evals/experiments", { signal: ctx.signal })]);
    const names = Object.fromEntries(ds.data.map((d) => [d.id, d.name]));
    clear(datasets).append(...ds.data.map((d) => h("tr", { "data-dataset": d.id }, h("td", {}, d.name), h("td", {}, d.description || ""), h("td", {}, d.cases), h("td", {}, when(d.created_at)))));
    const chosen = dsSelect.value;
    clear(dsSelect).append(...ds.data.map((d) => h("option", { value: d.id, selected: d.id === chosen }, d.name)));
    clear(experiments).append(...ex.data.map((e) => h("tr", { "data-experiment": e.id },
      h("td", {}, h("a", { href: `/console/evals/${enc(e.id)}` }, h("code", {}, e.id))), h("td", {}, names[e.dataset_id] || e.dataset_id),
      h("td", {}, e.agent), h("td", {}, badge(e.status)), h("td", {}, e.summary.cases ?? ""),
      h("td", { class: "score" }, pct(e.summary.pass_rate)), h("td", {}, when(e.created_at)))));
    for (const [select, pick] of [[base, 1], [cand, 0]]) {
      const was = select.value;
      clear(select).append(...ex.data.map((e) => h("option", { value: e.id }, `${e.agent} · ${e.id}`)));
      select.value = was || (ex.data[pick] || ex.data[0] || {}).id || "";
    }
    return ex.data.some((e) => e.status === "running");
  }

  const dsForm = h("form", { class: "row card", onsubmit: (e) => { e.preventDefault(); guard(async () => {
    // one JSON case per line, as in a .jsonl file
    let cases;
    try { cases = dsCases.value.split("\n").filter((l) => l.trim()).map((l) => JSON.parse(l)); } catch (err) { throw new Error(`${t("Cases")}: ${err.message}`); }
    await api("/v1/evals/datasets", { method: "POST", body: { name: dsName.value.trim(), cases } });
    dsName.value = ""; dsCases.value = "";
    await load();
  }); } }, h("label", { class: "field" }, t("Name"), dsName), h("label", { class: "field" }, t("Cases (one JSON per line)"), dsCases),
    h("button", { type: "submit" }, t("Create dataset")));
  const runForm = h("form", { class: "row card", onsubmit: (e) => { e.preventDefault(); guard(async () => {
    const made = await api("/v1/evals/experiments", { method: "POST", body: { dataset: dsSelect.value, agent: agentSelect.value } });
    ctx.navigate(`/console/evals/${enc(made.id)}`);
  }); } }, h("label", { class: "field" }, t("Dataset"), dsSelect), h("label", { class: "field" }, t("Agent"), agentSelect),
    h("button", { class: "primary", type: "submit" }, t("Run experiment")));
  const cmpForm = h("form", { class: "row card", onsubmit: (e) => { e.preventDefault(); guard(async () => {
    const diff = await api(`/v1/evals/experiments/${enc(cand.value)}/compare?baseline=${enc(base.value)}`, { signal: ctx.signal });
    const changed = [...diff.improved.map((c) => ["improved", c]), ...diff.regressed.map((c) => ["regressed", c])];
    clear(compared).append(h("p", { id: "cmp-counts" }, `${t("Improvements")}: ${diff.improvements} · ${t("Regressions")}: ${diff.regressions} · ${t("Unchanged")}: ${diff.unchanged}`),
      changed.length ? h("table", {}, head(["Change", "Input", "Baseline", "Candidate"]), h("tbody", {}, changed.map(([kind, c]) => h("tr", { class: kind === "improved" ? "ok" : "bad" },
        h("td", {}, t(kind)), h("td", {}, text(c.input)), h("td", {}, `${c.baseline} · ${text(c.baseline_output)}`), h("td", {}, `${c.candidate} · ${text(c.candidate_output)}`))))) : "");
  }); } }, h("label", { class: "field" }, t("Baseline"), base), h("label", { class: "field" }, t("Candidate"), cand), h("button", { type: "submit" }, t("Compare")));

  clear(main).append(h("h1", {}, t("Evaluation")), alert,
    h("h2", {}, t("Datasets")), dsForm, h("table", { id: "datasets" }, head(["Name", "Description", "Cases", "Created"]), datasets),
    h("h2", {}, t("Experiments")), runForm, h("table", { id: "experiments" }, head(["ID", "Dataset", "Agent", "Status", "Cases", "Pass rate", "Created"]), experiments),
    h("h2", {}, t("Compare experiments")), cmpForm, compared, releases);
  await guard(() => poll(ctx, load));
  await guard(() => showReleases(ctx, releases));
}

// gray release of every versioned agent (admins only: others get nothing to show)
async function showReleases(ctx, box) {
  if (ctx.me.role !== "admin") return;
  const names = [...new Set(ctx.me.agents.filter((a) => a.includes("@")).map((a) => a.split("@")[0]))];
  if (!names.length) return;
  const all = await Promise.all(names.map((n) => api(`/v1/releases/${enc(n)}`, { signal: ctx.signal })));
  box.append(h("h2", {}, t("Releases")), h("table", { id: "release-table" }, head(["Agent", "Stable", "Weights", "Version", "Runs", "Error rate", "Eval pass rate"]),
    h("tbody", {}, all.flatMap((r) => r.versions.map((v) => {
      const m = r.metrics[v] || {};
      return h("tr", { "data-release": `${r.agent}@${v}` }, h("td", {}, r.agent), h("td", {}, r.policy.stable || ""),
        h("td", {}, Object.entries(r.policy.weights || {}).map(([k, w]) => `${k}=${w}`).join(" ")), h("td", {}, v),
        h("td", {}, m.runs ?? ""), h("td", {}, pct(m.error_rate)), h("td", {}, pct(m.eval_pass_rate)));
    })))));
}

async function experiment(main, ctx, id, alert, guard) {
  const summary = h("div", { id: "exp-summary", class: "card", "aria-live": "polite" });
  const results = h("tbody");
  clear(main).append(h("p", {}, h("a", { href: "/console/evals" }, `← ${t("Evaluation")}`)), h("h1", {}, `${t("Experiment")} ${id}`), alert, summary,
    h("h2", {}, t("Results")), h("table", { id: "results" }, head(["Input", "Expected", "Output", "Scores", "Result"]), results));
  let expected = null, dsName = "";
  await guard(() => poll(ctx, async () => {
    const e = await api(`/v1/evals/experiments/${enc(id)}`, { signal: ctx.signal });
    const s = e.summary;
    if (!expected) {
      // the expected answers live in the dataset, not in the results
      // (a deleted dataset leaves its experiments: show them without the expected column)
      const ds = await api(`/v1/evals/datasets/${enc(e.dataset_id)}`, { signal: ctx.signal }).catch(() => ({ name: e.dataset_id, data: [] }));
      dsName = ds.name;
      expected = Object.fromEntries(ds.data.map((c) => [c.id, c.expected ?? (c.facts || []).join(" | ")]));
    }
    clear(summary).append(h("div", { class: "row" }, badge(e.status), h("span", {}, `${t("Agent")}: ${e.agent}`), h("span", {}, `${t("Dataset")}: ${dsName}`),
      h("span", { id: "exp-pass-rate" }, `${t("Pass rate")}: ${pct(s.pass_rate)}`), h("span", {}, `${t("Passed")}: ${s.passed ?? ""} · ${t("Failed")}: ${s.failed ?? ""} · ${t("Errors")}: ${s.errors ?? ""}`),
      s.latency_ms ? h("span", {}, `${t("Latency")} p50 ${Math.round(s.latency_ms.p50)} ms`) : null, s.tokens ? h("span", {}, `${t("Tokens")}: ${s.tokens}`) : null,
      s.comparison ? h("span", {}, `${t("Regressions")}: ${s.comparison.regressions} · ${t("Improvements")}: ${s.comparison.improvements}`) : null,
      s.gate ? h("span", { id: "exp-gate", class: s.gate.passed ? "ok" : "bad" }, `${t("Gate")}: ${t(s.gate.passed ? "passed" : "failed")}`) : null),
      s.scorers ? h("table", {}, head(["Scorer", "Pass rate", "Passed", "Failed"]), h("tbody", {}, Object.entries(s.scorers).map(([n, v]) =>
        h("tr", {}, h("td", {}, n), h("td", {}, pct(v.pass_rate)), h("td", {}, v.passed), h("td", {}, v.failed))))) : "");
    const r = await api(`/v1/evals/experiments/${enc(id)}/results`, { signal: ctx.signal });
    clear(results).append(...r.data.map((c) => h("tr", { "data-case": c.case_id },
      h("td", {}, text(c.input)), h("td", {}, text(expected[c.case_id])), h("td", {}, text(c.output || c.error)),
      h("td", {}, (c.scores || []).map((sc) => h("div", { class: sc.passed ? "ok" : "bad" }, `${sc.name}: ${sc.value ?? ""}`, sc.reason ? h("span", { class: "muted" }, ` (${sc.reason})`) : null))),
      h("td", {}, badge(c.status)))));
    return e.status === "running";
  }));
}
