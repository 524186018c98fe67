import json
import os

import pytest

from roost.core import (
    AudioBlock,
    DataBlock,
    ImageBlock,
    Msg,
    RoostError,
    SessionBusy,
    TextBlock,
    ThinkingBlock,
    ToolResultBlock,
    ToolUseBlock,
    Usage,
    error_from_dict,
    new_id,
)


def test_msg_with_every_block_round_trips_through_json() -> None:
    msg = Msg(
        role="assistant",
        name="bob",
        content=[
            ThinkingBlock(thinking="hmm", signature="sig"),
            TextBlock(text="hello"),
            ToolUseBlock(id="c1", name="calc", input={"x": 1}),
            ToolResultBlock(tool_use_id="c1", name="calc", content=[TextBlock(text="2")]),
            ImageBlock.from_bytes(b"\x89PNG", "image/png"),
            AudioBlock(url="https://example.invalid/a.wav", media_type="audio/wav"),
            DataBlock(data={"k": [1, 2]}),
        ],
        metadata={"a": 1},
        usage=Usage(input_tokens=3, output_tokens=4),
    )
    again = Msg.from_json(msg.to_json())
    assert again == msg
    assert again.text == "hello"
    assert again.thinking == "hmm"
    assert again.tool_uses[0].input == {"x": 1}
    assert again.content[4].to_bytes() == b"\x89PNG"  # type: ignore[union-attr]


def test_string_content_is_a_text_block() -> None:
    msg = Msg.user("hi")
    assert msg.content == [TextBlock(text="hi")]
    assert json.loads(msg.to_json())["content"] == [{"type": "text", "text": "hi"}]


def test_ids_are_prefixed_unique_and_time_ordered() -> None:
    ids = [new_id("run") for _ in range(200)]
    assert len(set(ids)) == 200
    assert all(i.startswith("run_") for i in ids)
    assert ids[0][:14] <= ids[-1][:14]


def test_usage_adds_and_refuses_to_mix_currencies() -> None:
    total = Usage(input_tokens=1, output_tokens=2, cost=0.1, currency="USD") + Usage(
        input_tokens=3, output_tokens=4, cost=0.2, currency="USD"
    )
    assert (total.input_tokens, total.output_tokens, total.total_tokens) == (4, 6, 10)
    assert total.cost == pytest.approx(0.3)
    mixed = total + Usage(cost=1.0, currency="CNY")
    assert mixed.cost is None


def test_errors_have_stable_codes_and_round_trip() -> None:
    err = SessionBusy("session s1 is busy", hint="wait or cancel")
    assert err.code == "session_busy" and err.status == 409
    body = err.to_dict()
    assert body == {
        "code": "session_busy",
        "message": "session s1 is busy",
        "hint": "wait or cancel",
    }
    back = error_from_dict(body)
    assert isinstance(back, SessionBusy)
    unknown = error_from_dict({"code": "something_new", "message": "x"})
    assert isinstance(unknown, RoostError) and unknown.code == "something_new"


def test_a_forked_child_does_not_repeat_the_parents_ids() -> None:
    new_id("run")  # the parent now holds read-ahead random suffixes
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_id("run").encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 100).decode()
    os.close(read)
    assert child[-16:] != new_id("run")[-16:]


def test_a_data_block_of_null_survives_the_round_trip_of_the_store() -> None:
    msg = Msg(role="user", content=[DataBlock(data=None)])
    again = Msg.model_validate_json(msg.model_dump_json(exclude_none=True))
    assert again.content == msg.content
