"""The built-in assistant's instructions and tool choice, shared by ``roost serve`` (the
default app) and ``roost chat``.

The default model is small (decision 0150): it does best when the instructions say when
*not* to use a tool and when each reply is offered only the tools its question could
need. The rules below are deliberately generous (a tool offered in vain costs a few
prompt tokens; a tool withheld costs the answer) and bilingual, since the first users
write English and Chinese.
"""

from __future__ import annotations

from roost.agents._guidance import ToolFilter, keyword_filter

SYSTEM_PROMPT = (
    "You are Roost's built-in assistant. Answer the user's question directly and "
    "concisely, with the result itself. Use a tool only when the question needs what it "
    "does: exact arithmetic, running Python or shell commands in your sandbox, files in "
    "the sandbox, or today's date and time. Greetings, conversation and general "
    "knowledge need no tool."
)

MAX_ITERS = 6
"""Tool rounds before the assistant must answer: everyday tasks need one to three."""

_CODE = r"python|\bcode|script|program|\brun\b|execut|shell|command|bash|terminal|代码|程序|脚本|运行|执行|命令"
_FILES = (
    r"\bfiles?\b|folder|director|\.txt|\.json|\.csv|\.py\b|\bsave|sandbox|文件|目录|保存|写入|读取"
)
_CODE_ASKED = r"python|\bcode\b|script|program|代码|程序|脚本"
_MATH = (
    # not when the user asked for code: "Using Python, compute…" is for execute_python
    rf"^(?!.*(?:{_CODE_ASKED})).*?(?:"
    r"\d|calculat|comput|plus|minus|times|multipl|divid|\bsum\b|percent|square|root|power|"
    r"average|total|math|算|加|减|乘|除|百分|平方)"
)
_TIME = (
    r"\b(what time|the time|current time|time is it|time now|date|today'?s|what day|"
    r"which day|day of the week|weekday|clock)\b|时间|日期|几点|星期几|几号|今天是|今天几"
)

RULES: dict[str, str] = {
    "calculator": _MATH,
    "current_time": _TIME,
    "execute_python": _CODE,
    "execute_shell": _CODE + "|" + _FILES,
    "read_file": _FILES,
    "write_file": _FILES,
    "list_files": _FILES,
}
"""Which question offers which built-in tool (case-insensitive regular expressions);
tools not named here (knowledge search, memory, your own) are always offered."""


def tool_filter(model: object) -> ToolFilter | None:
    """The built-in assistant's per-question choice of tools, for models that decide
    through constrained decisions (small local ones); ``None`` (every tool offered) for
    models that call tools natively and choose well among many."""
    if getattr(model, "preferred_tool_mode", None) != "decision":
        return None
    return keyword_filter(RULES)
