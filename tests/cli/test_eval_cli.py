"""``roost eval run`` as CI runs it: a file dataset, a table, an HTML report, and the exit
status of the gate; ``roost replay`` and ``roost release`` on the same store."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from roost.cli import main as cli

cli._register()
runner = CliRunner()

APP = """
import sys
sys.path.insert(0, {tests!r})
from evals.apps import make_app
app = make_app(store_url={db!r})
"""


def _setup(tmp_path: Path, monkeypatch) -> str:
    tests = str(Path(__file__).parent.parent)
    (tmp_path / "calcapp.py").write_text(
        APP.format(tests=tests, db=f"sqlite:///{tmp_path / 'c.db'}")
    )
    (tmp_path / "cases.jsonl").write_text(
        "\n".join(
            json.dumps(c)
            for c in (
                {"input": "What is 1 plus 2?", "expected": "3", "tool_calls": [{"name": "add"}]},
                {"input": "What is 2 plus 2?", "expected": "4"},
            )
        )
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("calcapp", None)
    return str(tmp_path / "cases.jsonl")


def test_eval_run_passes_then_fails_its_gate_against_the_baseline(tmp_path, monkeypatch):
    cases = _setup(tmp_path, monkeypatch)
    first = runner.invoke(
        cli.app,
        [
            "eval",
            "run",
            cases,
            "--app",
            "calcapp:app",
            "--agent",
            "calc@v1",
            "--gate",
            "pass_rate>=0.9",
            "--json",
        ],
    )
    assert first.exit_code == 0, first.output
    base = json.loads(first.stdout.strip().splitlines()[-1])
    assert base["pass_rate"] == 1.0

    sys.modules.pop("calcapp", None)
    report = tmp_path / "report.html"
    second = runner.invoke(
        cli.app,
        [
            "eval",
            "run",
            cases,
            "--app",
            "calcapp:app",
            "--agent",
            "calc@v2",
            "--baseline",
            base["experiment"],
            "--gate",
            "pass_rate>=0.9,regressions==0",
            "--report",
            str(report),
        ],
    )
    assert second.exit_code == 1, second.output
    # v2 guesses "4" without its tool: right for 2+2 only
    assert "1 worse" in second.output and "FAIL" in second.output
    assert "<svg" in report.read_text()

    bad = runner.invoke(
        cli.app,
        [
            "eval",
            "run",
            cases,
            "--app",
            "calcapp:app",
            "--agent",
            "calc@v1",
            "--gate",
            "pass_rate>>1",
        ],
    )
    assert bad.exit_code == 2 and "eval_gate_invalid" in bad.output


def test_release_commands_change_the_policy_in_the_store(tmp_path, monkeypatch):
    _setup(tmp_path, monkeypatch)
    r = runner.invoke(
        cli.app, ["release", "set-weights", "calc", "v1=90", "v2=10", "--app", "calcapp:app"]
    )
    assert r.exit_code == 0, r.output
    assert "weights_set" in r.output
    r = runner.invoke(
        cli.app, ["release", "set-weights", "calc", "v1=90", "v3=10", "--app", "calcapp:app"]
    )
    assert r.exit_code == 2 and "release_policy_invalid" in r.output
    r = runner.invoke(cli.app, ["release", "rollback", "calc", "--app", "calcapp:app"])
    assert r.exit_code == 0 and "rolled_back" in r.output


def test_roost_replay_reproduces_a_run_from_the_store(tmp_path, monkeypatch):
    _setup(tmp_path, monkeypatch)
    import asyncio

    from roost.core import Msg

    async def one_run() -> str:
        import calcapp  # type: ignore[import-not-found]

        app = calcapp.app
        await app.startup()
        try:
            session = await app.store.create_session(app="t", agent="calc@v1")
            handle = await app.services.executor.start(session, [Msg.user("What is 4 plus 4?")])
            await handle.done.wait()
            return str(handle.id)
        finally:
            await app.shutdown()

    run_id = asyncio.run(one_run())
    sys.modules.pop("calcapp", None)
    r = runner.invoke(cli.app, ["replay", run_id, "--app", "calcapp:app"])
    assert r.exit_code == 0, r.output
    assert "identical" in r.output and "The answer is 8." in r.output
