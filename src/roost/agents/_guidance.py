"""Per-reply guidance derived from the question, for models that need it spelled out:
the language to answer in, and which tools to offer at all (a small model offered a
clock to name a capital calls the clock)."""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping, Sequence

from roost.core import Msg, ToolUseBlock

ToolFilter = Callable[[str, Sequence[str]], Collection[str]]
"""``(latest user text, tool names) -> the names to offer for this reply``."""
QuestionCount = Callable[[str], int]
"""``latest user text -> a count``: e.g. how many tool calls the question asks for."""
CallRepair = Callable[[str, ToolUseBlock], ToolUseBlock]
"""``(latest user text, the model's call) -> the call to run``: mends what a small model
predictably garbles when it copies from the question."""

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HANGUL = re.compile(r"[\uac00-\ud7af]")


def latest_user_text(msgs: Sequence[Msg]) -> str:
    for msg in reversed(msgs):
        if msg.role == "user" and not msg.tool_results:
            return msg.text
    return ""


def user_language(text: str) -> str | None:
    """``"zh"``, ``"ja"`` or ``"ko"`` when the text is written in that script; ``None``
    otherwise (the model follows an English or other Latin-script question unaided)."""
    if _KANA.search(text):
        return "ja"
    if _HANGUL.search(text):
        return "ko"
    if _CJK.search(text):
        return "zh"
    return None


_LANGUAGE_NOTE = {
    "zh": "\nThe user wrote in Chinese: write your answer as a short sentence in Chinese"
    " (简体中文) that contains the result.",
    "ja": "\nThe user wrote in Japanese: write your answer as a short sentence in Japanese"
    " (日本語) that contains the result.",
    "ko": "\nThe user wrote in Korean: write your answer as a short sentence in Korean"
    " (한국어) that contains the result.",
}


_ASK = {
    "zh": "（请用中文回答。）",
    "ja": "（日本語で答えてください。）",
    "ko": "（한국어로 답해 주세요.）",
}


_SCRIPT = {
    "zh": r"\u4e00-\u9fff",
    "ja": r"\u3040-\u30ff\u4e00-\u9fff",
    "ko": r"\uac00-\ud7af",
}
_JSON_CHARS = r'([^"\\\x00-\x1f]|\\["\\/bfnrt])*'
"""Any JSON string content: characters other than quote, backslash and controls, or a
simple escape (no ``.``: a grammar's dot would admit a bare quote)."""


def answer_pattern(text: str) -> str | None:
    """A pattern for the answer's text when the user wrote in Chinese, Japanese or
    Korean: it must start with a character of that script. A small model told three
    times to answer in Chinese still answers "1081"; made to start in Chinese, it writes
    "23乘以47等于1081". ``None`` for other languages."""
    lang = user_language(text)
    return f"^[{_SCRIPT[lang]}]{_JSON_CHARS}$" if lang else None


def language_note(text: str) -> str:
    lang = user_language(text)
    return _LANGUAGE_NOTE[lang] if lang else ""


def language_ask(text: str) -> str:
    """The same request in the user's language, added to their question for the model: a
    small model heeds the last turn more than the end of a long system prompt."""
    lang = user_language(text)
    return _ASK[lang] if lang else ""


def keyword_filter(rules: dict[str, str], *, always: Collection[str] = ()) -> ToolFilter:
    """A ``ToolFilter`` offering a tool when its regular expression (case-insensitive)
    matches the question; tools without a rule, and those in ``always``, are always
    offered."""
    compiled = {name: re.compile(pattern, re.I | re.S) for name, pattern in rules.items()}

    def select(text: str, names: Sequence[str]) -> list[str]:
        return [
            n
            for n in names
            if n in always or n not in compiled or compiled[n].search(text) is not None
        ]

    return select


_NUMBER = re.compile(r"-?\d[\d,]*(\.\d+)?(e[+-]?\d+)?", re.I)


def _digits(text: str) -> str:
    return re.sub(r"(?<=\d),(?=\d{3})", "", text)


_FORMAT_ONLY = re.compile(r"\b(only|nothing else|just)\b|只|仅", re.I)


def result_note(
    answer: str, tool: str, args: Mapping[str, object], result: str, question: str = ""
) -> str:
    """What to add to an answer that leaves out the number the reply's last successful
    call, a calculator's, returned: " (18 * 5 = 90)" after "No" to "is 18 * 5 greater
    than 100?". A small model answers the last clause of a question and drops the result
    it computed; the user should see it. Only the calculator's: its note is an equation,
    true whatever the answer did with the number (a file's content or a program's output
    may have been transformed, and "(result: 21)" after "42" would confuse). Nothing is
    added when the question restricts the answer's form ("yes or no only", "just the
    number")."""
    expression = args.get("expression")
    value = _digits(result.strip())
    if tool != "calculator" or not isinstance(expression, str) or len(expression) > 80:
        return ""
    if not _NUMBER.fullmatch(value) or len(value) > 40 or _FORMAT_ONLY.search(question):
        return ""
    if re.search(rf"(?<![\d.]){re.escape(value)}(?!\d)", _digits(answer)):
        return ""
    return f" ({expression} = {value})"
