"""The hook catalogue: if/when, run_once, ignore_errors, failed_when/changed_when, retries, loop,
timeout and user hooks — on both hot-path twins, through the engine, and end to end through the CLI."""

from __future__ import annotations

import json
import os
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from nornir.core.task import Result, Task
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project
from nornflow.exceptions import HookValidationError
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings

# -- tasks used by the workflows (referenced by dotted path) ---------------------------------------

_ATTEMPTS: dict[tuple[str, str], int] = {}
_LOCK = threading.Lock()


def flaky(task: Task, fail_times: int = 1, key: str = "") -> Result:
    """Fail the first ``fail_times`` calls per host (and key), then succeed with the attempt number."""
    k = (task.host.name, key)
    with _LOCK:
        n = _ATTEMPTS[k] = _ATTEMPTS.get(k, 0) + 1
    if n <= fail_times:
        raise RuntimeError(f"attempt {n} failed")
    return Result(host=task.host, result=n)


def report(task: Task, value: Any = None, fail_hosts: list | None = None, changed: bool = False) -> Result:
    """Return ``value``; fail on the named hosts."""
    if fail_hosts and task.host.name in fail_hosts:
        return Result(host=task.host, result=f"refused {value}", failed=True)
    return Result(host=task.host, result=value, changed=changed)


def nap(task: Task, seconds: float = 0.0, hosts: list | None = None) -> Result:
    """Sleep on the named hosts (all when none named)."""
    import time

    if not hosts or task.host.name in hosts:
        time.sleep(seconds)
    return Result(host=task.host, result="awake")


HERE = __name__


def inventory(n: int) -> Any:
    hosts = {
        f"h{i:04d}": {
            "platform": "cisco_ios" if i % 2 else "arista_eos",
            "groups": ["even" if i % 2 == 0 else "odd"],
            "data": {"index": i, **({"only_odd": f"o{i}"} if i % 2 else {})},
        }
        for i in range(n)
    }
    return inventory_from_data(hosts, {"even": {}, "odd": {}})


def engine(tmp_path: Path, n: int, workers: int = 4) -> NornFlow:
    return NornFlow(Settings(base_dir=tmp_path), inventory=inventory(n), workers=workers)


def flow(*tasks: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"workflow": {"name": "t", "tasks": list(tasks), **extra}}


@pytest.fixture(autouse=True)
def _reset_attempts():
    _ATTEMPTS.clear()


# -- if / when ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["if", "when"])
def test_if_skips_hosts_and_never_renders_their_args(impl, tmp_path, key):
    nf = engine(tmp_path, 10, workers=24)
    res = nf.run(
        flow(
            {
                "name": "echo",
                "args": {"msg": "{{ host.only_odd }}"},
                key: "host.platform == 'cisco_ios'",
                "set_to": "seen",
            },
            {"name": "echo", "args": {"msg": "{{ seen | default('none') }}"}},
        )
    )
    first = res.tasks[0]
    assert [r.host for r in first if r.status == "ok"] == [f"h{i:04d}" for i in range(1, 10, 2)]
    assert all(r.skip_reason == f"{key} condition is false" for r in first if r.status == "skipped")
    assert res.exit_code == 0  # the even hosts never rendered {{ host.only_odd }}
    assert res.tasks[1]["h0003"].result == "o3" and res.tasks[1]["h0002"].result == "none"


def test_if_with_an_inventory_filter(impl, tmp_path):
    res = engine(tmp_path, 6).run(flow({"name": "echo", "if": {"groups": ["even"]}}))
    assert [r.host for r in res.tasks[0] if r.status == "ok"] == ["h0000", "h0002", "h0004"]


@pytest.mark.parametrize(
    ("hook", "message"),
    [
        ({"if": "host.name =="}, "invalid expression"),
        ({"if": {"groups": ["a"], "platform": "x"}}, "one-key mapping"),
        ({"if": 3}, "Jinja2 expression"),
        ({"if": "x", "when": "y"}, "aliases"),
        ({"run_once": "yes"}, "true or false"),
        ({"ignore_errors": 1}, "true or false"),
        ({"failed_when": ""}, "Jinja2 expression"),
        ({"retries": {"count": -1}}, "count"),
        ({"retries": {"count": 2, "dealy": 1}}, "unknown key"),
        ({"retries": {"count": 2, "until": "result =="}}, "invalid expression"),
        ({"loop": 5}, "list"),
        ({"timeout": 0}, "seconds > 0"),
        ({"timeout": "soon"}, "seconds > 0"),
    ],
)
def test_bad_hook_values_fail_validation_before_the_run(impl, tmp_path, hook, message):
    nf = engine(tmp_path, 2)
    with pytest.raises(HookValidationError, match=message) as info:
        nf.run(
            flow(
                {"name": "write_file", "args": {"filename": str(tmp_path / "x"), "content": "x"}},
                {"name": "echo", **hook},
            )
        )
    assert info.value.task == "echo" or "echo" in str(info.value)
    assert not (tmp_path / "x").exists()


