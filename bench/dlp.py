"""DLP detectors and sealing: speed and quality (issue 21).

    python -m bench.dlp [--rounds 3000]

- redaction (``mask``, all detectors) of a 4 KB prompt in Chinese and English with three
  sensitive values: p50 and p99 per call (target p50 ≤ 100 µs);
- throughput of all detectors over 1 MB of that text (target ≥ 20 MB/s);
- the labelled set (tests/data/dlp/labelled.jsonl): true and false positives and false
  negatives per kind;
- sealing cost per 1 KB value: AES-256-GCM and SM4-GCM (the national profile).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from roost.govern import crypto
from roost.govern.detectors import Detector
from roost.govern.dlp import DlpPolicy, Redactor
from roost.govern.dlp_eval import load, score

EN = (
    "Please summarise the quarterly report for the board meeting on 2026-03-14 at 10:30. "
    "Revenue grew 12.5% to 3,450,000 yuan; churn fell. Contact the team lead for details. "
)
ZH = "请帮我总结一下本季度的销售情况，客户反馈整体良好，第三季度营收同比增长百分之十二，下周一上午十点召开复盘会议。"
TAIL = " 客户手机 13812345678，邮箱 li.lei@example.com，身份证 11010519491231002X。"


def prompt(size: int = 4096) -> str:
    """``size`` bytes of UTF-8: mixed text, the sensitive values at the end."""
    text, body = "", EN + ZH
    while len((text + body + TAIL).encode()) < size:
        text += body
    text += TAIL
    while len(text.encode()) < size:
        text += "."
    return text


def timed(fn: object, rounds: int, clock: object = time.perf_counter) -> list[float]:
    out = []
    for _ in range(rounds):
        t = clock()  # type: ignore[operator]
        fn()  # type: ignore[operator]
        out.append(clock() - t)  # type: ignore[operator]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=3000)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    text = prompt()
    redactor = Redactor(DlpPolicy(actions={"logs": "mask"}))
    masked = redactor.redact(text, "logs")
    assert "13812345678" not in masked and "11010519491231002X" not in masked
    for _ in range(200):
        redactor.redact(text, "logs")
    runs = timed(lambda: redactor.redact(text, "logs"), args.rounds)
    runs.sort()
    print(
        f"redact 4 KB prompt (mask, all detectors): p50 {statistics.median(runs) * 1e6:.1f} µs,"
        f" p99 {runs[int(len(runs) * 0.99)] * 1e6:.1f} µs, min {runs[0] * 1e6:.1f} µs"
    )
    cpu = sorted(timed(lambda: redactor.redact(text, "logs"), args.rounds, time.thread_time))
    print(
        f"  CPU time of the same (thread clock, what a shared machine does not inflate as"
        f" much): p50 {statistics.median(cpu) * 1e6:.1f} µs"
    )
    clean = prompt().replace(TAIL, "")
    runs = sorted(timed(lambda: redactor.redact(clean, "logs"), args.rounds))
    print(f"redact 4 KB prompt without findings: p50 {statistics.median(runs) * 1e6:.1f} µs")
    detector = Detector()
    big = text * 256
    best = min(timed(lambda: detector.find(big), 5, time.thread_time))
    print(
        f"all detectors: {len(big.encode()) / best / 1e6:.1f} MB/s over {len(big.encode()) / 1e6:.1f} MB"
    )

    result = score(detector, load(Path("tests/data/dlp/labelled.jsonl")))
    print("labelled set: kind, true positives, false positives, false negatives")
    for kind, tp, fp, fn in result.rows():
        print(f"  {kind:10s} {tp:4d} {fp:4d} {fn:4d}")
    for kind, value, sample in result.false_positives:
        print(f"  false positive {kind}: {value!r} in {sample!r}")

    value = os.urandom(1024)
    for algo in crypto.ALGORITHMS:
        key = crypto.new_key(algo)
        runs = sorted(timed(lambda k=key, a=algo: crypto.seal(a, k, value, b"messages"), 2000))
        sealed = crypto.seal(algo, key, value, b"messages")
        opens = sorted(
            timed(lambda k=key, a=algo, s=sealed: crypto.open_sealed(a, k, s, b"messages"), 2000)
        )
        print(
            f"{algo}: seal 1 KB p50 {statistics.median(runs) * 1e6:.1f} µs,"
            f" open p50 {statistics.median(opens) * 1e6:.1f} µs"
        )


if __name__ == "__main__":
    main()
