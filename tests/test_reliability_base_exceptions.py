"""A ``BaseException`` on one host fails that host only (issue 13, item 6): ``asyncio.CancelledError``
or any other ``BaseException`` subclass raised by a task on 1 host of 2,000 fails that host, the other
1,999 and the later tasks run, the exit code is 1 and ``--json`` is a document; ``KeyboardInterrupt``
still means "interrupt the run"."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from nornir.core.task import Result, Task
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings

N = 2000
BAD = "h1234"


class Fatal(BaseException):
    """Not an Exception: what a broad ``except Exception`` in a runner would miss."""


RAISES: dict[str, type[BaseException]] = {"cancelled": asyncio.CancelledError, "fatal": Fatal}


def explode(task: Task, kind: str) -> Result:
    if task.host.name == BAD:
        raise RAISES[kind](f"{kind} on {task.host.name}")
    return Result(host=task.host, result="fine")


def interrupt(task: Task) -> Result:
    if task.host.name == "h0005":
        raise KeyboardInterrupt
    return Result(host=task.host, result="fine")


def flow(*tasks: dict[str, Any]) -> dict[str, Any]:
    return {"workflow": {"name": "x", "tasks": [*tasks, {"name": "echo", "args": {"msg": "after"}}]}}


def engine(runner: str = "work_queue", n: int = N) -> NornFlow:
    hosts = {f"h{i:04d}": {} for i in range(n)}
    return NornFlow(Settings(runner=runner), inventory=inventory_from_data(hosts), workers=8)


@pytest.mark.parametrize("runner", ["work_queue", "threaded"])
@pytest.mark.parametrize("kind", list(RAISES))
def test_a_base_exception_on_one_host_of_2000_fails_only_that_host(impl, runner: str, kind: str):
    result = engine(runner).run(flow({"name": f"{__name__}.explode", "args": {"kind": kind}}))
    first, after = result.tasks
    assert result.exit_code == 1 and result.failed_hosts == [BAD] and not result.interrupted
    assert first.counts()["ok"] == N - 1 and first.counts()["failed"] == 1
    error = first[BAD].error
    assert error is not None and error.type == RAISES[kind].__name__ and f"{kind} on {BAD}" in error.message
    assert after.counts()["ok"] == N - 1 and after[BAD].skip_reason == "failed in an earlier task"
    json.loads(result.to_json())


@pytest.mark.parametrize("runner", ["work_queue", "threaded", "serial"])
def test_keyboard_interrupt_in_a_task_still_interrupts_the_run(impl, runner: str):
    with pytest.raises(KeyboardInterrupt) as info:  # not swallowed as one host's failure
        engine(runner, n=200).run(flow({"name": f"{__name__}.interrupt"}))
    partial = getattr(info.value, "result", None)  # what was known, marked incomplete
    assert partial is not None and partial.incomplete
    assert partial.tasks[0]["h0005"].status != "failed" and len(partial.tasks) == 1


def test_cli_reports_a_cancelled_host_and_writes_the_json(tmp_path: Path):
    create_project(tmp_path)
    (tmp_path / "tasks" / "boom.py").write_text(
        "import asyncio\nfrom nornir.core.task import Result, Task\n\n\n"
        "def boom(task: Task) -> Result:\n"
        f"    if task.host.name == {BAD!r}:\n"
        "        raise asyncio.CancelledError('token hunter2-secret-value')\n"
        "    return Result(host=task.host, result='fine')\n"
    )
    hosts = {f"h{i:04d}": {"hostname": "192.0.2.1", "password": "hunter2-secret-value"} for i in range(N)}
    (tmp_path / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    body = {"workflow": {"name": "b", "tasks": [{"name": "boom"}, {"name": "echo", "args": {"msg": "x"}}]}}
    (tmp_path / "workflows" / "b.yaml").write_text(yaml.safe_dump(body))
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        result = CliRunner().invoke(app, ["run", "b", "--json"], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.stderr and "hunter2-secret-value" not in result.output
    document = json.loads(result.stdout)
    assert document["failed_hosts"] == [BAD]
    assert document["tasks"][0]["hosts"][BAD]["error"]["type"] == "CancelledError"
    assert document["tasks"][1]["counts"]["ok"] == N - 1
