"""Chunkers: sections → chunks small enough to embed and to quote.

All sizes count the tokens of :mod:`roost.knowledge.text` (words, Chinese words by
jieba, punctuation), and every cut falls between two of them: a chunk never ends in the
middle of an English or a Chinese word. ``signature`` names the configuration, so a
knowledge base re-chunks a document only when the configuration changed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from roost.knowledge import text as _text
from roost.knowledge.readers import split_markdown
from roost.knowledge.records import ChunkDraft, Section


@runtime_checkable
class Chunker(Protocol):
    @property
    def signature(self) -> str: ...

    def chunk(self, sections: Sequence[Section]) -> list[ChunkDraft]: ...


def _check(size: int, overlap: int) -> None:
    if size < 1:
        raise ValueError("chunk size must be at least 1 token")
    if not 0 <= overlap < size:
        raise ValueError("overlap must be at least 0 and smaller than the chunk size")


def _windows(text: str, size: int, overlap: int) -> list[str]:
    spans = list(_text.token_spans(text))
    if not spans:
        return []
    out = []
    step = size - overlap
    for start in range(0, len(spans), step):
        window = spans[start : start + size]
        out.append(text[window[0][0] : window[-1][1]])
        if start + size >= len(spans):
            break
    return out


@dataclass(frozen=True)
class TokenChunker:
    """Fixed windows of ``size`` tokens, each sharing ``overlap`` tokens with the last."""

    size: int = 200
    overlap: int = 20

    def __post_init__(self) -> None:
        _check(self.size, self.overlap)

    @property
    def signature(self) -> str:
        return f"tokens:{self.size}:{self.overlap}"

    def chunk(self, sections: Sequence[Section]) -> list[ChunkDraft]:
        return [
            ChunkDraft(piece, dict(s.metadata))
            for s in sections
            for piece in _windows(s.text, self.size, self.overlap)
        ]


def _join(parts: Sequence[str]) -> str:
    out = ""
    for part in parts:
        if out and not (_text.has_cjk(out[-1]) or out[-1] in "。！？；"):
            out += " "
        out += part
    return out


@dataclass(frozen=True)
class SentenceChunker:
    """Whole sentences packed up to ``max_tokens``; the next chunk repeats the last
    sentences of the previous one up to ``overlap_tokens``. A sentence longer than a
    chunk is cut into token windows."""

    max_tokens: int = 200
    overlap_tokens: int = 30

    def __post_init__(self) -> None:
        _check(self.max_tokens, self.overlap_tokens)

    @property
    def signature(self) -> str:
        return f"sentences:{self.max_tokens}:{self.overlap_tokens}"

    def chunk(self, sections: Sequence[Section]) -> list[ChunkDraft]:
        out: list[ChunkDraft] = []
        for section in sections:
            out.extend(ChunkDraft(t, dict(section.metadata)) for t in self._pack(section.text))
        return out

    def _pack(self, text: str) -> list[str]:
        pieces: list[tuple[str, int]] = []
        for sentence in _text.sentences(text):
            n = _text.count_tokens(sentence)
            if n > self.max_tokens:
                pieces.extend((w, self.max_tokens) for w in _windows(sentence, self.max_tokens, 0))
            elif n:
                pieces.append((sentence, n))
        chunks: list[str] = []
        current: list[tuple[str, int]] = []
        total = 0
        fresh = 0  # sentences in `current` not yet emitted in an earlier chunk
        for piece, n in pieces:
            if current and total + n > self.max_tokens:
                chunks.append(_join([p for p, _ in current]))
                kept: list[tuple[str, int]] = []
                kept_total = 0
                for p, m in reversed(current):
                    if kept_total + m > self.overlap_tokens or kept_total + m + n > self.max_tokens:
                        break
                    kept.insert(0, (p, m))
                    kept_total += m
                current, total, fresh = kept, kept_total, 0
            current.append((piece, n))
            total += n
            fresh += 1
        if current and fresh:
            chunks.append(_join([p for p, _ in current]))
        return chunks


@dataclass(frozen=True)
class MarkdownChunker(SentenceChunker):
    """Split on Markdown headings first (each chunk keeps its ``heading_path``), then
    pack sentences within each heading's section."""

    @property
    def signature(self) -> str:
        return f"markdown:{self.max_tokens}:{self.overlap_tokens}"

    def chunk(self, sections: Sequence[Section]) -> list[ChunkDraft]:
        split: list[Section] = []
        for section in sections:
            outer = section.metadata.get("heading_path")
            for part in split_markdown(section.text):
                meta = dict(section.metadata)
                path = " > ".join(p for p in (outer, part.metadata.get("heading_path")) if p)
                if path:
                    meta["heading_path"] = path
                split.append(Section(part.text, meta))
        return super().chunk(split)
