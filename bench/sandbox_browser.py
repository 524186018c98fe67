"""Browser and GUI sandbox figures (bwrap backend).

    python -m bench.sandbox_browser [--runs 5]

Browser: time from ``start()`` to a sandbox ready to navigate (bwrap + Chromium inside it
+ Playwright connected, first tab open), cold (first browser of the process: the
Playwright driver starts too) and warm (driver already running); then ``open`` of a
workdir page, ``extract_text``, ``screenshot``.
GUI: desktop ready (bwrap + Xvfb answering), framebuffer screenshot (file read + PNG
encode, 1280x800), one xdotool click round trip, and the PNG encoder alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any


def _fmt(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p50 = statistics.median(ms)
    p90 = ms[min(len(ms) - 1, round(0.9 * (len(ms) - 1)))]
    return f"p50 {p50:8.1f} ms   p90 {p90:8.1f} ms   min {ms[0]:8.1f} ms   (n={len(ms)})"


async def _timed(fn: Callable[[], Awaitable[Any]], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        out.append(time.perf_counter() - t)
    return out


async def bench_browser(runs: int) -> dict[str, list[float]]:
    from roost.sandbox.kinds.browser import create_browser_sandbox

    results: dict[str, list[float]] = {"ready (cold driver)": [], "ready (warm driver)": []}
    keeper = create_browser_sandbox()  # keeps the shared Playwright driver running
    t = time.perf_counter()
    await keeper.start()
    results["ready (cold driver)"].append(time.perf_counter() - t)
    try:
        for _ in range(runs):
            sandbox = create_browser_sandbox()
            t = time.perf_counter()
            await sandbox.start()
            results["ready (warm driver)"].append(time.perf_counter() - t)
            await sandbox.close()
        # Side by side: the same Chromium launched by Playwright with no isolation at all.
        from roost.sandbox.kinds.browser_launch import CHROMIUM_FLAGS, find_chromium

        playwright = keeper._playwright
        results["ready, unsandboxed chromium"] = []
        for _ in range(runs):
            t = time.perf_counter()
            plain = await playwright.chromium.launch(
                executable_path=find_chromium(), args=CHROMIUM_FLAGS, headless=True
            )
            await (await plain.new_context()).new_page()
            results["ready, unsandboxed chromium"].append(time.perf_counter() - t)
            await plain.close()
        await keeper.write_file("p.html", "<title>T</title><h1>bench</h1>" + "<p>x</p>" * 200)
        await keeper.open("p.html")
        results["open workdir page"] = await _timed(lambda: keeper.open("p.html"), runs * 2)
        results["extract_text"] = await _timed(lambda: keeper.extract_text("h1"), runs * 2)
        results["screenshot (png)"] = await _timed(keeper.screenshot, runs * 2)
    finally:
        await keeper.close()
    return results


async def bench_gui(runs: int) -> dict[str, list[float]]:
    from roost.sandbox.kinds.gui import GUI_DIR, create_gui_sandbox
    from roost.sandbox.kinds.xwd import xwd_to_png

    results: dict[str, list[float]] = {"desktop ready": []}
    for _ in range(runs):
        sandbox = create_gui_sandbox()
        t = time.perf_counter()
        await sandbox.start()
        results["desktop ready"].append(time.perf_counter() - t)
        await sandbox.close()
    async with create_gui_sandbox() as sandbox:
        await sandbox.launch("xmessage", ["-geometry", "+20+20", "benchmark"])
        await sandbox.wait_for_window("xmessage")
        results["screenshot 1280x800 (read + png)"] = await _timed(sandbox.screenshot, runs * 4)
        raw = await sandbox.read_file(f"{GUI_DIR}/Xvfb_screen0")
        results["framebuffer read only"] = await _timed(
            lambda: sandbox.read_file(f"{GUI_DIR}/Xvfb_screen0"), runs * 4
        )

        async def encode() -> None:
            xwd_to_png(raw)

        results["png encode only"] = await _timed(encode, runs * 4)
        results["xdotool click"] = await _timed(lambda: sandbox.click(100, 100), runs * 4)
    return results


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    for title, bench in (("browser sandbox", bench_browser), ("gui sandbox", bench_gui)):
        print(f"## {title}")
        for name, samples in (await bench(args.runs)).items():
            print(f"{name:34s} {_fmt(samples)}")


if __name__ == "__main__":
    asyncio.run(main())
