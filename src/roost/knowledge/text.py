"""Words and sentences of mixed Chinese/English text.

Chinese has no spaces between words, so splitting on whitespace cuts nothing (a whole
paragraph becomes one "word") and splitting on characters cuts inside words. Runs of
CJK characters go through jieba, the well-kept Chinese segmenter; everything else is
split into words and punctuation by a regular expression. Chunkers cut only between
these tokens and BM25 indexes them, so both respect Chinese word boundaries.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

from roost.knowledge.errors import KnowledgeBackendUnavailable

_CJK = (
    "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs
    "\u3040-\u30ff"  # kana
    "\uac00-\ud7af"  # hangul
)
_CJK_RUN = re.compile(f"[{_CJK}]+")
_PIECE = re.compile(f"[{_CJK}]+|[^\\W{_CJK}]+(?:['’.-][^\\W{_CJK}]+)*|[^\\w\\s]", re.UNICODE)
_WORD = re.compile(r"\w+(?:['’.-]\w+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|(?<=[。！？；])|\n\s*\n")

STOPWORDS = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "but",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "do",
        "does",
        "did",
        "can",
        "you",
        "your",
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "或",
        "吗",
        "呢",
        "吧",
        "啊",
        "也",
        "都",
        "就",
        "而",
        "被",
        "把",
        "让",
        "对",
        "从",
        "向",
        "什么",
        "怎么",
        "如何",
        "哪些",
        "哪个",
        "多少",
        "几",
        "请问",
        "一个",
        "我们",
        "你们",
        "他们",
        "这",
        "那",
        "有",
        "没有",
    ]
)
"""Words too common to help BM25 find a passage (English and Chinese)."""


@functools.cache
def _jieba() -> Any:
    try:
        import jieba
    except ImportError:  # pragma: no cover - the knowledge extra installs it
        raise KnowledgeBackendUnavailable(
            "Chinese text needs jieba", hint="pip install 'roost[knowledge]'"
        ) from None
    import logging

    jieba.setLogLevel(logging.WARNING)  # it prints its dictionary loading otherwise
    jieba.initialize()
    return jieba


def has_cjk(text: str) -> bool:
    return _CJK_RUN.search(text) is not None


def token_spans(text: str) -> Iterator[tuple[int, int]]:
    """``(start, end)`` offsets of the words and punctuation of ``text``, in order."""
    for match in _PIECE.finditer(text):
        start, piece = match.start(), match.group()
        if _CJK_RUN.fullmatch(piece) and len(piece) > 1:
            for word, ws, we in _jieba().tokenize(piece):
                if word.strip():
                    yield start + ws, start + we
        else:
            yield match.start(), match.end()


def count_tokens(text: str) -> int:
    return sum(1 for _ in token_spans(text))


def search_terms(text: str) -> list[str]:
    """Lower-cased words for BM25: Chinese words and their sub-words (jieba's search
    mode, so 年假天数 also matches 年假), no punctuation, no stopwords."""
    if not has_cjk(text):  # the common case, without the segmenter's per-piece checks
        return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]
    terms: list[str] = []
    for match in _PIECE.finditer(text):
        piece = match.group()
        if _CJK_RUN.fullmatch(piece):
            words = _jieba().lcut_for_search(piece) if len(piece) > 1 else [piece]
            terms.extend(w for w in words if w.strip() and w not in STOPWORDS)
        elif piece[0].isalnum() or piece[0] == "_":
            word = piece.lower()
            if word not in STOPWORDS:
                terms.append(word)
    return terms


def sentences(text: str) -> list[str]:
    """Split on sentence ends (``.!?;`` + space, ``。！？；``) and blank lines."""
    out = []
    for part in _SENTENCE_END.split(text):
        part = part.strip()
        if part:
            out.append(part)
    return out
