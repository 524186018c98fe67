from roost.core import (
    ApprovalRequired,
    ErrorEvent,
    Interrupted,
    Msg,
    ReplyFinished,
    TextDelta,
    ToolCallFinished,
    ToolResultBlock,
    ToolResultEvent,
    Usage,
    UsageEvent,
    parse_event,
)


def test_every_event_round_trips_by_type() -> None:
    events = [
        TextDelta(msg_id="m", delta="hi", agent="a"),
        ToolCallFinished(call_id="c", name="t", input={"a": 1}),
        ToolResultEvent(call_id="c", name="t", result=ToolResultBlock(tool_use_id="c")),
        UsageEvent(usage=Usage(input_tokens=1), model="m"),
        ErrorEvent(code="model_timeout", message="slow"),
        ApprovalRequired(call_id="c", name="rm", input={"path": "/"}),
        Interrupted(reason="user"),
        ReplyFinished(msg=Msg.assistant("done")),
    ]
    for event in events:
        assert parse_event(event.model_dump_json()) == event
        assert parse_event(event.model_dump(mode="json")) == event
