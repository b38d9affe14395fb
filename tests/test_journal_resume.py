"""The run journal and ``--resume``: a real ``nornflow run`` killed with SIGKILL mid-run, resumed.

The project is generated in a tmp dir: 5,000 hosts and 3 tasks of a task function that appends each
execution to ``execs.txt`` (and sleeps 1 ms, a device's latency). While ``hold`` exists, the second
task blocks on every host from ``h2500`` on: each worker ends up on one of them, so the test kills
the process when all of them are blocked (a barrier, not a timer) and the hosts in flight are known.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from nornflow.run.journal import FORMAT, frame, read_records
from nornflow.run.resume import load_run

ROOT = Path(__file__).resolve().parents[1]
HOSTS = 5000
WORKERS = 8
BLOCK_FROM = 2500

TASK = '''
import os
import time

from nornir.core.task import Result, Task


def rec(task: Task, step: str, seen: str = "") -> Result:
    """Append this execution to execs.txt; the second task blocks from h2500 on while 'hold' exists."""
    name = task.host.name
    with open("execs.txt", "a") as f:
        f.write(f"{step} {name}\\n")
    if step == "b" and name == "h0003":
        return Result(host=task.host, failed=True, result="boom")
    if step == "b" and int(name[1:]) >= BLOCK_FROM and os.path.exists("hold"):
        open(f"blocked/{name}", "w").close()
        while os.path.exists("hold"):
            time.sleep(0.01)
    time.sleep(0.001)
    return Result(host=task.host, result=f"{step}:{name}:{seen}")
'''.replace("BLOCK_FROM", str(BLOCK_FROM))

WORKFLOW = """workflow:
  name: three
  tasks:
    - name: rec
      args: {step: a}
      set_to: first
    - name: rec
      args: {step: b, seen: "{{ first }}"}
      set_to: second
    - name: rec
      args: {step: c, seen: "{{ second }}"}