# -- run_once ---------------------------------------------------------------------------------------


def test_run_once_runs_on_the_first_eligible_host_whatever_the_workers(impl, tmp_path):
    for workers in (1, 4, 32):
        res = engine(tmp_path, 200, workers=workers).run(
            flow(
                {"name": "echo", "args": {"msg": "once"}, "run_once": True},
                {"name": "echo", "args": {"msg": "odd once"}, "run_once": True, "if": "host.index > 6"},
                {"name": "echo", "args": {"msg": "all"}},
            )
        )
        ran = [[r.host for r in t if r.status == "ok"] for t in res.tasks]
        assert ran[0] == ["h0000"], workers
        assert ran[1] == ["h0007"], workers  # first host in inventory order that passes the condition
        assert len(ran[2]) == 200
        skipped = res.tasks[0]["h0001"]
        assert skipped.status == "skipped" and skipped.skip_reason == "run_once: ran on another host"
        assert res.exit_code == 0


def test_run_once_runs_again_on_each_workflow_run(impl, tmp_path):
    nf = engine(tmp_path, 20, workers=8)
    for _ in range(3):
        res = nf.run(flow({"name": "echo", "run_once": True, "set_to": "marker"}))
        assert res.tasks[0].counts()["ok"] == 1
        assert list(res.variables) == ["h0000"]


def test_run_once_with_loop_is_meaningful(impl, tmp_path):
    res = engine(tmp_path, 5).run(
        flow({"name": "echo", "args": {"msg": "{{ item }}"}, "run_once": True, "loop": ["a", "b"]})
    )
    assert res.tasks[0]["h0000"].result == ["a", "b"]
    assert res.tasks[0].counts() == {
        "ok": 1,
        "changed": 0,
        "failed": 0,
        "skipped": 4,
        "ignored": 0,
        "not_run": 0,
        "ran": 1,
    }


# -- ignore_errors, failed_when, changed_when --------------------------------------------------------


def test_ignore_errors_keeps_the_host_and_the_exit_code(impl, tmp_path):
    res = engine(tmp_path, 4).run(
        flow(
            {"name": f"{HERE}.report", "args": {"value": 1, "fail_hosts": ["h0001"]}, "ignore_errors": True},
            {"name": "echo", "args": {"msg": "after"}},
        )
    )
    first = res.tasks[0]["h0001"]
    assert first.failed and first.ignored and first.status == "failed"
    assert first.error is not None and first.error.ignored
    assert res.tasks[1]["h0001"].status == "ok"  # not removed from later tasks
    assert res.exit_code == 0 and res.failed_hosts == []
    assert res.tasks[0].counts()["ignored"] == 1


def test_failed_when_and_changed_when_redefine_the_result(impl, tmp_path):
    res = engine(tmp_path, 4).run(
        flow(
            {
                "name": f"{HERE}.report",
                "args": {"value": "{{ host.index }}"},
                "failed_when": "result | int >= 2",
                "changed_when": "result | int == 1",
                "set_to": {"bad": "failed"},
            },
            {
                "name": f"{HERE}.report",
                "args": {"value": "ok", "fail_hosts": ["h0000"]},
                "failed_when": "false",
            },
            {"name": "echo", "args": {"msg": "{{ bad }}"}},
        )
    )
    first = res.tasks[0]
    assert [first[h].status for h in ("h0000", "h0001", "h0002", "h0003")] == [
        "ok",
        "changed",
        "failed",
        "failed",
    ]
    assert "failed_when condition is true" in first["h0002"].error.message
    assert res.tasks[1]["h0000"].status == "ok"  # a reported failure redefined as success
    third = res.tasks[2]
    assert third["h0000"].result is False and third["h0001"].result is False
    assert third["h0002"].status == "skipped"  # the failure strategy saw the redefined failure
    assert res.exit_code == 1 and res.failed_hosts == ["h0002", "h0003"]


