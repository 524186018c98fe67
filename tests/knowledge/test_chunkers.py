"""Chunkers cut between words (Chinese words included), keep metadata and overlap."""

from __future__ import annotations

import pytest

from roost.knowledge import MarkdownChunker, Section, SentenceChunker, TokenChunker
from roost.knowledge import text as ktext

CHINESE = (
    "人力资源部规定，正式员工每年享有十五天带薪年假。年假需要提前两周在人力资源系统中提交申请，"
    "经直属经理批准后生效。未使用的年假可以顺延到下一年第一季度，逾期作废。病假需要提供医院出具的证明。"
)


def _word_boundaries(text: str) -> set[int]:
    cuts = {0, len(text)}
    for start, end in ktext.token_spans(text):
        cuts.update((start, end))
    return cuts


@pytest.mark.parametrize(
    "chunker", [TokenChunker(size=7, overlap=2), SentenceChunker(max_tokens=12, overlap_tokens=4)]
)
def test_chinese_chunks_never_split_inside_a_word(chunker: TokenChunker | SentenceChunker) -> None:
    chunks = chunker.chunk([Section(CHINESE)])
    assert len(chunks) > 3
    cuts = _word_boundaries(CHINESE)
    for chunk in chunks:
        start = CHINESE.index(chunk.text)
        assert start in cuts and start + len(chunk.text) in cuts, chunk.text
    # jieba keeps words whole: 年假 and 人力资源 are never cut in half
    joined = "|".join(c.text for c in chunks)
    assert "员|工" not in joined and "人力|资源" not in joined


def test_chinese_is_split_into_words_not_characters_or_one_blob() -> None:
    sample = "正式员工每年享有十五天带薪假期"
    words = [sample[s:e] for s, e in ktext.token_spans(sample)]
    assert "员工" in words and "带薪" in words
    assert len(words) < len(sample)


def test_token_windows_overlap_by_the_given_number_of_tokens() -> None:
    text = " ".join(f"w{i}" for i in range(20))
    chunks = TokenChunker(size=8, overlap=3).chunk([Section(text, {"page": 2})])
    assert [c.text.split()[0] for c in chunks] == ["w0", "w5", "w10", "w15"]
    assert chunks[0].text.split()[-3:] == chunks[1].text.split()[:3]
    assert chunks[-1].text.split()[-1] == "w19"
    assert all(c.metadata == {"page": 2} for c in chunks)


def test_sentences_are_packed_whole_and_repeat_the_last_for_overlap() -> None:
    text = "One two three. Four five six. Seven eight nine. Ten eleven twelve."
    chunks = SentenceChunker(max_tokens=8, overlap_tokens=4).chunk([Section(text)])
    assert [c.text for c in chunks] == [
        "One two three. Four five six.",
        "Four five six. Seven eight nine.",
        "Seven eight nine. Ten eleven twelve.",
    ]


def test_a_sentence_longer_than_a_chunk_is_cut_into_windows() -> None:
    long = " ".join(f"w{i}" for i in range(30)) + "."
    chunks = SentenceChunker(max_tokens=10, overlap_tokens=0).chunk([Section(long)])
    assert len(chunks) == 4
    assert " ".join(c.text for c in chunks).replace(" .", ".") == long


def test_markdown_chunker_keeps_the_heading_path() -> None:
    md = "# Policy\nIntro text.\n## Travel\nBook trains for trips under 4 hours.\n## 报销\n发票需要在三十天内提交。"
    chunks = MarkdownChunker(max_tokens=50, overlap_tokens=5).chunk(
        [Section(md, {"source": "p.md"})]
    )
    assert [(c.metadata.get("heading_path"), c.text) for c in chunks] == [
        ("Policy", "Intro text."),
        ("Policy > Travel", "Book trains for trips under 4 hours."),
        ("Policy > 报销", "发票需要在三十天内提交。"),
    ]
    assert chunks[1].indexed_text.startswith("Policy > Travel\n")


def test_bad_sizes_are_refused() -> None:
    with pytest.raises(ValueError):
        TokenChunker(size=0)
    with pytest.raises(ValueError):
        SentenceChunker(max_tokens=10, overlap_tokens=10)


def test_search_terms_drop_stopwords_and_keep_chinese_subwords() -> None:
    terms = ktext.search_terms("What is the 人力资源部门 policy?")
    assert "what" not in terms and "the" not in terms
    assert "policy" in terms
    assert {"人力", "资源", "人力资源部"} <= set(terms)  # the word and its sub-words
