"""The built-in ``pause`` task, and ``nornflow run TASK --args k=v`` (with NornFlow 1.0's one-string form)."""

from __future__ import annotations

import io
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nornflow.cli.app import app, parse_assignments
from nornflow.cli.project import create_project
from nornflow.exceptions import UsageError
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings


def engine(tmp_path: Path, n: int = 3) -> NornFlow:
    hosts = {f"h{i}": {} for i in range(n)}
    return NornFlow(Settings(base_dir=tmp_path), inventory=inventory_from_data(hosts), workers=n)


def run_pause(tmp_path: Path, n: int = 3, dry_run: bool = False, **task: Any) -> Any:
    wf = {"workflow": {"name": "p", "tasks": [{"name": "pause", **task}]}}
    return engine(tmp_path, n).run(wf, dry_run=dry_run)


def test_pause_waits_on_every_host_side_by_side(tmp_path: Path) -> None:
    started = time.perf_counter()
    res = run_pause(tmp_path, n=16, args={"seconds": 0.25, "msg": "settling"})
    elapsed = time.perf_counter() - started
    assert res.exit_code == 0 and {r.result for r in res.tasks[0]} == {"paused 0.25s: settling"}
    # the runner starts its workers once two hosts turned out to wait: ~3 pauses, not 16 (4 s) in a row
    assert 0.25 <= elapsed < 2.5


def test_pause_once_for_the_run_with_run_once_and_minutes(tmp_path: Path) -> None:
    res = run_pause(tmp_path, args={"minutes": 0.005}, run_once=True)
    assert [r.status for r in res.tasks[0]] == ["ok", "skipped", "skipped"]
    assert res.tasks[0]["h0"].result == "paused 0.3s"


def test_nornflow_1s_timer_is_seconds(tmp_path: Path) -> None:
    assert run_pause(tmp_path, n=1, args={"timer": 0.05}).tasks[0]["h0"].result == "paused 0.05s"


def test_pause_does_not_wait_in_dry_run(tmp_path: Path) -> None:
    started = time.perf_counter()
    res = run_pause(tmp_path, dry_run=True, args={"minutes": 10})
    assert time.perf_counter() - started < 5 and res.tasks[0]["h1"].result == "dry run: would pause 600s"
    assert run_pause(tmp_path, n=1, dry_run=True).tasks[0]["h0"].result == "dry run: would pause for Enter"


class _Terminal(io.StringIO):
    def __init__(self, text: str, tty: bool) -> None:
        super().__init__(text)
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def test_a_prompt_without_a_terminal_fails_the_host_instead_of_going_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal("\n", tty=False))
    res = run_pause(tmp_path, n=1, args={"prompt": "Reboot now?"})
    assert res.exit_code == 1
    assert "needs an interactive terminal" in res.tasks[0]["h0"].error.message


def test_a_prompt_on_a_terminal_waits_for_enter_one_host_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal("\n\n", tty=True))
    res = run_pause(tmp_path, n=2, args={"msg": "check the console"})
    assert [r.result for r in res.tasks[0]] == ["continued after Enter: check the console"] * 2
    err = capsys.readouterr().err
    assert err.count("check the console - Press Enter to continue") == 2 and "[h0]" in err and "[h1]" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"seconds": -1}, "seconds must be a number"),
        ({"seconds": "soon"}, "seconds must be a number"),
        ({"timer": 3, "seconds": 1}, "not both"),
        ({"seconds": 2, "prompt": "ok?"}, "a duration (seconds, minutes) or a prompt"),
    ],
)
def test_bad_pause_args_fail_the_host_with_a_clear_message(tmp_path: Path, args: dict, message: str) -> None:
    res = run_pause(tmp_path, n=1, args=args)
    assert res.exit_code == 1 and message in res.tasks[0]["h0"].error.message


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        (["msg=hi"], {"msg": "hi"}),
        (["n=3", "flag=true"], {"n": 3, "flag": True}),
        (["msg=a,b"], {"msg": "a,b"}),  # a comma not followed by key= belongs to the value
        (["greeting='Hello', user='Network Team'"], {"greeting": "Hello", "user": "Network Team"}),
        (["a=[1, 2], b={'k': 'v, w'}, c='x, d=y'"], {"a": [1, 2], "b": {"k": "v, w"}, "c": "x, d=y"}),
    ],
)
def test_parse_assignments(items: list[str], expected: dict[str, Any]) -> None:
    assert parse_assignments(items) == expected


@pytest.mark.parametrize("item", ["a", "=1", " = 2"])
def test_parse_assignments_refuses_a_pair_without_a_key(item: str) -> None:
    with pytest.raises(UsageError, match="takes key=value"):
        parse_assignments([item], "--args")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    create_project(tmp_path)
    return tmp_path


def cli(project: Path, *args: str) -> Any:
    old = Path.cwd()
    os.chdir(project)
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


def test_run_a_task_by_name_with_args(project: Path) -> None:
    result = cli(project, "run", "echo", "--args", "msg=hi from {{ host.name }}", "-f", "hosts=r1")
    assert result.exit_code == 0, result.output
    assert "hi from r1" in result.output
    result = cli(project, "run", "set", "-a", "x=1, y='two'", "-a", "z=[1, 2]", "--json")
    data = json.loads(result.stdout)
    assert data["variables"]["r2"] == {"x": 1, "y": "two", "z": [1, 2]}


def test_args_for_a_workflow_is_a_usage_error_and_an_unknown_task_is_invalid(project: Path) -> None:
    result = cli(project, "run", "hello", "--args", "x=1")
    assert result.exit_code == 2 and "'hello' is a workflow" in result.output
    result = cli(project, "run", "ech", "--args", "x=1")
    assert (
        result.exit_code == 3
        and "unknown task 'ech'" in result.output
        and "Did you mean 'echo'" in result.output
    )
