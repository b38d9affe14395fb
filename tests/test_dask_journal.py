"""The run journal of sharded runs: the driver journals what the shards return (with the variables
the tasks set), ``nornflow runs show --json`` and ``@run:ID:failed`` read it, and ``--resume`` of a
sharded run cut short (a journal truncated, a driver killed mid-task) runs every host-task the
journal lacks, once, on the shards; a once-per-task post-hook's rewrite is journaled as rewritten.

The cluster is ``tests/test_dask_executor.py``'s two-worker ``LocalCluster``; the project is its
8-host project (shard 0: r0-r3, shard 1: r4-r7) with a task that appends each execution, with the
process it ran in, to ``execs.txt``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("distributed")

from nornflow.cli.runs import resume_args
from nornflow.run.journal import read_records, run_dirs
from nornflow.run.resume import load_run
from tests import test_dask_executor as dask_tests
from tests.cli_runner import cli

#: the module's two-worker LocalCluster (test_dask_executor's fixture)
cluster = dask_tests.cluster

pytestmark = pytest.mark.dask

REC = '''
import os
import time

from nornir.core.task import Result, Task


def rec(task: Task, step: str, log: str, seen: str = "", fail: str = "", hold: str = "") -> Result:
    """Append ``step host pid`` to ``log``; fails on the hosts named in ``fail``. The host ``r0``
    blocks while the file ``hold`` exists (saying so in ``hold``.started)."""
    name = task.host.name
    with open(log, "a") as f:
        f.write(f"{step} {name} {os.getpid()}\\n")
    if hold and name == "r0":
        open(hold + ".started", "w").close()
        while os.path.exists(hold):
            time.sleep(0.01)
    if name in fail.split(","):
        return Result(host=task.host, failed=True, result=f"{step} failed on {name}")
    return Result(host=task.host, result=f"{step}:{name}:{seen}")
'''

HOSTS = [f"r{i}" for i in range(8)]
STEPS = ("a", "o", "b", "c")


def _journal_project(root: Path, settings: dict[str, Any] | None = None, hold: str = "") -> Path:
    """The 8-host project with the workflow ``w``: a (set_to first), o (run_once), b (set_to
    second; r2 and r5 fail; r0 blocks while ``hold`` exists), c."""
    project = dask_tests._project(root, settings=settings)
    (project / "tasks" / "rec.py").write_text(REC)
    log = str(project / "execs.txt")
    workflow = {
        "workflow": {
            "name": "w",
            "tasks": [
                {"name": "rec", "args": {"step": "a", "log": log}, "set_to": "first"},
                {"name": "rec", "args": {"step": "o", "log": log}, "run_once": True},
                {
                    "name": "rec",
                    "args": {"step": "b", "log": log, "seen": "{{ first }}", "fail": "r2,r5", "hold": hold},
                    "set_to": "second",
                },
                {"name": "rec", "args": {"step": "c", "log": log, "seen": "{{ second }}"}},
            ],
        }
    }
    (project / "workflows" / "w.yaml").write_text(yaml.safe_dump(workflow))
    return project


def _execs(project: Path) -> list[tuple[str, str, int]]:
    path = project / "execs.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(step, host, int(pid)) for step, host, pid in (line.split() for line in lines)]


def _nornflow(project: Path, *args: str) -> Any:
    return cli(project, *resume_args(list(args)))


def _sharded(cluster: Any) -> list[str]:
    return ["--scheduler", cluster.scheduler_address, "--shards", "2"]


def _strip(doc: object) -> object:
    """The JSON document without durations (they differ from run to run)."""
    if isinstance(doc, dict):
        return {k: _strip(v) for k, v in doc.items() if k != "duration"}
    if isinstance(doc, list):
        return [_strip(v) for v in doc]
    return doc


def _journaled(run: Any) -> set[tuple[str, str]]:
    """The (step, host) pairs a journal holds an outcome of."""
    return {
        (STEPS[t], run.hosts[i]) for t, jt in run.tasks.items() for i, code in enumerate(jt.codes) if code
    }


def test_a_sharded_run_is_journaled_shown_as_its_json_and_its_failed_hosts_selectable(
    cluster: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from nornflow.run.distributed import executor

    monkeypatch.setattr(executor, "JOURNAL_CHUNK", 3)  # a shard's batch of 4 hosts: 2 records
    project = _journal_project(tmp_path)
    done = _nornflow(project, "run", "w", *_sharded(cluster), "--json")
    assert done.exit_code == 1, done.output  # r2 and r5 fail task b
    document = json.loads(done.stdout)
    pids = {pid for _step, _host, pid in _execs(project)}
    assert len(pids) == 2 and os.getpid() not in pids  # it ran on the two shards
    assert "not journaled" not in done.output
    runs = run_dirs(project)
    assert len(runs) == 1 and (runs[0] / "summary.json").is_file()
    run = load_run(runs[0])
    assert run.status() == "failed" and all(jt.ended for jt in run.tasks.values())
    # the variables set_to set in the workers are in the driver's records, by name
    records = [r for r in read_records(runs[0] / "journal.log")[0] if r.get("k") == "hosts"]
    assert {h for r in records if r["t"] == 0 for h in r["vc"]} == {"first"}
    sizes = [len(r["vc"]["first"]) for r in records if r["t"] == 0]
    assert sum(sizes) == 8 and max(sizes) <= 3  # in records of at most JOURNAL_CHUNK hosts
    assert run.result().variables["r6"] == {"first": "a:r6:", "second": "b:r6:a:r6:"}
    listed = _nornflow(project, "runs")
    assert listed.exit_code == 0 and runs[0].name in listed.stdout and "failed" in listed.stdout
    shown = _nornflow(project, "runs", "show", runs[0].name, "--json")
    assert shown.exit_code == 0, shown.output
    assert _strip(json.loads(shown.stdout)) == _strip(document)
    assert document["variables"]["r6"]["second"] == "b:r6:a:r6:"
    # its failed hosts are selectable for the next run
    (project / "execs.txt").unlink()
    again = _nornflow(project, "run", "w", "--filter", f"hosts=@run:{runs[0].name}:failed", "--no-journal")
    assert again.exit_code == 1, again.output
    assert {host for _step, host, _pid in _execs(project)} == {"r2", "r5"}


def _cut_after_first_hosts_of(log: Path, task: int) -> None:
    """Keep the journal's records up to the first outcome record of ``task`` (one shard's batch),
    as if the driver had died right after writing it."""
    kept = []
    for line in log.read_bytes().split(b"\n")[:-1]:
        kept.append(line)
        record = json.loads(line[9:])
        if record.get("k") == "hosts" and record.get("t") == task:
            break
    log.write_bytes(b"\n".join(kept) + b"\n")
    (log.parent / "summary.json").unlink()


def test_a_sharded_run_cut_short_resumes_sharded_running_each_missing_host_task_once(
    cluster: Any, tmp_path: Path
) -> None:
    project = _journal_project(tmp_path)
    reference = _nornflow(project, "run", "w", "--json", "--no-journal")
    assert reference.exit_code == 1, reference.output
    (project / "execs.txt").unlink()
    assert _nornflow(project, "run", "w", *_sharded(cluster)).exit_code == 1
    log = run_dirs(project)[0] / "journal.log"
    # the driver died with task b journaled for one shard's hosts only: task c never started
    _cut_after_first_hosts_of(log, 2)
    run = load_run(log.parent)
    assert run.status() == "died" and 3 not in run.tasks
    journaled = _journaled(run)
    b_done = {h for s, h in journaled if s == "b"}
    assert b_done in ({"r0", "r1", "r2", "r3"}, {"r4", "r5", "r6", "r7"})
    before = len(_execs(project))

    done = _nornflow(project, "run", "w", *_sharded(cluster), "--resume", "--json")
    assert done.exit_code == 1, done.output
    after = _execs(project)[before:]
    assert len({pid for _s, _h, pid in after}) == 2 and os.getpid() not in {p for _s, _h, p in after}
    # every host-task the journal lacks ran exactly once; none it holds ran again (task a, the
    # run_once task o that ran on r0, task b on the journaled shard)
    expected = {(s, h) for s in ("a", "b", "c") for h in HOSTS} | {("o", "r0")}
    expected -= {("c", "r2"), ("c", "r5")}  # failed in task b: skipped by skip-failed
    assert Counter((s, h) for s, h, _pid in after) == Counter(expected - journaled)
    assert {h for s, h, _pid in after if s == "b"} == set(HOSTS) - b_done
    # the final JSON is an uninterrupted run's: set_to values from before the cut reached task b
    # and c on both shards, the failure of the journaled shard's host skipped it in task c
    document = json.loads(done.stdout)
    assert _strip(document) == _strip(reference.stdout and json.loads(reference.stdout))
    tasks = document["tasks"]
    assert tasks[3]["hosts"]["r0"]["result"] == "c:r0:b:r0:a:r0:"
    assert tasks[3]["hosts"]["r7"]["result"] == "c:r7:b:r7:a:r7:"
    assert tasks[3]["hosts"]["r2"]["status"] == tasks[3]["hosts"]["r5"]["status"] == "skipped"
    assert [h for h, r in tasks[1]["hosts"].items() if r["status"] != "skipped"] == ["r0"]
    # the resumed run's journal reads back as its JSON
    shown = _nornflow(project, "runs", "show", log.parent.name, "--json")
    assert shown.exit_code == 0, shown.output
    assert _strip(json.loads(shown.stdout)) == _strip(document)


def test_a_killed_sharded_driver_leaves_each_returned_batch_journaled_and_resumes(
    cluster: Any, tmp_path: Path
) -> None:
    """Shard 1 returns task b while r0 blocks shard 0 (one worker thread each); the driver and its
    own local cluster are killed then: shard 1's batch is in the journal before task b ended."""
    hold = tmp_path / "hold"
    project = _journal_project(tmp_path / "p", settings={"workers": 1}, hold=str(hold))
    reference = _nornflow(project, "run", "w", "--json", "--no-journal")
    assert reference.exit_code == 1, reference.output
    (project / "execs.txt").unlink()
    hold.touch()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nornflow", "run", "w", "--project", str(project), "--shards", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        start_new_session=True,  # the driver, its scheduler and workers: one group to kill
    )
    shard1_b = {("b", f"r{i}") for i in range(4, 8)}
    try:
        deadline = time.monotonic() + 20
        while True:
            assert proc.poll() is None, proc.communicate()[1]
            assert time.monotonic() < deadline, "shard 1's batch of task b was never journaled"
            runs = run_dirs(project)
            if runs and Path(f"{hold}.started").exists() and shard1_b <= _journaled(load_run(runs[0])):
                break
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
    hold.unlink()
    run = load_run(run_dirs(project)[0])
    assert run.status() == "died" and not run.tasks[2].ended  # killed inside task b
    journaled = _journaled(run)
    assert not any(s == "b" and h in ("r0", "r1", "r2", "r3") for s, h in journaled)
    before = len(_execs(project))

    done = _nornflow(project, "run", "w", *_sharded(cluster), "--resume", "--json")
    assert done.exit_code == 1, done.output
    after = _execs(project)[before:]
    expected = {(s, h) for s in ("a", "b", "c") for h in HOSTS} | {("o", "r0")}
    expected -= {("c", "r2"), ("c", "r5")}
    assert Counter((s, h) for s, h, _pid in after) == Counter(expected - journaled)
    assert {h for s, h, _pid in after if s == "b"} == {"r0", "r1", "r2", "r3"}
    document = json.loads(done.stdout)
    assert _strip(document) == _strip(json.loads(reference.stdout))
    assert document["tasks"][3]["hosts"]["r6"]["result"] == "c:r6:b:r6:a:r6:"
    assert document["tasks"][3]["hosts"]["r5"]["status"] == "skipped"  # its journaled failure counts


