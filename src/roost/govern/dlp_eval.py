"""Scoring a :class:`~roost.govern.detectors.Detector` on a labelled set (the project's
own set is ``tests/data/dlp/labelled.jsonl``; ``python -m bench.dlp`` prints the table)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roost.govern.detectors import Detector


@dataclass
class Score:
    """Per kind: true positives, false positives, false negatives, and the misses."""

    tp: Counter[str] = field(default_factory=Counter)
    fp: Counter[str] = field(default_factory=Counter)
    fn: Counter[str] = field(default_factory=Counter)
    false_positives: list[tuple[str, str, str]] = field(default_factory=list)
    false_negatives: list[tuple[str, str, str]] = field(default_factory=list)

    def rows(self) -> list[tuple[str, int, int, int]]:
        kinds = sorted(set(self.tp) | set(self.fp) | set(self.fn))
        return [(k, self.tp[k], self.fp[k], self.fn[k]) for k in kinds]


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def score(detector: Detector, samples: Iterable[Mapping[str, Any]]) -> Score:
    out = Score()
    for sample in samples:
        text = sample["text"]
        found = detector.find(text)
        used: set[int] = set()
        for ent in sample["entities"]:
            at = text.find(ent["value"])
            end = at + len(ent["value"])
            hit = next(
                (
                    i
                    for i, f in enumerate(found)
                    if f.kind == ent["kind"] and f.start < end and f.end > at
                ),
                None,
            )
            if hit is None:
                out.fn[ent["kind"]] += 1
                out.false_negatives.append((ent["kind"], ent["value"], text))
            else:
                out.tp[ent["kind"]] += 1
                used.add(hit)
        for i, f in enumerate(found):
            if i not in used:
                out.fp[f.kind] += 1
                out.false_positives.append((f.kind, f.value, text))
    return out
