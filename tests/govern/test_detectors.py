"""DLP detectors on the project's labelled set (Chinese and English): no false negative
for the checksummed kinds, false positives counted (docs/benchmarks.md reports them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from roost.govern.detectors import CHECKSUMMED, Detector, cn_id_valid, luhn_valid
from roost.govern.dlp_eval import load, score
from roost.govern.errors import InvalidRequest

SET = Path(__file__).parents[1] / "data" / "dlp" / "labelled.jsonl"


def test_the_labelled_set_is_big_enough_and_bilingual() -> None:
    samples = load(SET)
    positives = [s for s in samples if s["entities"]]
    assert len(positives) >= 200 and len(samples) - len(positives) >= 200
    assert {s["lang"] for s in samples} == {"zh", "en"}


def test_no_false_negative_for_checksummed_kinds_and_few_false_positives() -> None:
    result = score(Detector(), load(SET))
    for kind in CHECKSUMMED:
        assert result.fn[kind] == 0, [m for m in result.false_negatives if m[0] == kind]
        assert result.tp[kind] >= 50
    assert sum(result.fn.values()) == 0, result.false_negatives
    assert sum(result.fp.values()) <= 10, result.false_positives


def test_checksums() -> None:
    assert cn_id_valid("11010519491231002X")
    assert not cn_id_valid("110105194912310021")
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


def test_a_checksummed_id_wins_over_a_card_on_the_same_digits() -> None:
    # 18 digits that are a valid ID and happen to pass Luhn as well
    text = "证件 11010519491231002X 与 6222021234567890120"
    kinds = [f.kind for f in Detector().find(text)]
    assert kinds[0] == "cn_id"


def test_custom_patterns_per_tenant() -> None:
    found = Detector(custom={"contract": r"HT-\d{6}"}).find("合同编号 HT-202611 已归档")
    assert [(f.kind, f.value) for f in found] == [("custom:contract", "HT-202611")]
    with pytest.raises(InvalidRequest):
        Detector(custom={"bad": "("})
    with pytest.raises(InvalidRequest):
        Detector(kinds=["passport"])
