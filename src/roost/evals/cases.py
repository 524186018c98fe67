"""A dataset case and the files cases come from (JSONL, CSV).

A case is an input (one message or a whole conversation) with what is expected of the
reply: an output, reference facts, tool calls; tags and metadata to slice results; and,
for a case taken from real traffic, the run's recorded events so it can be replayed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from roost.core import Msg, new_id
from roost.evals.errors import DatasetInvalid

MAX_CASES = 100_000
"""Cases one dataset may hold (a file or an API call with more is refused)."""


class ExpectedCall(BaseModel):
    """A tool call the agent should make: its name and (a subset of) its arguments."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    name: str = Field(min_length=1, max_length=128)
    arguments: dict[str, Any] | None = None
    """``None``: any arguments; otherwise every key given must match."""


class Case(BaseModel):
    """One evaluation case."""

    model_config = ConfigDict(extra="forbid", defer_build=True)

    id: str = Field(default_factory=lambda: new_id("case"), max_length=64)
    input: str | Msg | list[str | Msg] = Field(
        description="one user message as text, one message, or a conversation"
    )
    expected: str | None = None
    """The expected output (for exact, contains, regex, numeric, JSON schema scorers)."""
    facts: list[str] = Field(default_factory=list)
    """Reference facts the reply should state (for the judge or ``contains``)."""
    tool_calls: list[ExpectedCall] = Field(default_factory=list)
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    recorded: dict[str, Any] | None = None
    """From real traffic: ``{"run_id", "events": [...]}`` so the case can be replayed."""

    @field_validator("input")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError("a conversation needs at least one message")
        return value

    @property
    def messages(self) -> list[Msg]:
        """The input as messages (text becomes a user message)."""
        items = self.input if isinstance(self.input, list) else [self.input]
        return [Msg.user(m) if isinstance(m, str) else m for m in items]

    @property
    def text(self) -> str:
        """The last input message's text (what tables show)."""
        return self.messages[-1].text


def content_id(case: Case) -> str:
    """A case id from what the case asks and expects: the same file imported twice gives
    the same ids, so experiments on either compare case by case."""
    body = case.model_dump(mode="json", include={"expected", "facts", "tool_calls"})
    body["input"] = [m.model_dump(mode="json", exclude={"id", "created_at"}) for m in case.messages]
    digest = hashlib.blake2b(json.dumps(body, sort_keys=True).encode(), digest_size=12)
    return "case_" + digest.hexdigest()


def unique_ids(cases: list[Case]) -> list[Case]:
    """Repeated ids (the same case twice in a file) get ``-2``, ``-3`` …"""
    seen: dict[str, int] = {}
    for case in cases:
        n = seen.get(case.id, 0) + 1
        seen[case.id] = n
        if n > 1:
            case.id = f"{case.id}-{n}"
    return cases


def parse_case(data: Any, where: str) -> Case:
    """A case from plain data, or ``DatasetInvalid`` naming ``where`` and the field."""
    if not isinstance(data, dict):
        raise DatasetInvalid(f"{where}: a case must be a JSON object", hint='e.g. {"input": "hi"}')
    try:
        case = Case.model_validate(data)
        if "id" not in data:
            case.id = content_id(case)
        return case
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "case"
        raise DatasetInvalid(
            f"{where}: {field}: {first['msg']}",
            hint="a case has input (text or messages), and optionally expected, facts, "
            "tool_calls, tags, metadata",
        ) from None


def parse_cases(items: Iterable[Any], where: str = "case") -> list[Case]:
    cases = []
    for i, item in enumerate(items, 1):
        if i > MAX_CASES:
            raise DatasetInvalid(f"more than {MAX_CASES} cases", hint="split the dataset")
        cases.append(parse_case(item, f"{where} {i}"))
    return unique_ids(cases)


def read_jsonl(text: str, name: str = "file") -> list[Case]:
    """One case per line; blank lines and ``#`` comments are skipped."""
    items = []
    for n, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            items.append((n, json.loads(stripped)))
        except json.JSONDecodeError as exc:
            raise DatasetInvalid(
                f"{name} line {n}: not JSON ({exc.msg})", hint="one JSON object per line"
            ) from None
        if len(items) > MAX_CASES:
            raise DatasetInvalid(f"more than {MAX_CASES} cases", hint="split the dataset")
    return unique_ids([parse_case(item, f"{name} line {n}") for n, item in items])


_LIST_COLUMNS = ("facts", "tags")
_JSON_COLUMNS = ("tool_calls", "metadata")


def read_csv(text: str, name: str = "file") -> list[Case]:
    """A header row with ``input`` and optional ``expected``, ``facts`` and ``tags``
    (``|``-separated), ``tool_calls`` and ``metadata`` (JSON), ``id``."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames or "input" not in reader.fieldnames:
        raise DatasetInvalid(f"{name}: the CSV needs an 'input' column", hint="input,expected")
    cases = []
    for n, row in enumerate(reader, 2):
        data: dict[str, Any] = {k: v for k, v in row.items() if k and v not in (None, "")}
        for key in _LIST_COLUMNS:
            if key in data:
                data[key] = [p.strip() for p in str(data[key]).split("|") if p.strip()]
        for key in _JSON_COLUMNS:
            if key in data:
                try:
                    data[key] = json.loads(data[key])
                except json.JSONDecodeError:
                    raise DatasetInvalid(
                        f"{name} line {n}: column {key!r} is not JSON", hint='e.g. [{"name": "f"}]'
                    ) from None
        cases.append(parse_case(data, f"{name} line {n}"))
        if len(cases) > MAX_CASES:
            raise DatasetInvalid(f"more than {MAX_CASES} cases", hint="split the dataset")
    return unique_ids(cases)


def load_cases(path: str | Path) -> list[Case]:
    """Cases from a ``.jsonl``/``.json`` (a list) or ``.csv`` file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DatasetInvalid(f"cannot read {p}: {exc.strerror}", hint="check the path") from None
    if p.suffix.lower() == ".csv":
        return read_csv(text, p.name)
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DatasetInvalid(f"{p.name}: not JSON ({exc.msg})") from None
        if not isinstance(data, list):
            raise DatasetInvalid(f"{p.name}: a JSON dataset is a list of cases")
        return parse_cases(data, p.name + " case")
    return read_jsonl(text, p.name)
