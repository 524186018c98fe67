"""Web console figures (issue 22), in Debian's headless Chromium driven by Playwright.

    python -m bench.console [--runs 5]

- first load: the bytes a browser downloads (compressed, as sent) and the time to an
  interactive page, for the sign-in page and for the chat page of a signed-in key, cold
  (empty cache) on loopback;
- the usage page (charts: uPlot loads on first use);
- a trace of 500 spans drawn by the waterfall (the page's own ``drawTrace``);
- text deltas: from the server's ``yield`` to the page's stream reader (same clock);
- the sessions page over ``--sessions`` sessions (10,000 by default): first page and the
  next one, each a cursor page of 50 (never the whole list).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

KEY = "rk_" + "B" * 43


def _app(db: str) -> Any:
    from roost.core import Msg
    from roost.server import AgentApp, AgentContext

    app = AgentApp("bench-console", admin_key=KEY, store_url=f"sqlite:///{db}", rate_limit=None)

    @app.agent(name="clock")
    async def clock(msg: Msg, ctx: AgentContext) -> Any:
        for _ in range(100):
            yield f"{time.time():.6f};"
            await asyncio.sleep(0.01)

    return app


TRACE_JS = """async (n) => {
  const { drawTrace } = await import('/console/assets/js/pages/runs.js');
  const spans = [];
  const root = { span_id: 'r', name: 'invoke_agent', operation: 'invoke_agent', offset_ms: 0,
    duration_ms: n * 2, input_tokens: 0, output_tokens: 0, cost: null, status: 'ok',
    attributes: {}, events: [], children: [] };
  for (let i = 0; i < n - 1; i++) root.children.push({ span_id: 's' + i, name: 'chat model ' + i,
    operation: i % 2 ? 'chat' : 'execute_tool', offset_ms: i * 2, duration_ms: 1.5,
    input_tokens: 10, output_tokens: 5, cost: 0.0001, currency: 'USD', status: 'ok',
    attributes: { 'gen_ai.request.model': 'm' }, events: [], children: [] });
  const el = document.createElement('div');
  el.className = 'waterfall';
  document.body.append(el);
  const t = performance.now();
  drawTrace(el, { spans: [root] });
  el.getBoundingClientRect();  // layout included
  await new Promise(requestAnimationFrame);
  return performance.now() - t;
}"""

DELTA_JS = """async (sid) => {
  const { stream } = await import('/console/assets/js/api.js');
  const lags = [];
  await stream(`/v1/sessions/${sid}/runs`, { method: 'POST', body: { input: 'go', stream: true },
    onEvent: (type, data) => { if (type === 'text.delta') {
      const sent = parseFloat(data.delta); lags.push(Date.now() - sent * 1000); } } });
  return lags;
}"""


def _make_sessions(url: str, auth: dict[str, str], n: int) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    def make(count: int) -> None:
        with httpx.Client(base_url=url, headers=auth, timeout=60) as c:
            for _ in range(count):
                c.post("/v1/sessions", json={"agent": "clock"}).raise_for_status()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(make, [n // 8 + (1 if i < n % 8 else 0) for i in range(8)]))


def _fmt(ms: list[float]) -> str:
    ms = sorted(ms)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"p50 {statistics.median(ms):7.1f} ms   p90 {p90:7.1f} ms   (n={len(ms)})"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sessions", type=int, default=10_000)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parent.parent / "tests" / "server"))
    import httpx
    from playwright.sync_api import sync_playwright
    from server_support import serve, stop

    from roost.sandbox.kinds.browser_launch import find_chromium

    with tempfile.TemporaryDirectory() as tmp:
        served = serve(_app(str(Path(tmp) / "roost.db")))
        auth = {"authorization": f"Bearer {KEY}"}
        with httpx.Client(base_url=served.url, headers=auth) as c:
            sid = c.post("/v1/sessions", json={"agent": "clock"}).json()["id"]
            c.post(f"/v1/sessions/{sid}/runs", json={"input": "x", "stream": False})
        _make_sessions(served.url, auth, args.sessions)
        try:
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=find_chromium(), headless=True)
                figures: dict[str, list[float]] = {}
                sizes: dict[str, int] = {}
                for label, path, ready, signed_in in (
                    ("sign-in page", "/console/", "#key", False),
                    ("chat page (signed in)", "/console/chat", "#input", True),
                    ("usage page (charts)", "/console/usage", ".chart canvas", True),
                ):
                    for _ in range(args.runs):
                        ctx = browser.new_context(base_url=served.url)
                        page = ctx.new_page()
                        if signed_in:  # the cookie, as a sign-in leaves it
                            page.request.post("/v1/console/session", headers=auth)
                        responses: list[Any] = []
                        page.on("response", lambda r, got=responses: got.append(r))
                        t = time.perf_counter()
                        page.goto(path)
                        page.wait_for_selector(ready)
                        elapsed = (time.perf_counter() - t) * 1000
                        page.wait_for_load_state("networkidle")
                        total = 0
                        for r in responses:
                            s = r.request.sizes()
                            total += s["responseBodySize"] + s["responseHeadersSize"]
                        figures.setdefault(label, []).append(elapsed)
                        sizes[label] = total
                        ctx.close()
                ctx = browser.new_context(base_url=served.url)
                page = ctx.new_page()
                page.request.post("/v1/console/session", headers=auth)
                page.goto("/console/sessions")
                page.wait_for_selector("#sessions")
                figures["trace of 500 spans drawn"] = [
                    page.evaluate(TRACE_JS, 500) for _ in range(args.runs)
                ]
                lags: list[float] = []
                for _ in range(args.runs):
                    lags += page.evaluate(DELTA_JS, sid)
                figures["text delta, server yield -> page"] = lags
                first, following = [], []
                for _ in range(args.runs):
                    t = time.perf_counter()
                    page.goto("/console/sessions")
                    page.wait_for_selector("#sessions tbody tr")
                    first.append((time.perf_counter() - t) * 1000)
                    top = page.inner_text("#sessions tbody tr")
                    t = time.perf_counter()
                    page.click("#next")
                    page.wait_for_function(
                        "t => document.querySelector('#sessions tbody tr').innerText !== t", arg=top
                    )
                    following.append((time.perf_counter() - t) * 1000)
                figures[f"sessions page of {args.sessions}: first"] = first
                figures[f"sessions page of {args.sessions}: next"] = following
                ctx.close()
                browser.close()
        finally:
            stop(served)
    for label, ms in figures.items():
        extra = f"   {sizes[label] / 1024:6.1f} KB transferred" if label in sizes else ""
        print(f"{label:36} {_fmt(ms)}{extra}")


if __name__ == "__main__":
    main()
