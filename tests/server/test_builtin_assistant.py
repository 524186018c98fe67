"""`roost serve`'s built-in assistant runs code in the session's own bubblewrap sandbox."""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path

from server_support import ADMIN_KEY, new_session

from fake_providers import FakeOpenAIServer, Reply
from roost.server.builtin import create_app


def python_call(call_id: str, code: str) -> Reply:
    return Reply(tool_calls=[(call_id, "execute_python", json.dumps({"code": code}))])


def test_builtin_assistant_keeps_a_sandbox_per_session(served, roost_home) -> None:
    with FakeOpenAIServer() as model:
        model.script(
            python_call("c1", "x = 21 * 2\nx"),
            Reply(text="x is 42"),
            python_call("c2", "x + 1"),
            Reply(text="x + 1 is 43"),
            python_call("c3", "x"),
            Reply(text="no x here"),
        )
        server = served(create_app(f"{model.url}#fake", admin_key=ADMIN_KEY))
        with server.client() as client:
            first = new_session(client)
            for text in ("set x", "add one"):
                r = client.post(f"/v1/sessions/{first}/runs", json={"input": text, "stream": False})
                assert r.status_code == 200, r.text
            other = new_session(client)
            r = client.post(f"/v1/sessions/{other}/runs", json={"input": "x?", "stream": False})
            assert r.status_code == 200, r.text
        tool_results = [
            m["content"]
            for req in model.requests
            for m in req.body["messages"][-1:]
            if m["role"] == "tool"
        ]
    assert "42" in tool_results[0]
    assert "43" in tool_results[1]  # same session, same interpreter: x survived
    assert "NameError" in tool_results[2]  # another session has its own sandbox


def test_deleting_a_session_releases_its_sandbox(served, roost_home) -> None:
    start = "import subprocess\nsubprocess.Popen(['sleep', '617'], start_new_session=True)\n1"
    with FakeOpenAIServer() as model:
        model.script(python_call("c1", start), Reply(text="started"))
        server = served(create_app(f"{model.url}#fake", admin_key=ADMIN_KEY))
        with server.client() as client:
            session = new_session(client)
            r = client.post(f"/v1/sessions/{session}/runs", json={"input": "go", "stream": False})
            assert r.status_code == 200, r.text
            assert _sleeping("617"), "the session's sandbox runs its process"
            assert client.delete(f"/v1/sessions/{session}").status_code == 204
            deadline = time.monotonic() + 10
            while _sleeping("617") and time.monotonic() < deadline:
                time.sleep(0.05)
            assert not _sleeping("617"), "the sandbox ended with its session"


def _sleeping(seconds: str) -> bool:
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        with contextlib.suppress(OSError):
            if cmdline.read_bytes() == f"sleep\0{seconds}\0".encode():
                return True
    return False


def test_builtin_assistant_loads_the_local_model_before_the_first_question(
    served, roost_home, shared_model_home, monkeypatch
) -> None:
    """`roost serve` on the local model starts llama.cpp while it comes up, so the first
    question does not wait for the model to load."""
    from roost.core.settings import get_settings
    from roost.models.install import install_model
    from roost.models.local import LocalModel, _stop_all

    path = install_model("qwen2.5-coder-0.5b", home=shared_model_home, show_progress=False)
    monkeypatch.setenv("ROOST_LOCAL_MODEL", str(path))
    monkeypatch.delenv("ROOST_MODEL", raising=False)
    get_settings.cache_clear()
    try:
        local = LocalModel(path=path)  # the same process-wide server as the app's model
        _stop_all()
        before = local.server.generation
        server = served(create_app(admin_key=ADMIN_KEY, sandbox=False))
        deadline = time.monotonic() + 120
        while local.server.generation == before and time.monotonic() < deadline:
            time.sleep(0.1)  # no request has been sent: only the startup hook starts it
        assert local.server.running(), local.server.log_tail()
        started = local.server.generation
        assert started == before + 1
        with server.client() as client:
            session = new_session(client)
            r = client.post(
                f"/v1/sessions/{session}/runs",
                json={"input": "What is the capital of France? One word.", "stream": False},
                timeout=300,  # a small CPU model on a shared machine
            )
            assert r.status_code == 200, r.text
            ready = client.get("/readyz")
            assert ready.status_code == 200, ready.text
            model = ready.json()["checks"]["model"]
            assert model["state"] == "ready" and model["name"] == "qwen2.5-coder-0.5b"
        assert local.server.generation == started  # the request used the early server
    finally:
        _stop_all()


def test_readyz_says_when_the_local_model_failed_to_load(
    served, roost_home, tmp_path, monkeypatch
) -> None:
    from roost.core.settings import get_settings
    from roost.models.local import _stop_all

    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)  # a GGUF header and nothing llama.cpp can load
    monkeypatch.setenv("ROOST_LOCAL_MODEL", str(broken))
    monkeypatch.delenv("ROOST_MODEL", raising=False)
    get_settings.cache_clear()
    try:
        server = served(create_app(admin_key=ADMIN_KEY, sandbox=False))
        with server.client() as client:
            deadline = time.monotonic() + 60
            while True:
                r = client.get("/readyz")
                error = r.json().get("error", {})
                state = error.get("details", {}).get("checks", {}).get("model", {}).get("state")
                if state != "loading" or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert r.status_code == 503, r.text
            body = r.json()["error"]
            assert body["code"] == "not_ready" and "model is failed" in body["message"]
            model = body["details"]["checks"]["model"]
            assert model["ready"] is False and model["name"] == "broken" and model["error"]
            assert client.get("/healthz").status_code == 200  # alive, just not ready
    finally:
        _stop_all()
