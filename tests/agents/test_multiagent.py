from roost.agents import MsgHub, ReActAgent, fanout_pipeline, sequential_pipeline
from roost.core import Msg
from roost.models import ScriptedModel


async def test_msghub_participants_see_each_others_replies() -> None:
    alice_model = ScriptedModel(["I'm Alice."])
    bob_model = ScriptedModel(["Hi Alice, I'm Bob."])
    alice = ReActAgent("alice", alice_model)
    bob = ReActAgent("bob", bob_model)
    async with MsgHub([alice, bob], announcement="Introduce yourselves.") as hub:
        await alice()
        await bob()
    assert [m.text for m in bob_model.calls[0].messages[1:]] == [
        "Introduce yourselves.",
        "I'm Alice.",
    ]
    assert [m.text for m in hub.history] == [
        "Introduce yourselves.",
        "I'm Alice.",
        "Hi Alice, I'm Bob.",
    ]
    assert alice.memory.get()[-1].text == "Hi Alice, I'm Bob."
    # outside the hub nothing is broadcast any more
    carol_model = ScriptedModel(["solo"])
    bob_model.replies.append("later")
    await bob("again")
    assert alice.memory.get()[-1].text == "Hi Alice, I'm Bob."
    assert carol_model.calls == []


async def test_sequential_and_fanout_pipelines() -> None:
    a = ReActAgent("a", ScriptedModel([lambda msgs: f"A({msgs[-1].text})"]))
    b = ReActAgent("b", ScriptedModel([lambda msgs: f"B({msgs[-1].text})"]))
    out = await sequential_pipeline([a, b], Msg.user("x"))
    assert out is not None and out.text == "B(A(x))"
    c = ReActAgent("c", ScriptedModel([lambda msgs: f"C({msgs[-1].text})"]))
    d = ReActAgent("d", ScriptedModel([lambda msgs: f"D({msgs[-1].text})"]))
    outs = await fanout_pipeline([c, d], "y")
    assert [m.text for m in outs] == ["C(y)", "D(y)"]