STAMP = '''
from nornflow.hooks.base import PostRunHook
from nornflow.hooks.registry import register_hook


@register_hook
class JournalStamp(PostRunHook):
    """Once per task, after every host ran: rewrites the first host's result and sets its variable
    ``stamp`` (what a shard re-sends once its hosts were drained)."""

    hook_name = "journal_stamp"
    run_once_per_task = True

    def _run_hook(self, task_model, host, result, vars_mgr) -> None:
        result.result = f"stamped {host.name}"
        vars_mgr.set_runtime_var(host, "stamp", host.name)
'''

NAP = '''
import time

from nornir.core.task import Result, Task


def nap(task: Task, slow: str = "") -> Result:
    """Sleeps 0.6 s on the hosts named in ``slow`` (the others are drained meanwhile)."""
    if task.host.name in slow.split(","):
        time.sleep(0.6)
    return Result(host=task.host, result=f"nap {task.host.name}")
'''


def test_a_once_per_task_post_hook_rewriting_a_drained_host_is_journaled_as_rewritten(
    cluster: Any, tmp_path: Path
) -> None:
    project = dask_tests._project(tmp_path)
    (project / "hooks").mkdir(exist_ok=True)
    (project / "hooks" / "stamp.py").write_text(STAMP)
    (project / "tasks" / "nap.py").write_text(NAP)
    workflow = {
        "workflow": {
            "name": "s",
            "tasks": [
                # r0 finishes at once and is drained while r1-r3 nap; then the hook rewrites r0
                {"name": "nap", "args": {"slow": "r1,r2,r3"}, "journal_stamp": True},
                {"name": "echo", "args": {"msg": "{{ stamp | default('none') }}"}},
            ],
        }
    }
    (project / "workflows" / "s.yaml").write_text(yaml.safe_dump(workflow))
    done = _nornflow(project, "run", "s", *_sharded(cluster), "--json")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["tasks"][0]["hosts"]["r0"]["result"] == "stamped r0"
    assert document["tasks"][0]["hosts"]["r4"]["result"] == "nap r4"
    assert document["variables"]["r0"] == {"stamp": "r0"} and "r4" not in document["variables"]
    run_id = run_dirs(project)[0].name
    shown = _nornflow(project, "runs", "show", run_id, "--json")
    assert shown.exit_code == 0, shown.output
    assert _strip(json.loads(shown.stdout)) == _strip(document)
