"""Scale-out on Dask: runs sharded over a real ``distributed.LocalCluster`` give a local run's results.

One two-worker cluster serves the module (``cluster``); the tests that need a cluster of their own
(a killed worker, ``--shards`` starting one) start it through the run. Every project here is a real
project on disk: the shards load it again in the worker processes.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

distributed = pytest.importorskip("distributed")

from typer.testing import CliRunner  # noqa: E402

from nornflow.cli.app import app  # noqa: E402
from nornflow.cli.project import create_project  # noqa: E402
from nornflow.exceptions import SettingsError  # noqa: E402
from nornflow.run.api import NornFlow  # noqa: E402
from nornflow.run.journal import run_dirs  # noqa: E402

pytestmark = pytest.mark.dask

TASKS = '''\
import os
import time
from pathlib import Path

from nornir.core.task import Result, Task


def flaky(task: Task, fail_on: str = "") -> Result:
    """Fails on the hosts named in ``fail_on``."""
    if task.host.name in fail_on.split(","):
        raise RuntimeError(f"{task.host.name} is flaky")
    return Result(host=task.host, result={"host": task.host.name, "site": task.host["site"]})


def counted(task: Task, marks: str) -> Result:
    """Leaves one file per execution in ``marks`` (so executions can be counted) and says where."""
    Path(marks, f"{task.host.name}-{os.getpid()}-{time.monotonic_ns()}").touch()
    return Result(host=task.host, result=task.host.name, changed=True)


def stop_here(task: Task, marks: str, fail: str = "", kill: str = "") -> Result:
    """``fail``: fails at once. ``kill``: kills its own (worker) process. Any other host marks that it
    started, then waits until its shard is told to stop (at most 60 s, then says so)."""
    name = task.host.name
    if name == fail:
        raise RuntimeError(f"{name} fails fast")
    if name == kill:
        os.kill(os.getpid(), 9)
    Path(marks, f"started-{name}").write_text(str(os.getpid()))
    from nornflow.run.distributed import stopping

    deadline = time.monotonic() + 60
    while not stopping():
        if time.monotonic() > deadline:
            return Result(host=task.host, result="never told to stop", failed=True)
        time.sleep(0.01)
    return Result(host=task.host, result="stopped")


def die(task: Task, kill: str = "") -> Result:
    """Kills its own (worker) process on the host ``kill``."""
    if task.host.name == kill:
        os.kill(os.getpid(), 9)
    return Result(host=task.host, result="alive")


def pid(task: Task) -> Result:
    """The process the host runs in."""
    return Result(host=task.host, result=os.getpid())
'''


def _project(root: Path, hosts: int = 8, settings: dict[str, Any] | None = None) -> Path:
    create_project(root)
    inventory = {
        f"r{i}": {"data": {"site": "a" if i % 2 else "b", "n": i, "mgmt_vlan": 10}} for i in range(hosts)
    }
    (root / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(inventory))
    (root / "tasks" / "shardtasks.py").write_text(TASKS)
    (root / "marks").mkdir()
    if settings:
        data = yaml.safe_load((root / "nornflow.yaml").read_text()) or {}
        data.update(settings)
        (root / "nornflow.yaml").write_text(yaml.safe_dump(data))
    return root


def _every_hook(marks: Path) -> dict[str, Any]:
    return {
        "workflow": {
            "name": "every_hook",
            "vars": {"admin_password": "s3cr3t-Pa55", "sites": ["a", "b"]},
            "tasks": [
                {
                    "name": "echo",
                    "args": {"msg": "{{ host.name }} at {{ host.site }}"},
                    "set_to": "greeting",
                    "output": False,
                },
                {"name": "flaky", "args": {"fail_on": "r2"}, "ignore_errors": True},
                {
                    "name": "flaky",
                    "args": {"fail_on": "r5"},
                    "retries": {"count": 1, "delay": 0},
                    "set_to": {"site_of": "result.site"},
                },
                {
                    "name": "echo",
                    "args": {"msg": "{{ item }}-{{ host.name }}"},
                    "loop": "{{ sites }}",
                    "when": {"site": "a"},
                },
                {"name": "counted", "args": {"marks": str(marks)}, "run_once": True, "if": "host.n >= 4"},
                {
                    "name": "echo",
                    "args": {"msg": "single {{ host.name }}"},
                    "single": True,
                    "shush": True,
                    "changed_when": "true",
                    "store_as": "single_out",
                },
                {
                    "name": "counted",
                    "args": {"marks": str(marks)},
                    "failed_when": "host.name == 'r6'",
                    "timeout": 30,
                },
                {"name": "set", "args": {"summary": "{{ greeting }} / {{ site_of }}"}},
                {"name": "echo", "args": {"msg": "{{ admin_password }}"}, "output": False},
            ],
        }
    }


def _strip(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without durations (the only thing a sharded run may change)."""
    doc = json.loads(json.dumps(doc, default=str))
    doc.pop("duration")
    for task in doc["tasks"]:
        task.pop("duration")
        for host in task["hosts"].values():
            host.pop("duration")
    return doc


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A two-worker LocalCluster (worker processes) for the module's runs."""
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        worker_dashboard_address=None,
        memory_limit=0,
    ) as local:
        yield local