# -- retries -----------------------------------------------------------------------------------------


def test_retries_rerun_failed_tasks_per_host_with_many_workers(impl, tmp_path):
    res = engine(tmp_path, 300, workers=24).run(
        flow(
            {
                "name": f"{HERE}.flaky",
                "args": {"fail_times": 2, "key": "a"},
                "retries": {"count": 3, "delay": 0},
            },
            {"name": f"{HERE}.flaky", "args": {"fail_times": 5, "key": "b"}, "retries": 2},
        )
    )
    ok = res.tasks[0]
    assert ok.counts()["ok"] == 300
    assert all(r.result == 3 and r.extra["attempts"] == 3 for r in ok)
    bad = res.tasks[1]
    assert bad.counts()["failed"] == 300
    assert all(r.extra["attempts"] == 3 and "attempt 3 failed" in r.error.message for r in bad)
    assert res.exit_code == 1


def test_retries_until_condition(impl, tmp_path):
    res = engine(tmp_path, 2).run(
        flow(
            {
                "name": f"{HERE}.flaky",
                "args": {"fail_times": 0, "key": "u"},
                "retries": {"count": 5, "delay": 0.001, "until": "result >= 3"},
            },
            {
                "name": f"{HERE}.flaky",
                "args": {"fail_times": 0, "key": "v"},
                "retries": {"count": 1, "until": "result >= 3"},
            },
        )
    )
    assert res.tasks[0]["h0000"].result == 3 and res.tasks[0]["h0000"].extra["attempts"] == 3
    never = res.tasks[1]["h0001"]
    assert (
        never.status == "failed" and "'until' condition still false after 2 attempt(s)" in never.error.message
    )


# -- loop ---------------------------------------------------------------------------------------------


def test_loop_runs_once_per_item_and_keeps_results_per_item(impl, tmp_path):
    res = engine(tmp_path, 3, workers=8).run(
        flow(
            {
                "name": "echo",
                "args": {"msg": "{{ host.name }}:{{ item }}"},
                "loop": ["a", "b", "c"],
                "set_to": "all",
            },
            {
                "name": f"{HERE}.report",
                "args": {"value": "{{ item.value }}", "fail_hosts": ["h0002"]},
                "loop": "{{ {'x': 1, 'y': host.index} }}",
            },
            {"name": "echo", "args": {"msg": "{{ all | join(',') }}"}},
        )
    )
    first = res.tasks[0]["h0001"]
    assert first.result == ["h0001:a", "h0001:b", "h0001:c"]
    assert [i["item"] for i in first.extra["items"]] == ["a", "b", "c"]
    second = res.tasks[1]
    assert second["h0001"].result == [1, 1]
    assert second["h0002"].status == "failed"
    assert [i["status"] for i in second["h0002"].extra["items"]] == ["failed", "failed"]
    assert res.tasks[2]["h0000"].result == "h0000:a,h0000:b,h0000:c"


def test_loop_expression_that_is_not_a_list_fails_that_host(impl, tmp_path):
    res = engine(tmp_path, 2).run(flow({"name": "echo", "loop": "host.index"}))
    err = res.tasks[0]["h0000"].error
    assert res.tasks[0]["h0000"].status == "failed" and err.hook == "loop" and "not a list" in err.message


# -- timeout -----------------------------------------------------------------------------------------


def test_timeout_fails_only_the_slow_host(impl, tmp_path):
    res = engine(tmp_path, 4, workers=4).run(
        flow(
            {"name": f"{HERE}.nap", "args": {"seconds": 1.0, "hosts": ["h0002"]}, "timeout": 0.2},
        )
    )
    t = res.tasks[0]
    assert t["h0002"].status == "failed" and t["h0002"].error.type == "TaskTimeoutError"
    assert "exceeded its timeout of 0.2s" in t["h0002"].error.message
    assert [t[h].status for h in ("h0000", "h0001", "h0003")] == ["ok", "ok", "ok"]


def test_timeout_with_retries_bounds_each_attempt(impl, tmp_path):
    res = engine(tmp_path, 1).run(
        flow(
            {"name": f"{HERE}.nap", "args": {"seconds": 0.5}, "timeout": 0.05, "retries": {"count": 1}},
        )
    )
    r = res.tasks[0]["h0000"]
    assert r.status == "failed" and r.extra["attempts"] == 2 and r.error.type == "TaskTimeoutError"