"""


def make_project(path: Path, hosts: int = HOSTS) -> Path:
    """A project of ``hosts`` generated hosts and the 3-task workflow ``three``."""
    for sub in ("tasks", "workflows", "inventory", "blocked"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    (path / "nornflow.yaml").write_text("inventory:\n  host_file: inventory/hosts.yaml\n")
    (path / "inventory" / "hosts.yaml").write_text(
        "".join(f"h{i:04d}:\n  hostname: 10.0.{i // 250}.{i % 250}\n" for i in range(hosts))
    )
    (path / "tasks" / "rec.py").write_text(TASK)
    (path / "workflows" / "three.yaml").write_text(WORKFLOW)
    return path


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), e.get("PYTHONPATH")]))
    e["NORNFLOW_NO_CACHE"] = "1"
    return e


def nornflow(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "nornflow", "run", "three", "--workers", str(WORKERS), *args]
    return subprocess.run(cmd, cwd=project, env=env(), capture_output=True, text=True, timeout=600)


def execs(project: Path) -> Counter[tuple[str, str]]:
    path = project / "execs.txt"
    lines = path.read_text().splitlines() if path.exists() else []
    return Counter(tuple(line.split()) for line in lines if line.strip())  # type: ignore[misc]


def strip(doc: object) -> object:
    """The JSON document without durations (they differ from run to run)."""
    if isinstance(doc, dict):
        return {k: strip(v) for k, v in doc.items() if k != "duration"}
    if isinstance(doc, list):
        return [strip(v) for v in doc]
    return doc


def kill_mid_run(project: Path) -> Path:
    """Start ``nornflow run three`` and SIGKILL it once every worker is blocked in task 2."""
    (project / "hold").touch()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nornflow", "run", "three", "--workers", str(WORKERS)],
        cwd=project,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while len(list((project / "blocked").iterdir())) < WORKERS:
            assert proc.poll() is None, "the run ended before the barrier"
            assert time.monotonic() < deadline, "the workers never reached the barrier"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait()
    (project / "hold").unlink()
    runs = sorted((project / ".nornflow" / "runs").iterdir())
    assert len(runs) == 1
    return runs[0]


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project whose run of ``three`` was killed mid-task-2 (a pristine copy: tests copy it)."""
    project = make_project(tmp_path_factory.mktemp("killed"))
    kill_mid_run(project)
    return project


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The --json of an uninterrupted run of the same workflow on the same inventory."""
    project = make_project(tmp_path_factory.mktemp("reference"))
    done = nornflow(project, "--json", "--no-journal")
    assert done.returncode == 1, done.stderr[-2000:]
    return json.loads(done.stdout)


def journaled_of(run: object) -> set[tuple[str, str]]:
    """The (step, host) pairs a journal holds an outcome of."""
    hosts = run.hosts  # type: ignore[attr-defined]
    tasks = run.tasks.items()  # type: ignore[attr-defined]
    return {(("a", "b", "c")[t], hosts[i]) for t, jt in tasks for i, code in enumerate(jt.codes) if code}


def copy_of(killed: Path, tmp_path: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(killed, target)
    return target


def test_sigkill_then_resume_runs_every_host_task_once_but_the_ones_in_flight(
    killed: Path, reference: dict, tmp_path: Path
) -> None:
    project = copy_of(killed, tmp_path)
    run_dir = next((project / ".nornflow" / "runs").iterdir())
    before = execs(project)
    run = load_run(run_dir)
    assert run.status() == "died"
    hosts = run.hosts
    journaled = journaled_of(run)
    # the kill came mid-run: task 1 journaled on every host, task 2 on those before the barrier
    assert {("a", h) for h in hosts} <= journaled
    assert ("b", "h0000") in journaled and ("b", f"h{BLOCK_FROM:04d}") not in journaled
    assert not any(step == "c" for step, _ in journaled)
    in_flight = {(("a", "b", "c")[t], hosts[i]) for t, i, _ in run.in_flight}
    assert 1 <= len(in_flight) <= WORKERS

    done = nornflow(project, "--resume", "--json")
    assert done.returncode == 1, done.stderr[-3000:]  # h0003 fails task 2, as in the reference
    after = execs(project) - before
    # no host-task journaled before the kill ran again
    assert not (set(after) & journaled)
    # every host-task ran (h0003, failed in task 2, is skipped in task 3: the strategy's state)
    total = before + after
    expected = {(s, h) for s in ("a", "b", "c") for h in hosts} - {("c", "h0003")}
    assert set(total) == expected
    # only the ones in flight at the kill ran twice, and the resume reported them
    twice = {k for k, n in total.items() if n > 1}
    assert twice <= in_flight and len(twice) <= WORKERS
    assert "had started when it stopped and run again" in done.stderr
    for _step, host in twice:
        assert host in done.stderr
    resumed = [r for r in read_records(run_dir / "journal.log")[0] if r.get("k") == "resume"]
    assert {(("a", "b", "c")[t], h) for t, h, _ in resumed[0]["rerun"]} == in_flight
    # the final --json is an uninterrupted run's, set_to values from before the kill included
    document = json.loads(done.stdout)
    assert strip(document) == strip(reference)
    task3 = document["tasks"][2]["hosts"]
    assert task3["h0000"]["result"] == "c:h0000:b:h0000:a:h0000:"
    assert task3["h0003"]["status"] == "skipped"
    # and `nornflow runs show --json` gives the same document
    shown = subprocess.run(
        [sys.executable, "-m", "nornflow", "runs", "show", run_dir.name, "--json"],
        cwd=project,
        env=env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert shown.returncode == 0, shown.stderr
    assert strip(json.loads(shown.stdout)) == strip(document)


@pytest.mark.parametrize("fraction", [0.02, 0.5, 0.999])
def test_a_journal_cut_at_any_byte_resumes(
    killed: Path, reference: dict, tmp_path: Path, fraction: float
) -> None:
    project = copy_of(killed, tmp_path)
    run_dir = next((project / ".nornflow" / "runs").iterdir())
    log = run_dir / "journal.log"
    data = log.read_bytes()
    header_end = data.index(b"\n") + 1
    cut = header_end + int((len(data) - header_end) * fraction)
    if data[cut - 1 : cut] == b"\n":
        cut += 3  # always a torn line
    log.write_bytes(data[:cut])
    _records, torn = read_records(log)
    assert torn is not None and torn < cut
    kept = load_run(run_dir)
    journaled = journaled_of(kept)
    before = execs(project)
    done = nornflow(project, "--resume", "--json")
    assert done.returncode == 1, done.stderr[-3000:]
    assert "was torn at byte" in done.stderr
    after = execs(project) - before
    assert not (set(after) & journaled)
    assert strip(json.loads(done.stdout)) == strip(reference)
    assert read_records(log)[1] is None  # the torn tail was cut before appending


def test_a_changed_workflow_is_refused_and_force_accepts_it(killed: Path, tmp_path: Path) -> None:
    project = copy_of(killed, tmp_path)
    wf = project / "workflows" / "three.yaml"
    wf.write_text(WORKFLOW.replace("{step: c,", "{step: C,"))
    before = execs(project)
    refused = nornflow(project, "--resume")
    assert refused.returncode == 3
    assert "cannot resume run" in refused.stderr and "task 3 ('rec') changed" in refused.stderr
    assert "--force" in refused.stderr and "Traceback" not in refused.stderr
    assert execs(project) == before
    (project / "inventory" / "hosts.yaml").write_text(
        (project / "inventory" / "hosts.yaml").read_text() + "# a comment\n"
    )
    refused = nornflow(project, "--resume")
    assert refused.returncode == 3 and "inventory file inventory/hosts.yaml changed" in refused.stderr
    forced = nornflow(project, "--resume", "--force")
    assert forced.returncode == 1, forced.stderr[-2000:]
    assert ("C", "h0000") in execs(project)


def test_a_journal_of_another_format_is_refused(killed: Path, tmp_path: Path) -> None:
    project = copy_of(killed, tmp_path)
    log = next((project / ".nornflow" / "runs").iterdir()) / "journal.log"
    lines = log.read_bytes().split(b"\n")
    header = json.loads(lines[0][9:])
    header["format"] = FORMAT + 1
    lines[0] = frame(json.dumps(header)).rstrip(b"\n")
    log.write_bytes(b"\n".join(lines))
    refused = nornflow(project, "--resume")
    assert refused.returncode == 3
    assert f"this nornflow reads format {FORMAT} only" in refused.stderr
