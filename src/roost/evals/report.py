"""The HTML report of an experiment: one self-contained file (inline CSS and SVG plots,
no script, no network) that a CI job keeps as an artifact."""

from __future__ import annotations

from html import escape
from typing import Any

from roost.evals.compare import Comparison, GateCheck
from roost.evals.records import ExperimentRecord, ResultRecord

_CSS = """body{font:14px system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0;width:100%}td,th{border:1px solid #ddd;
padding:4px 8px;text-align:left;vertical-align:top}th{background:#f4f4f4}
.passed{color:#176b2c}.failed{color:#b00020}.error{color:#9a6700}
.mono{font-family:ui-monospace,monospace;white-space:pre-wrap;font-size:12px}
h1 small{color:#777;font-weight:normal}"""


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value * 100:.1f} %"


def _num(value: Any, unit: str = "") -> str:
    return "–" if value is None else f"{float(value):,.1f}{unit}"


def pass_rate_plot(scorers: dict[str, dict[str, Any]]) -> str:
    """Horizontal bars: each scorer's pass rate with its 95 % interval as a whisker."""
    names = list(scorers)
    height = 28 * len(names) + 30
    parts = [f'<svg width="640" height="{height}" role="img" aria-label="pass rates">']
    for i, name in enumerate(names):
        per = scorers[name]
        y = 10 + i * 28
        rate = per.get("pass_rate") or 0.0
        lo, hi = per.get("ci95") or [0.0, 1.0]
        parts.append(f'<text x="0" y="{y + 14}" font-size="12">{escape(name)}</text>')
        parts.append(f'<rect x="160" y="{y}" width="{rate * 400:.1f}" height="18" fill="#4c8bf5"/>')
        parts.append(
            f'<line x1="{160 + lo * 400:.1f}" x2="{160 + hi * 400:.1f}" y1="{y + 9}" '
            f'y2="{y + 9}" stroke="#222" stroke-width="2"/>'
        )
        parts.append(
            f'<text x="570" y="{y + 14}" font-size="12">{_pct(per.get("pass_rate"))}</text>'
        )
    parts.append(f'<line x1="160" x2="560" y1="{height - 12}" y2="{height - 12}" stroke="#999"/>')
    parts.append("</svg>")
    return "".join(parts)


def latency_plot(latencies: list[float], bins: int = 20) -> str:
    """A histogram of the runs' latencies."""
    if not latencies:
        return ""
    lo, hi = min(latencies), max(latencies)
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for value in latencies:
        counts[min(bins - 1, int((value - lo) / width))] += 1
    top = max(counts)
    bars = []
    for i, count in enumerate(counts):
        h = 120 * count / top
        bars.append(
            f'<rect x="{i * 30}" y="{130 - h:.1f}" width="26" height="{h:.1f}" fill="#7b61ff"/>'
        )
    return (
        f'<svg width="{bins * 30}" height="160" role="img" aria-label="latency histogram">'
        + "".join(bars)
        + f'<text x="0" y="150" font-size="12">{lo:.0f} ms</text>'
        + f'<text x="{bins * 30 - 80}" y="150" font-size="12">{hi:.0f} ms</text></svg>'
    )


def render(
    experiment: ExperimentRecord,
    results: list[ResultRecord],
    *,
    comparison: Comparison | None = None,
    gate: list[GateCheck] | None = None,
) -> str:
    s = experiment.summary
    lat, cost = s.get("latency_ms") or {}, s.get("cost") or {}
    lo, hi = s.get("ci95") or [None, None]
    html = [
        "<!doctype html><html lang='en'><meta charset='utf-8'>",
        f"<title>Experiment {escape(experiment.id)}</title><style>{_CSS}</style>",
        f"<h1>{escape(experiment.agent)} <small>{escape(experiment.id)} · dataset "
        f"{escape(experiment.dataset_id)} · {escape(experiment.status)}</small></h1>",
        "<table><tr><th>runs</th><th>passed</th><th>failed</th><th>scorer errors</th>"
        "<th>pass rate (95 % CI)</th><th>latency p50 / p95</th><th>cost</th></tr>",
        f"<tr><td>{s.get('runs', 0)}</td><td>{s.get('passed', 0)}</td><td>{s.get('failed', 0)}</td>"
        f"<td>{s.get('errors', 0)}</td><td>{_pct(s.get('pass_rate'))} ({_pct(lo)}–{_pct(hi)})</td>"
        f"<td>{_num(lat.get('p50'), ' ms')} / {_num(lat.get('p95'), ' ms')}</td>"
        f"<td>{_num(cost.get('total'))}</td></tr></table>",
    ]
    if gate:
        html.append("<h2>Gate</h2><table><tr><th>check</th><th>value</th><th>result</th></tr>")
        for check in gate:
            css = "passed" if check.passed else "failed"
            html.append(
                f"<tr><td>{escape(check.metric)} {escape(check.op)} {check.threshold:g}</td>"
                f"<td>{_num(check.value)}</td><td class='{css}'>{css}</td></tr>"
            )
        html.append("</table>")
    html.append("<h2>Pass rate by scorer</h2>" + pass_rate_plot(s.get("scorers") or {}))
    html.append(
        "<h2>Latency</h2>" + latency_plot([float(r.body.get("latency_ms") or 0) for r in results])
    )
    if comparison is not None:
        html.append(
            f"<h2>Against {escape(comparison.baseline)}</h2><p>{len(comparison.improved)} better, "
            f"{len(comparison.regressed)} worse, {comparison.unchanged} unchanged.</p>"
        )
        for title, changes in (("Worse", comparison.regressed), ("Better", comparison.improved)):
            if not changes:
                continue
            html.append(
                f"<h3>{title}</h3><table><tr><th>input</th><th>baseline</th><th>now</th></tr>"
            )
            for c in changes:
                html.append(
                    f"<tr><td>{escape(c.input)}</td><td class='mono'>{escape(c.baseline_output)}</td>"
                    f"<td class='mono'>{escape(c.candidate_output)}</td></tr>"
                )
            html.append("</table>")
    html.append(
        "<h2>Cases</h2><table><tr><th>case</th><th>input</th><th>output</th><th>scores</th><th>run</th></tr>"
    )
    for r in results:
        scores = "<br>".join(
            f"<span class='{'passed' if sc.get('passed') else ('error' if sc.get('error') else 'failed')}'>"
            f"{escape(str(sc.get('name')))}</span> {escape(str(sc.get('reason') or sc.get('error') or ''))[:300]}"
            for sc in r.body.get("scores", [])
        )
        html.append(
            f"<tr><td class='{r.status}'>{escape(r.case_id)}#{r.repetition}</td>"
            f"<td>{escape(str(r.body.get('input', '')))}</td>"
            f"<td class='mono'>{escape(str(r.body.get('output', '')))[:1000]}</td><td>{scores}</td>"
            f"<td class='mono'>{escape(r.run_id or '')}</td></tr>"
        )
    html.append("</table></html>")
    return "\n".join(html)