# -- end to end through the CLI ---------------------------------------------------------------------

TASKS = """
import threading
from nornir.core.task import Result, Task

_N = {}
_L = threading.Lock()


def flaky(task: Task, fail_times: int = 1) -> Result:
    with _L:
        n = _N[task.host.name] = _N.get(task.host.name, 0) + 1
    if n <= fail_times:
        raise RuntimeError(f"attempt {n} failed")
    return Result(host=task.host, result=n)


def status(task: Task, code: int = 0) -> Result:
    return Result(host=task.host, result={"code": code, "host": task.host.name})
"""

HOOK = '''
from nornflow.hooks import PostRunHook, register_hook


@register_hook
class Stamp(PostRunHook):
    """Store '<value>:<host>' in the host variable 'stamp'."""

    hook_name = "stamp"

    def _run_hook(self, task_model, host, result, vars_mgr):
        vars_mgr.set_runtime_var(host, "stamp", f"{self.value}:{host.name}")
'''

WORKFLOW = """\
workflow:
  name: catalogue
  tasks:
    - name: status
      args: {code: 3}
      when: "host.platform == 'cisco_ios'"
      set_to: {code: result.code}
    - name: echo
      args: {msg: "leader {{ host.name }}"}
      run_once: true
    - name: flaky
      args: {fail_times: 1}
      retries: {count: 2}
      stamp: v1
    - name: status
      args: {code: "{{ item }}"}
      loop: [1, 2]
      failed_when: "result.code == 2 and host.name == 'r2'"
      ignore_errors: true
    - name: echo
      args: {msg: "{{ code | default('no code') }} {{ stamp }}"}
"""


def test_catalogue_end_to_end_through_the_cli(tmp_path: Path):
    create_project(tmp_path)
    (tmp_path / "tasks" / "extra.py").write_text(textwrap.dedent(TASKS))
    (tmp_path / "hooks" / "stamp.py").write_text(textwrap.dedent(HOOK))
    (tmp_path / "workflows" / "catalogue.yaml").write_text(WORKFLOW)
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["run", "catalogue", "--workers", "20", "--json"], catch_exceptions=False)
        shown = runner.invoke(app, ["show", "hooks"], catch_exceptions=False).output
        human = runner.invoke(app, ["run", "catalogue", "--workers", "20"], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    when, once, retried, looped, last = data["tasks"]
    assert {h: v["status"] for h, v in when["hosts"].items()} == {
        "r1": "ok",
        "r2": "ok",
        "sw1": "skipped",
        "fw1": "skipped",
    }
    assert [h for h, v in once["hosts"].items() if v["status"] == "ok"] == ["r1"]
    assert all(v["attempts"] == 2 and v["result"] == 2 for v in retried["hosts"].values())
    assert looped["hosts"]["r2"]["status"] == "failed" and looped["hosts"]["r2"]["ignored"] is True
    assert looped["counts"]["ignored"] == 1
    assert last["hosts"]["r1"]["result"] == "3 v1:r1" and last["hosts"]["sw1"]["result"] == "no code v1:sw1"
    assert "stamp" in shown and "Store '<value>:<host>'" in shown and "stamp.py" in shown
    assert human.exit_code == 0 and "failed (ignored)" in human.output


def test_failed_when_never_hides_a_task_that_raised(impl, tmp_path):
    """A connection error has no result to judge: failed_when/changed_when leave it failed."""
    res = engine(tmp_path, 3).run(
        flow(
            {
                "name": f"{HERE}.flaky",
                "args": {"fail_times": 1, "key": "r"},
                "failed_when": "false",
                "changed_when": "true",
                "if": "host.index == 0",
            },
            {
                "name": f"{HERE}.flaky",
                "args": {"fail_times": 1, "key": "{{ item }}"},
                "loop": ["a", "b"],
                "failed_when": "false",
                "if": "host.index == 1",
            },
        )
    )
    raised = res.tasks[0]["h0000"]
    assert raised.status == "failed" and raised.error.type == "RuntimeError"
    looped = res.tasks[1]["h0001"]
    assert looped.status == "failed" and [i["status"] for i in looped.extra["items"]] == ["failed", "failed"]


def test_failed_when_failure_names_the_hook(impl, tmp_path):
    res = engine(tmp_path, 1).run(flow({"name": "echo", "args": {"msg": "x"}, "failed_when": "true"}))
    assert res.tasks[0]["h0000"].error.hook == "failed_when"
