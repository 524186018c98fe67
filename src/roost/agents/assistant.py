"""The built-in assistant's instructions and tool choice, shared by ``roost serve`` (the
default app) and ``roost chat``.

The default model is small (decision 0150): it does best when the instructions say when
*not* to use a tool and when each reply is offered only the tools its question could
need. The rules below are deliberately generous (a tool offered in vain costs a few
prompt tokens; a tool withheld costs the answer) and bilingual, since the first users
write English and Chinese.
"""

from __future__ import annotations

import re
from typing import TypedDict

from roost.agents._guidance import CallRepair, QuestionCount, ToolFilter, keyword_filter
from roost.core import ToolUseBlock

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


_STOP = r"[^.?!。？！\n]"
"""Within one sentence."""
_TOOL_NAMED = re.compile(
    # "use the calculator", "using Python", "run it with the shell", "Calculator please: 3*4"
    rf"\b(use|using|with|via|run|execute)\b{_STOP}{{0,30}}\b(calculator|python|shell|bash|"
    r"terminal|sandbox)\b|\bcalculator\b|"
    rf"(用|使用|通过|借助|调用|在沙箱){_STOP}{{0,8}}(计算器|python|代码|脚本|程序|shell|命令|沙箱|运行|执行)",
    re.I,
)
_TASK = re.compile(
    # …and something to do with it (not "what can I do with Python?")
    r"\d|['\"“‘\[]|comput|calculat|count|sort|revers|find|print|list|make|generat|convert|"
    r"check|solve|\brun\b|work out|算|计算|统计|排序|生成|转换|运行|执行",
    re.I,
)
_FILE_OP = re.compile(
    # "write a file", "save … to words.txt", "read a.txt", "list the files", 写入文件
    rf"\b(write|create|save|make|read|open|list|delete|append)\b{_STOP}{{0,60}}"
    r"(\bfiles?\b|\bfolder|\bdirector|\b[\w-]+\.(txt|json|csv|md|py|log|yaml|yml|ini|html)\b)|"
    rf"(写|创建|保存|读|列出|删除|新建){_STOP}{{0,20}}(文件|目录|\.(txt|json|csv|md|py)\b)",
    re.I,
)
_FILE_STEP = re.compile(
    # one file or shell operation each: "write a file", "read it back", "list the files",
    # "run it", "save … to words.txt"; 写入文件, 读取它, 运行脚本
    r"\b(write|create|save|make|read|open|list|delete|append|run|execute)\b"
    r"[^?!。？！\n]{0,40}?(\bfiles?\b|\bfolder|\bdirector|\bit\b|\bthem\b|\bscript\b|"
    r"\b[\w-]+\.(txt|json|csv|md|py|log|yaml|yml|ini|html)\b)|"
    r"(写入|写|创建|保存|读取|读|列出|运行|执行|打开|删除|新建)[^。？！\n]{0,12}?"
    r"(文件|目录|它|脚本|\.(txt|json|csv|md|py)\b)",
    re.I,
)


def tool_steps(text: str) -> int:
    """How many tool calls the question asks for: one when it names a built-in tool
    ("use the calculator", "using Python") or a file operation, one per file or shell
    operation it chains ("write a.txt, then read it back": two); 0 otherwise. The reply
    must make that many successful calls before it may answer (a small model otherwise
    answers "[3, 7, 19, 42]" from memory, writes the code instead of running it, or stops
    after the first of two file steps)."""
    named = _TOOL_NAMED.search(text) is not None and _TASK.search(text) is not None
    files = len(_FILE_STEP.findall(text))
    if files == 0 and _FILE_OP.search(text) is not None:
        files = 1
    return max(int(named), files)


_EXPRESSION = re.compile(r"[\d.\s+\-*/()%^]*\([\d.\s+\-*/()%^]*")
"""An arithmetic expression with parentheses, as the user wrote it."""


def _squash(expression: str) -> str:
    return re.sub(r"[\s()]", "", expression).replace("^", "**")


def keep_parentheses(question: str, call: ToolUseBlock) -> ToolUseBlock:
    """The calculator call with the user's own expression when the model copied it
    without its parentheses: the 1.5B writes "(120 - 45) / 3" as "120 - 45 / 3" (same
    numbers and operators in the same order, only the parentheses lost). Any other
    difference is left alone."""
    expression = call.input.get("expression") if call.name == "calculator" else None
    if not isinstance(expression, str) or "(" in expression:
        return call
    for match in _EXPRESSION.finditer(question):
        written = match.group().strip().rstrip(".").strip()
        balanced = written.count("(") == written.count(")")
        if balanced and _squash(written) == _squash(expression):
            return call.model_copy(update={"input": {**call.input, "expression": written}})
    return call


class QuestionRules(TypedDict):
    tool_steps: QuestionCount | None
    repair_call: CallRepair | None


def question_rules(model: object) -> QuestionRules:
    """``tool_steps`` and ``repair_call`` for ``ReActAgent``, for models that decide through constrained
    decisions (small local ones); none for models that call tools natively and follow
    such requests unaided."""
    if getattr(model, "preferred_tool_mode", None) != "decision":
        return {"tool_steps": None, "repair_call": None}
    return {"tool_steps": tool_steps, "repair_call": keep_parentheses}


def tool_filter(model: object) -> ToolFilter | None:
    """The built-in assistant's per-question choice of tools, for models that decide
    through constrained decisions (small local ones); ``None`` (every tool offered) for
    models that call tools natively and choose well among many."""
    if getattr(model, "preferred_tool_mode", None) != "decision":
        return None
    return keyword_filter(RULES)
