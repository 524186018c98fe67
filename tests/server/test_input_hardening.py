"""Hostile request bodies and query values get a typed 4xx and store nothing.

Each case once answered 500 (or 201 and then broke every later read of the record):
non-finite numbers, deep nesting, lone surrogates, huge cursors and event ids, empty
messages, bodies that are not JSON and booleans given as strings.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from server_support import ADMIN_KEY, new_session, read_sse

from roost.core import Msg
from roost.server import AgentApp, AgentContext
from roost.server._http import MAX_JSON_DEPTH, MAX_JSON_VALUES
from roost.server.routes._common import PAGE_BYTES
from roost.server.schemas import MAX_METADATA_BYTES

JSON = {"content-type": "application/json"}


def echo_app(**options: Any) -> AgentApp:
    app = AgentApp("hardening", admin_key=ADMIN_KEY, **options)

    @app.agent
    async def echo(msg: Msg, ctx: AgentContext) -> Any:
        yield f"you said: {msg.text}"

    return app


def nested(levels: int) -> str:
    """A JSON object ``levels`` deep: ``{"a":{"a":…1…}}``."""
    return '{"a":' * levels + "1" + "}" * levels


def session_count(c: httpx.Client) -> int:
    r = c.get("/v1/sessions", params={"limit": 500})
    assert r.status_code == 200, r.text
    return len(r.json()["data"])


def message_count(c: httpx.Client, sid: str) -> int:
    r = c.get(f"/v1/sessions/{sid}/messages")
    assert r.status_code == 200, r.text
    return len(r.json()["data"])


def assert_error(r: httpx.Response, status: int, code: str, field: str | None = None) -> None:
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert error["code"] == code and error["message"]
    if field is not None:
        assert error["details"]["fields"][0]["field"] == field, error


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ('{"n":NaN}', "metadata.n"),
        ('{"n":Infinity}', "metadata.n"),
        ('{"n":-Infinity}', "metadata.n"),
        ('{"n":1e400}', "metadata.n"),
        ('{"n":[1,-1e999]}', "metadata.n.1"),
        ('{"n":99999999999999999999999}', "metadata.n"),
        ('{"s":"\\ud800"}', "metadata.s"),
        ('{"\\udfff":1}', "metadata.\\udfff"),
        (nested(MAX_JSON_DEPTH), "metadata"),
        (nested(400), "metadata"),
        (nested(5000), "body"),
        ("[" * 5000 + "]" * 5000, "body"),
        ("1" * 5000, "body"),
    ],
)
def test_session_metadata_that_json_cannot_carry_is_422_and_not_stored(served, metadata, field):
    s = served(echo_app())
    with s.client() as c:
        before = session_count(c)
        r = c.post("/v1/sessions", content='{"metadata":' + metadata + "}", headers=JSON)
        assert r.status_code == 422, r.text
        assert r.json()["error"]["code"] == "invalid_request"
        fields = r.json()["error"]["details"]["fields"]
        assert fields[0]["field"] == field
        assert session_count(c) == before


def test_json_at_the_depth_limit_is_stored_and_served_back(served):
    s = served(echo_app())
    deepest = nested(MAX_JSON_DEPTH - 1)  # the body object is the first level
    with s.client() as c:
        r = c.post("/v1/sessions", content='{"metadata":' + deepest + "}", headers=JSON)
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        assert c.get(f"/v1/sessions/{sid}").json()["metadata"] == json.loads(deepest)
        assert session_count(c) == 1
        data = json.loads(nested(MAX_JSON_DEPTH - 5))
        block = {"type": "data", "data": data}
        body = {"input": {"content": [{"type": "text", "text": "hi"}, block]}, "stream": False}
        r = c.post(f"/v1/sessions/{sid}/runs", json=body)
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
        stored = c.get(f"/v1/sessions/{sid}/messages").json()["data"]
        assert stored[0]["content"][1]["data"] == data
        with c.stream("GET", f"/v1/runs/{r.json()['id']}/events") as events:
            assert read_sse(events).types[-1] == "run.completed"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('{"input":"\\ud800"}', "input"),
        ('{"input":"ok","metadata":{"n":NaN}}', "metadata.n"),
        ('{"input":{"role":"user","content":""}}', "input.content"),
        ('{"input":{"role":"user","content":"   "}}', "input.content"),
        ('{"input":{"role":"user","content":[]}}', "input.content"),
        ('{"input":{"content":[{"type":"text","text":""}]}}', "input.content"),
        ('{"input":{"foo":1}}', "input.content"),
        ('{"input":{"content":"hi","foo":1}}', "input.foo"),
        ('{"input":{"role":"wizard","content":"hi"}}', "input.role"),
        ('{"input":[{}]}', "input.0.content"),
        ('{"input":[{"content":"ok"},{"content":""}]}', "input.1.content"),
        ('{"input":[]}', "input"),
        ('{"input":""}', "input"),
        ('{"input":"hi","stream":"yes"}', "stream"),
        ('{"input":"hi","stream":1}', "stream"),
        ('{"input":"hi","background":"true"}', "background"),
    ],
)
def test_bad_run_input_is_422_and_stores_no_message(served, body, field):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        r = c.post(f"/v1/sessions/{sid}/runs", content=body, headers=JSON)
        assert_error(r, 422, "invalid_request", field)
        assert message_count(c, sid) == 0


def test_chat_completion_with_a_lone_surrogate_is_422_and_creates_no_session(served):
    s = served(echo_app())
    body = '{"model":"echo","messages":[{"role":"user","content":"\\ud800"}]}'
    with s.client() as c:
        r = c.post("/v1/chat/completions", content=body, headers=JSON)
        assert_error(r, 422, "invalid_request", "messages.0.content")
        r = c.post(
            "/v1/chat/completions",
            json={"model": "echo", "messages": [{"role": "user", "content": "hi"}], "stream": "1"},
        )
        assert_error(r, 422, "invalid_request", "stream")
        assert session_count(c) == 0


@pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded", "text/html"])
def test_a_body_labelled_as_another_format_is_415(served, media):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        r = c.post(
            f"/v1/sessions/{sid}/runs",
            content='{"input":"hi","stream":false}',
            headers={"content-type": media},
        )
        assert_error(r, 415, "unsupported_media_type")
        assert message_count(c, sid) == 0
        r = c.post("/v1/sessions", content="{}", headers={"content-type": media})
        assert_error(r, 415, "unsupported_media_type")
        assert session_count(c) == 1


@pytest.mark.parametrize(
    "headers", [{}, {"content-type": "application/json; charset=utf-8"}, {"content-type": ""}]
)
def test_json_without_or_with_a_parameterised_content_type_is_accepted(served, headers):
    s = served(echo_app())
    with s.client() as c:
        r = c.post("/v1/sessions", content='{"metadata":{"k":1.5}}', headers=headers)
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    ("params", "code", "field"),
    [
        ({"after": "99999999999999999999999"}, "invalid_cursor", None),
        ({"after": "9223372036854775808"}, "invalid_cursor", None),
        ({"after": "²"}, "invalid_cursor", None),
        ({"after": "-1"}, "invalid_cursor", None),
        ({"limit": "²"}, "invalid_request", "limit"),
        ({"limit": "9" * 5000}, "invalid_request", "limit"),
        ({"limit": "0"}, "invalid_request", "limit"),
    ],
)
def test_bad_message_page_params_are_422(served, params, code, field):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        assert_error(c.get(f"/v1/sessions/{sid}/messages", params=params), 422, code, field)


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "²"},
        {"limit": "501"},
        {"cursor": _cursor(["2024-01-01T00:00:00", "\ud800"])},
        {"cursor": _cursor(["9999-12-31T23:59:59-14:00", "ses_x"])},
        {"cursor": _cursor(["0001-01-01T00:00:00+14:00", "ses_x"])},
        {"cursor": _cursor([1, 2])},
        {"cursor": "W" * 40},
        {"cursor": base64.urlsafe_b64encode(b"[" * 5000).decode()},  # nesting beyond json
    ],
)
def test_bad_session_list_params_are_422(served, params):
    s = served(echo_app())
    with s.client() as c:
        r = c.get("/v1/sessions", params=params)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("invalid_request", "invalid_cursor")


@pytest.mark.parametrize(
    ("where", "value", "field"),
    [
        ("query", "²", "after"),
        ("query", "-1", "after"),
        ("query", "1.5", "after"),
        ("header", "²", "Last-Event-ID"),
        ("header", "99999999999999999999999", "Last-Event-ID"),
        ("header", "9223372036854775808", "Last-Event-ID"),
        ("header", "9" * 5000, "Last-Event-ID"),
    ],
)
def test_bad_event_ids_are_422_before_the_stream_starts(served, where, value, field):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        run = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False}).json()
        url = f"/v1/runs/{run['id']}/events"
        if where == "query":
            r = c.get(url, params={"after": value})
        else:
            r = c.get(url, headers={"last-event-id": value.encode()})
        assert_error(r, 422, "invalid_request", field)


def test_resuming_past_the_last_event_of_a_finished_run_ends_at_once(served):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        run = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False}).json()
        for after in ("1000", str(2**63 - 1)):
            r = c.get(f"/v1/runs/{run['id']}/events", headers={"last-event-id": after}, timeout=10)
            assert r.status_code == 200 and r.text == ""


def test_approval_decision_needs_a_real_boolean(served):
    s = served(echo_app())
    with s.client() as c:
        sid = new_session(c)
        run = c.post(f"/v1/sessions/{sid}/runs", json={"input": "hi", "stream": False}).json()
        r = c.post(f"/v1/runs/{run['id']}/approvals/call_1", json={"approve": "yes"})
        assert_error(r, 422, "invalid_request", "approve")


def test_a_small_body_of_very_many_values_is_413_and_stores_nothing(served):
    s = served(echo_app())
    # 300,000 empty objects in 900 KB: under the byte limit, far over the value limit
    body = '{"metadata": {"a": [' + ",".join(["{}"] * 300_000) + "]}}"
    with s.client() as c:
        r = c.post("/v1/sessions", content=body, headers=JSON)
        assert_error(r, 413, "payload_too_large")
        assert str(MAX_JSON_VALUES) in r.json()["error"]["message"]
        just_under = {"metadata": {}, "agent": None}
        assert c.post("/v1/sessions", json=just_under).status_code == 201
        assert session_count(c) == 1


@pytest.mark.parametrize("where", ["session", "run", "input message"])
def test_metadata_over_its_size_limit_is_422_and_not_stored(served, where):
    s = served(echo_app())
    big = {"note": "x" * MAX_METADATA_BYTES}
    with s.client() as c:
        sid = new_session(c)
        if where == "session":
            r, field = c.post("/v1/sessions", json={"metadata": big}), "metadata"
        elif where == "run":
            r = c.post(f"/v1/sessions/{sid}/runs", json={"input": "x", "metadata": big})
            field = "metadata"
        else:
            msg = {"content": "x", "metadata": big}
            r = c.post(f"/v1/sessions/{sid}/runs", json={"input": [msg]})
            field = "input.0.metadata"
        assert_error(r, 422, "invalid_request", field)
        assert r.json()["error"]["details"]["fields"][0]["type"] == "too_large"
        assert session_count(c) == 1 and message_count(c, sid) == 0


def test_pages_stop_near_a_megabyte_and_continue_on_the_next(served):
    s = served(echo_app(rate_limit=None))
    metadata = {"note": "x" * (MAX_METADATA_BYTES - 100)}
    with s.client() as c:
        made = {new_session(c, metadata=metadata) for _ in range(PAGE_BYTES // 16_000 + 10)}
        sid = sorted(made)[0]
        for i in range(3):
            text = f"{i}" * 400_000  # three messages of 400 KB and their replies
            r = c.post(f"/v1/sessions/{sid}/runs", json={"input": text, "stream": False})
            assert r.status_code == 200
        seen: list[str] = []
        cursor = None
        while True:
            r = c.get(
                "/v1/sessions", params={"limit": 500, **({"cursor": cursor} if cursor else {})}
            )
            assert len(r.content) <= PAGE_BYTES + MAX_METADATA_BYTES
            seen += [x["id"] for x in r.json()["data"]]
            cursor = r.json()["next_cursor"]
            if cursor is None:
                break
        assert sorted(seen) == sorted(made) and len(seen) == len(made)
        texts: list[str] = []
        after = None
        pages = 0
        while True:
            page = c.get(f"/v1/sessions/{sid}/messages", params={"after": after} if after else {})
            assert len(page.content) <= PAGE_BYTES + 450_000
            pages += 1
            texts += [m["content"][0]["text"][:12] for m in page.json()["data"]]
            if not page.json()["has_more"]:
                break
            after = page.json()["next_after"]
        assert len(texts) == 6 and pages >= 3