def _sharded(cluster: Any, **extra: Any) -> dict[str, Any]:
    return {"kind": "dask", "scheduler": cluster.scheduler_address, **extra}


# -- the same results --------------------------------------------------------------------------------


def test_a_sharded_run_gives_the_local_runs_json_with_every_built_in_hook(
    cluster: Any, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    nf = NornFlow(project / "nornflow.yaml")
    workflow = _every_hook(project / "marks")
    local = nf.run(workflow).to_dict()
    sharded = (
        NornFlow(project / "nornflow.yaml").run(workflow, executor=_sharded(cluster, shards=2)).to_dict()
    )
    assert _strip(sharded) == _strip(local)
    # the workflow does what it says on both sides (so the equality is not between two empty runs)
    tasks = local["tasks"]
    assert tasks[1]["hosts"]["r2"]["ignored"] is True
    assert tasks[2]["hosts"]["r5"]["status"] == "failed" and tasks[3]["hosts"]["r5"]["skip_reason"]
    assert tasks[3]["hosts"]["r1"]["items"] and tasks[3]["hosts"]["r0"]["status"] == "skipped"
    assert [h for h, r in tasks[4]["hosts"].items() if r["status"] != "skipped"] == ["r4"]
    assert tasks[6]["hosts"]["r6"]["status"] == "failed"
    assert local["variables"]["r7"]["summary"] == "r7 at a / a"
    # no host, variable or secret in Dask's task names: only the shards' own keys
    prefixes = set(cluster.scheduler.task_prefixes)
    assert prefixes and all(p.startswith("nornflow-shard") for p in prefixes), prefixes
    assert not any("s3cr3t" in str(k) for k in cluster.scheduler.tasks)


def test_run_once_runs_exactly_once_on_the_first_eligible_host_across_shards(
    cluster: Any, tmp_path: Path
) -> None:
    project = _project(tmp_path)
    marks = project / "marks"
    workflow = {
        "workflow": {
            "name": "once",
            "tasks": [
                # eligible only in the second shard (r4..r7): shard 0 declines, shard 1 runs it on r4
                {"name": "counted", "args": {"marks": str(marks)}, "run_once": True, "if": "host.n >= 4"},
                # eligible everywhere: the first host of the first shard
                {"name": "counted", "args": {"marks": str(marks)}, "run_once": True},
                {"name": "pid"},
            ],
        }
    }
    result = NornFlow(project / "nornflow.yaml").run(workflow, executor=_sharded(cluster, shards=2))
    ran = [[t.hosts[i] for i, c in enumerate(t.codes) if c != 4] for t in result.tasks[:2]]
    assert ran == [["r4"], ["r0"]]
    assert sorted(p.name.split("-")[0] for p in marks.iterdir()) == ["r0", "r4"]  # exactly two executions
    pids = [result.tasks[2][f"r{i}"].result for i in range(8)]
    assert len(set(pids[:4])) == 1 and len(set(pids[4:])) == 1 and pids[0] != pids[4]  # two shards
    assert os.getpid() not in pids


def test_fail_fast_stops_every_shard(cluster: Any, tmp_path: Path) -> None:
    project = _project(tmp_path, settings={"workers": 1})
    marks = project / "marks"
    workflow = {
        "workflow": {
            "name": "ff",
            "failure_strategy": "fail-fast",
            "tasks": [
                # r0 (shard 0) fails; r4 (shard 1, one worker thread) runs until its shard is stopped
                {"name": "stop_here", "args": {"marks": str(marks), "fail": "r0"}},
                {"name": "echo", "args": {"msg": "never"}},
            ],
        }
    }
    result = NornFlow(project / "nornflow.yaml").run(workflow, executor=_sharded(cluster, shards=2))
    first = result.tasks[0]
    assert first["r0"].status == "failed"
    assert first["r4"].status == "ok" and first["r4"].result == "stopped"  # the stop crossed shards
    assert [first[f"r{i}"].status for i in (5, 6, 7)] == ["not_run"] * 3
    assert result.stopped and "'r0'" in result.stopped
    assert all(r.status == "not_run" for r in result.tasks[1])
    assert result.exit_code == 1


def test_a_dict_or_settings_executor_with_an_unknown_key_is_a_clear_error(tmp_path: Path) -> None:
    project = _project(tmp_path)
    from nornflow.exceptions import SettingsError

    with pytest.raises(SettingsError, match="executor"):
        NornFlow(project / "nornflow.yaml").run("hello", executor={"kind": "dask", "shard": 2})


# -- the CLI ------------------------------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_an_unreachable_scheduler_is_exit_3_before_any_task(tmp_path: Path) -> None:
    project = _project(tmp_path, settings={"executor": {"kind": "dask", "connect_timeout": 1}})
    marks = project / "marks"
    (project / "workflows" / "count.yaml").write_text(
        yaml.safe_dump(
            {"workflow": {"name": "count", "tasks": [{"name": "counted", "args": {"marks": str(marks)}}]}}
        )
    )
    address = f"tcp://127.0.0.1:{_closed_port()}"
    cli = CliRunner().invoke(app, ["run", "count", "--project", str(project), "--scheduler", address])
    assert cli.exit_code == 3, cli.output
    assert f"cannot reach the Dask scheduler {address}" in cli.output
    assert "Traceback" not in cli.output
    assert list(marks.iterdir()) == []
    assert run_dirs(project) == []  # its journal is not left behind as a run that "died"


def test_the_dask_executor_without_distributed_installed_is_exit_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = _project(tmp_path)
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed -> ImportError
    cli = CliRunner().invoke(app, ["run", "hello", "--project", str(project), "--shards", "2"])
    assert cli.exit_code == 3, cli.output
    assert "pip install 'nornir-yamlflow[dask]'" in cli.output


def test_bad_executor_flags_are_usage_errors(tmp_path: Path) -> None:
    project = _project(tmp_path)
    for args in (
        ["--executor", "spark"],
        ["--executor", "local", "--shards", "2"],
        ["--scheduler", "nowhere"],
    ):
        cli = CliRunner().invoke(app, ["run", "hello", "--project", str(project), *args])
        assert cli.exit_code == 2, (args, cli.output)
        assert "Traceback" not in cli.output


def _start(project: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "nornflow", "run", "stop", "--project", str(project), "--json", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", **(env or {})},
        start_new_session=True,  # its own process group, as a command started from a terminal
    )


def _stop_workflow(project: Path, **args: str) -> None:
    marks = str(project / "marks")
    workflow = {
        "workflow": {
            "name": "stop",
            "tasks": [
                {"name": "stop_here", "args": {"marks": marks, **args}, "set_to": "first"},
                {"name": "echo", "args": {"msg": "after {{ host.name }}"}},
            ],
        }
    }
    (project / "workflows" / "stop.yaml").write_text(yaml.safe_dump(workflow))


def _wait_for(path: Path, proc: subprocess.Popen[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            _out, err = proc.communicate()
            pytest.fail(f"{path.name} never appeared (rc={proc.returncode}):\n{err}")
        time.sleep(0.02)


@pytest.mark.parametrize("where", ["scheduler", "local cluster"])
def test_ctrl_c_stops_the_shards_and_keeps_the_json_of_what_finished(
    cluster: Any, tmp_path: Path, where: str
) -> None:
    """With a scheduler, SIGINT goes to the driver; with the run's own local cluster, to the whole
    process group (a terminal's Ctrl-C), which the workers must leave to the driver."""
    project = _project(tmp_path, settings={"workers": 1})
    _stop_workflow(project)
    mark = uuid.uuid4().hex
    args = ["--scheduler", cluster.scheduler_address] if where == "scheduler" else []
    proc = _start(project, *args, "--shards", "2", env={"NORNFLOW_TEST_MARK": mark})
    _wait_for(project / "marks" / "started-r0", proc)
    _wait_for(project / "marks" / "started-r4", proc)
    if where == "scheduler":
        proc.send_signal(signal.SIGINT)
    else:
        os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert "KeyboardInterrupt" not in err  # no worker died of it
    assert proc.returncode == 130, err
    doc = json.loads(out)
    assert doc["interrupted"] is True and doc["signal"] == "SIGINT" and doc["incomplete"] is False
    first = doc["tasks"][0]["hosts"]
    assert first["r0"]["result"] == "stopped" and first["r4"]["result"] == "stopped"
    assert {first[f"r{i}"]["status"] for i in (1, 2, 3, 5, 6, 7)} == {"not_run"}
    assert doc["variables"]["r0"]["first"] == "stopped"  # what finished kept its variables
    assert {h["status"] for h in doc["tasks"][1]["hosts"].values()} == {"not_run"}
    assert "interrupted (SIGINT)" in err
    assert _marked(mark) == []


def _marked(mark: str) -> list[int]:
    """The live processes whose environment carries ``mark`` (a run's cluster and workers)."""
    import psutil

    found = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("NORNFLOW_TEST_MARK") == mark and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc.pid)
        except (psutil.Error, OSError):
            continue
    return found


def test_a_killed_worker_fails_exactly_its_hosts_naming_the_shard_and_leaves_no_process(
    tmp_path: Path,
) -> None:
    project = _project(tmp_path, settings={"workers": 1})
    workflow = {
        "workflow": {
            "name": "stop",
            "tasks": [
                {"name": "echo", "args": {"msg": "before {{ host.name }}"}, "set_to": "before"},
                # r4, the first host of shard 1 (one worker thread), kills its worker process
                {"name": "die", "args": {"kill": "r4"}},
                {"name": "echo", "args": {"msg": "after {{ host.name }}"}},
            ],
        }
    }
    (project / "workflows" / "stop.yaml").write_text(yaml.safe_dump(workflow))
    mark = uuid.uuid4().hex
    proc = _start(project, "--shards", "2", "--failure-strategy", "run-all", env={"NORNFLOW_TEST_MARK": mark})
    out, err = proc.communicate(timeout=240)
    assert proc.returncode == 1, err
    doc = json.loads(out)
    before, died, after = (task["hosts"] for task in doc["tasks"])
    assert {before[f"r{i}"]["status"] for i in range(8)} == {"ok"}  # finished before: kept
    # r4 was in flight, r5..r7 never started: exactly those fail, with an error naming the shard
    assert [died[f"r{i}"]["status"] for i in range(8)] == ["ok"] * 4 + ["failed"] * 4
    for i in range(4, 8):
        error = died[f"r{i}"]["error"]
        assert error["type"] == "ShardLost" and "shard 1 (hosts 5-8" in error["message"], error
        assert "worker" in error["message"]
    # the later task: shard 0 runs on, the lost shard's hosts fail at once (run-all)
    assert [after[f"r{i}"]["status"] for i in range(8)] == ["ok"] * 4 + ["failed"] * 4
    assert doc["variables"]["r0"]["before"] == "before r0" and "r4" not in doc["variables"]
    assert "shard 1" in err and "was lost" in err
    assert "FAILED 8 host(s): 4 ok, 4 failed" in err  # the recap counts the merged shards
    assert _marked(mark) == []  # the run's scheduler, nannies and workers are all gone


# -- with the change controls --------------------------------------------------------------------------


def _controlled() -> dict[str, Any]:
    return {
        "workflow": {
            "name": "controlled",
            "serial": [2, "50%"],
            "tasks": [
                {"name": "echo", "args": {"msg": "pre {{ host.name }}"}, "tags": ["pre"], "set_to": "pre"},
                {
                    "name": "main change",
                    "block": [
                        {"name": "flaky", "args": {"fail_on": "r3"}},
                        {"name": "echo", "args": {"msg": "after {{ host.name }}"}},
                    ],
                    "rescue": [{"name": "echo", "args": {"msg": "rescued {{ host.name }}"}}],
                    "always": [{"name": "set", "args": {"done": "{{ host.name }} done"}}],
                },
                {"name": "assert", "args": {"that": ["host.n < 100"]}},
                {"name": "echo", "args": {"msg": "skipped"}, "tags": ["never"]},
            ],
        }
    }


def test_batches_blocks_tags_and_assert_give_the_local_runs_json_sharded(
    cluster: Any, tmp_path: Path
) -> None:
    """Rolling batches, block/rescue/always, tag selection and assert run the same over shards."""
    project = _project(tmp_path)
    local = NornFlow(project / "nornflow.yaml").run(_controlled(), skip_tags=["pre"]).to_dict()
    sharded = (
        NornFlow(project / "nornflow.yaml")
        .run(_controlled(), skip_tags=["pre"], executor=_sharded(cluster, shards=2))
        .to_dict()
    )
    assert _strip(sharded) == _strip(local)
    assert local["rescued_hosts"] == ["r3"] and len(local["batches"]) == 3
    assert local["tasks"][0]["name"] == "flaky"  # the tagged tasks were left out
    assert local["variables"]["r3"]["done"] == "r3 done" and "pre" not in local["variables"]["r0"]


def test_throttle_cannot_be_sharded(cluster: Any, tmp_path: Path) -> None:
    """A run-wide throttle over several shards is refused before any task, naming the task."""
    project = _project(tmp_path)
    workflow = {"workflow": {"name": "t", "tasks": [{"name": "echo", "args": {"msg": "x"}, "throttle": 2}]}}
    with pytest.raises(SettingsError, match="throttle") as caught:
        NornFlow(project / "nornflow.yaml").run(workflow, executor=_sharded(cluster, shards=2))
    assert caught.value.key == "throttle"
