"""Fault isolation: one host's failure (task, pre-hook, post-hook, template) never takes the run down.

Only the failing host fails that task; the others complete; the failure strategy decides what happens
next; the console and ``--json`` name the host, the task and the hook; and the exit code never rounds a
failure away (1 if any host failed, 0 only when every failure was ignored with ``ignore_errors``).
"""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from nornir.core.task import Result, Task
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project
from nornflow.hooks.base import PostRunHook, PreRunHook
from nornflow.hooks.registry import register_hook

runner = CliRunner()
HOSTS = ["r1", "r2", "sw1", "fw1"]  # inventory order of the init project


def cli(project: Path, *args: str) -> Any:
    old = Path.cwd()
    os.chdir(project)
    try:
        return runner.invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


class ExplodePre(PreRunHook):
    """Raises before the task on the hosts listed in its value."""

    hook_name = "explode_pre"

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool:
        if host.name in self.value:
            raise RuntimeError(f"pre-hook blew up on {host.name}")
        return True


class ExplodePost(PostRunHook):
    """Raises after the task on the hosts listed in its value."""

    hook_name = "explode_post"

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        if host.name in self.value:
            raise ValueError(f"post-hook blew up on {host.name}")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The init project, a task that raises on r2, the exploding hooks, and data r2 lacks."""
    create_project(tmp_path)
    (tmp_path / "tasks" / "faulty.py").write_text(
        textwrap.dedent(
            """\
            from nornir.core.task import Result, Task


            def flaky(task: Task) -> Result:
                if task.host.name == "r2":
                    raise RuntimeError("device said no")
                return Result(host=task.host, result="fine")
            """
        )
    )
    hosts = yaml.safe_load((tmp_path / "inventory" / "hosts.yaml").read_text())
    for name in ("r1", "sw1", "fw1"):
        hosts[name]["data"]["loopback"] = f"lo-{name}"
    (tmp_path / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    register_hook(ExplodePre)
    register_hook(ExplodePost)
    return tmp_path


#: One faulty first task per kind of fault, each failing on r2 only: (task, error type, message, hook).
FAULTS: dict[str, tuple[dict[str, Any], str, str, str | None]] = {
    "task": ({"name": "flaky"}, "RuntimeError", "device said no", None),
    "pre_hook": (
        {"name": "echo", "args": {"msg": "hi"}, "explode_pre": ["r2"]},
        "HookExecutionError",
        "RuntimeError: pre-hook blew up on r2",
        "explode_pre",
    ),
    "post_hook": (
        {"name": "echo", "args": {"msg": "hi"}, "explode_post": ["r2"]},
        "HookExecutionError",
        "ValueError: post-hook blew up on r2",
        "explode_post",
    ),
    "template": (
        {"name": "echo", "args": {"msg": "{{ host.loopback }}"}},
        "VariableError",
        "undefined variable 'loopback'",
        None,
    ),
}


def write_workflow(project: Path, first: dict[str, Any], strategy: str | None = None) -> str:
    body: dict[str, Any] = {"name": "faults", "tasks": [first, {"name": "echo", "args": {"msg": "after"}}]}
    if strategy:
        body["failure_strategy"] = strategy
    (project / "workflows" / "faults.yaml").write_text(yaml.safe_dump({"workflow": body}, sort_keys=False))
    return "faults"


def run_json(project: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    result = cli(project, "run", *args, "--json")
    assert "Traceback" not in result.stderr  # a host's failure is reported, not a crash
    return result.exit_code, json.loads(result.stdout), result.stderr


@pytest.mark.parametrize("kind", list(FAULTS))
def test_one_host_fault_fails_only_that_host_and_the_run_goes_on(project: Path, kind: str):
    first, etype, message, hook = FAULTS[kind]
    name = write_workflow(project, first)
    code, data, _ = run_json(project, name)

    assert code == 1 and data["exit_code"] == 1 and data["status"] == "failed"
    assert data["failed_hosts"] == ["r2"]
    faulty, after = data["tasks"]
    assert faulty["name"] == first["name"]
    assert faulty["counts"] == {
        "ok": 3,
        "changed": 0,
        "failed": 1,
        "skipped": 0,
        "ignored": 0,
        "not_run": 0,
        "ran": 4,
    }
    error = faulty["hosts"]["r2"]["error"]
    assert error["type"] == etype and message in error["message"]
    assert error.get("hook") == hook
    assert all(faulty["hosts"][h]["status"] == "ok" for h in HOSTS if h != "r2")
    # skip-failed (the default): the later task leaves r2 out, says why, runs everywhere else
    assert after["hosts"]["r2"]["status"] == "skipped"
    assert after["hosts"]["r2"]["skip_reason"] == "failed in an earlier task"
    assert all(after["hosts"][h]["result"] == "after" for h in HOSTS if h != "r2")

    # the console names the task (section header and recap), the host, the hook and the error
    console = cli(project, "run", name)
    assert console.exit_code == 1
    out = console.output
    assert "Traceback" not in out
    section = out.split(f"1. {first['name']}", 1)[1].split("2. echo", 1)[0]
    line = next(ln for ln in section.splitlines() if "r2" in ln)
    assert "failed" in line and message in line and etype in line
    if hook:
        assert f"[hook {hook}]" in line
    assert "FAILED 4 host(s): 3 ok, 1 failed" in out
    assert "skipped" in out.split("2. echo", 1)[1] and "failed in an earlier task" in out


@pytest.mark.parametrize("kind", list(FAULTS))
def test_run_all_runs_later_tasks_on_the_failed_host_and_still_exits_1(project: Path, kind: str):
    name = write_workflow(project, FAULTS[kind][0], strategy="run-all")
    code, data, _ = run_json(project, name)
    assert code == 1 and data["exit_code"] == 1
    assert data["tasks"][0]["hosts"]["r2"]["status"] == "failed"
    # r2 recovered in the later task: the run still failed
    assert all(h["status"] == "ok" for h in data["tasks"][1]["hosts"].values())
    assert data["failed_hosts"] == ["r2"]


@pytest.mark.parametrize("kind", list(FAULTS))
def test_fail_fast_stops_after_the_failing_host(project: Path, kind: str):
    name = write_workflow(project, FAULTS[kind][0])
    code, data, err = run_json(project, name, "--failure-strategy", "fail-fast", "--workers", "1")
    assert code == 1 and data["exit_code"] == 1
    assert data["stopped"].startswith(f"fail-fast: host 'r2' failed task {FAULTS[kind][0]['name']!r}")
    first = data["tasks"][0]["hosts"]
    assert first["r1"]["status"] == "ok" and first["r2"]["status"] == "failed"
    for host in ("sw1", "fw1"):
        assert first[host]["status"] == "not_run"
        assert first[host]["skip_reason"] == "run stopped before this host"
    assert {h["skip_reason"] for h in data["tasks"][1]["hosts"].values()} == {"run stopped (fail-fast)"}
    assert "fail-fast" in err


@pytest.mark.parametrize("kind", ["task", "template"])
def test_ignore_errors_reports_the_failure_but_exits_0(project: Path, kind: str):
    first, etype, message, _ = FAULTS[kind]
    name = write_workflow(project, {**first, "ignore_errors": True})
    code, data, _ = run_json(project, name)
    assert code == 0 and data["exit_code"] == 0 and data["status"] == "ok"
    r2 = data["tasks"][0]["hosts"]["r2"]
    assert r2["status"] == "failed" and r2["ignored"] is True
    assert r2["error"]["type"] == etype and message in r2["error"]["message"]
    assert data["tasks"][0]["counts"]["ignored"] == 1
    # an ignored failure does not leave the host out of later tasks
    assert data["tasks"][1]["hosts"]["r2"]["status"] == "ok"
    console = cli(project, "run", name)
    assert console.exit_code == 0 and "failed (ignored)" in console.output


def test_an_ignored_failure_does_not_hide_a_real_one(project: Path):
    body = {
        "name": "mixed",
        "tasks": [
            {"name": "flaky", "ignore_errors": True},
            {"name": "echo", "args": {"msg": "{{ host.loopback }}"}},
        ],
    }
    (project / "workflows" / "mixed.yaml").write_text(yaml.safe_dump({"workflow": body}))
    code, data, _ = run_json(project, "mixed")
    assert code == 1 and data["exit_code"] == 1 and data["failed_hosts"] == ["r2"]


# -- fail-fast on a big fleet -----------------------------------------------------------------------------


def test_fail_fast_on_many_hosts_stops_scheduling_promptly(tmp_path: Path):
    create_project(tmp_path)
    n_hosts, workers, bad = 2000, 8, 40
    hosts = {f"h{i:04d}": {"data": {"i": i}} for i in range(n_hosts)}
    (tmp_path / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (tmp_path / "tasks" / "slow.py").write_text(
        textwrap.dedent(
            f"""\
            import time

            from nornir.core.task import Result, Task


            def slow(task: Task) -> Result:
                time.sleep(0.002)
                if task.host["i"] == {bad}:
                    raise RuntimeError("bad device")
                return Result(host=task.host, result="ok")
            """
        )
    )
    body = {"name": "big", "failure_strategy": "fail-fast", "tasks": [{"name": "slow"}, {"name": "echo"}]}
    (tmp_path / "workflows" / "big.yaml").write_text(yaml.safe_dump({"workflow": body}))

    code, data, err = run_json(tmp_path, "big", "--workers", str(workers))
    assert code == 1 and data["exit_code"] == 1
    assert data["stopped"].startswith(f"fail-fast: host 'h{bad:04d}' failed task 'slow'")
    first = data["tasks"][0]
    ran = [h for h, r in first["hosts"].items() if r["status"] != "not_run"]
    # the failing host, the hosts before it, and at most what the workers had in flight
    assert len(ran) <= bad + 1 + 2 * workers, f"{len(ran)} hosts ran after the failure"
    assert first["counts"]["not_run"] >= n_hosts - (bad + 1 + 2 * workers)
    assert first["counts"]["ran"] == len(ran) and first["counts"]["skipped"] == 0
    not_run = {r.get("skip_reason") for h, r in first["hosts"].items() if h not in ran}
    assert not_run == {"run stopped before this host"}
    assert first["counts"]["failed"] >= 1 and data["failed_hosts"][0] == f"h{bad:04d}"
    assert data["tasks"][1]["counts"]["not_run"] == n_hosts
    assert data["host_counts"]["not_run"] == n_hosts - len(ran)
    # the console says so: the failure, and why the rest did not run
    assert f"h{bad:04d}" in err and "RuntimeError: bad device" in err
    assert "fail-fast" in err and "no new host was scheduled" in err


def exits(task: Task) -> Result:
    """A task that calls sys.exit() on one host."""
    import sys

    if task.host.name == "r2":
        sys.exit(3)
    return Result(host=task.host, result="fine")


def test_a_task_calling_sys_exit_fails_only_its_host(impl, tmp_path):
    from nornflow.inventory import inventory_from_data
    from nornflow.run.api import NornFlow
    from nornflow.settings import Settings

    inv = inventory_from_data({name: {} for name in ("r1", "r2", "r3")})
    res = NornFlow(Settings(base_dir=tmp_path), inventory=inv, workers=3).run(
        {"workflow": {"name": "x", "tasks": [{"name": f"{__name__}.exits"}, {"name": "echo"}]}}
    )
    first = res.tasks[0]
    assert first["r2"].status == "failed" and first["r2"].error.type == "SystemExit"
    assert first["r1"].status == "ok" and first["r3"].status == "ok"
    assert res.tasks[1]["r3"].status == "ok" and res.exit_code == 1


def test_a_broken_host_step_is_reported_failed_never_not_run(impl, tmp_path, monkeypatch):
    """If the per-host step itself raised (a nornflow bug), the runner keeps the exception: the engine
    must report that host failed and exit 1, not show it as 'not run' and exit 0."""
    from nornflow.inventory import inventory_from_data
    from nornflow.run.api import NornFlow
    from nornflow.run.executor import LocalExecutor
    from nornflow.settings import Settings

    original = LocalExecutor._bind

    def broken_bind(self, task, result, positions, run):
        step = original(self, task, result, positions, run)

        def wrapper(k):
            if step.hosts[k].name == "r2":
                raise RuntimeError("step exploded")
            return step(k)

        wrapper.positions = step.positions  # type: ignore[attr-defined]
        wrapper.keep = step.keep  # type: ignore[attr-defined]
        wrapper.codes = step.codes  # type: ignore[attr-defined]
        wrapper.on_failure = step.on_failure  # type: ignore[attr-defined]
        return wrapper

    monkeypatch.setattr(LocalExecutor, "_bind", broken_bind)
    inv = inventory_from_data({name: {} for name in ("r1", "r2", "r3")})
    res = NornFlow(Settings(base_dir=tmp_path), inventory=inv, workers=2).run(
        {"workflow": {"name": "x", "tasks": [{"name": "echo"}]}}
    )
    assert res.tasks[0]["r2"].status == "failed"
    assert (
        res.tasks[0]["r2"].error.type == "RuntimeError"
        and "step exploded" in res.tasks[0]["r2"].error.message
    )
    assert res.exit_code == 1
