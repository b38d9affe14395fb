"""The run journal in-process: framing, masking, pruning, ``nornflow runs``, ``@run:ID:failed``,
``--no-journal``, and resumes of journals cut short (run_once, the failure strategy)."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.runs import resume_args
from nornflow.run.journal import frame, positions_of, prune_runs, read_records, run_dirs
from nornflow.run.resume import load_run

runner = CliRunner()

TASK = '''
from nornir.core.task import Result, Task


def rec(task: Task, step: str, seen: str = "") -> Result:
    """Record the execution in execs.txt; r2 fails step b."""
    with open("execs.txt", "a") as f:
        f.write(f"{step} {task.host.name}\\n")
    if step == "b" and task.host.name == "r2":
        return Result(host=task.host, failed=True, result="no")
    return Result(host=task.host, result=f"{step}:{task.host.name}:{seen}")


def token(task: Task) -> Result:
    """A secret the run learns."""
    return Result(host=task.host, result="tok-" + "s3cr3t-" + task.host.name)
'''

WORKFLOW = """workflow:
  name: w
  tasks:
    - name: rec
      args: {step: a}
      run_once: true
      set_to: first
    - name: rec
      args: {step: b, seen: "{{ first | default('') }}"}
      set_to: second
    - name: rec
      args: {step: c, seen: "{{ second }}"}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    for sub in ("tasks", "workflows", "inventory"):
        (tmp_path / sub).mkdir()
    (tmp_path / "nornflow.yaml").write_text("inventory:\n  host_file: inventory/hosts.yaml\n")
    (tmp_path / "inventory" / "hosts.yaml").write_text(
        "".join(f"r{i}:\n  hostname: 10.0.0.{i}\n" for i in range(6))
    )
    (tmp_path / "tasks" / "rec.py").write_text(TASK)
    (tmp_path / "workflows" / "w.yaml").write_text(WORKFLOW)
    (tmp_path / "workflows" / "secret.yaml").write_text(
        "workflow:\n  name: secret\n  tasks:\n    - name: token\n      set_to: api_token\n"
    )
    return tmp_path


def cli(cwd: Path, *args: str):
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return runner.invoke(app, resume_args(list(args)), catch_exceptions=False)
    finally:
        os.chdir(old)


def execs(project: Path) -> list[str]:
    path = project / "execs.txt"
    return path.read_text().splitlines() if path.exists() else []


def strip(doc: object) -> object:
    if isinstance(doc, dict):
        return {k: strip(v) for k, v in doc.items() if k != "duration"}
    if isinstance(doc, list):
        return [strip(v) for v in doc]
    return doc


def test_framing_detects_a_corrupt_record_and_everything_after_it_is_ignored(tmp_path: Path) -> None:
    log = tmp_path / "journal.log"
    good = [frame(json.dumps({"k": "x", "n": n})) for n in range(4)]
    bad = bytearray(good[2])
    bad[15] ^= 0x01  # one flipped bit in the JSON: the CRC no longer matches
    log.write_bytes(good[0] + good[1] + bytes(bad) + good[3])
    records, torn = read_records(log)
    assert [r["n"] for r in records] == [0, 1]
    assert torn == len(good[0]) + len(good[1])
    log.write_bytes(good[0] + good[1][:-1])  # no newline: a torn line
    assert read_records(log) == ([{"k": "x", "n": 0}], len(good[0]))


def test_a_run_is_journaled_listed_and_shown_and_no_journal_turns_it_off(project: Path) -> None:
    done = cli(project, "run", "w", "--json")
    assert done.exit_code == 1  # r2 fails task b
    document = json.loads(done.stdout)
    runs = run_dirs(project)
    assert len(runs) == 1 and (runs[0] / "summary.json").is_file()
    assert oct((runs[0] / "journal.log").stat().st_mode & 0o777) == "0o600"
    listed = cli(project, "runs")
    assert listed.exit_code == 0
    assert runs[0].name in listed.stdout and "failed" in listed.stdout
    shown = cli(project, "runs", "show", runs[0].name[:12], "--json")
    assert shown.exit_code == 0
    assert strip(json.loads(shown.stdout)) == strip(document)
    recap = cli(project, "runs", "show", runs[0].name)
    assert "FAILED 6 host(s)" in recap.stdout
    assert cli(project, "run", "w", "--no-journal").exit_code == 1
    assert len(run_dirs(project)) == 1
    again = cli(project, "run", "w", "--resume")
    assert again.exit_code == 3 and "no unfinished run to resume" in again.stdout + (again.stderr or "")


def test_run_filter_selects_a_journaled_runs_failed_hosts(project: Path) -> None:
    cli(project, "run", "w")
    run_id = run_dirs(project)[0].name
    (project / "execs.txt").unlink()
    done = cli(project, "run", "w", "--filter", f"hosts=@run:{run_id}:failed", "--no-journal")
    assert done.exit_code == 1
    assert {line.split()[1] for line in execs(project)} == {"r2"}
    bad = cli(project, "run", "w", "--filter", "hosts=@run:nope:failed")
    assert bad.exit_code == 2 and "no journaled run matches 'nope'" in bad.output
    bad = cli(project, "run", "w", "--filter", f"hosts=@run:{run_id}:broken")
    assert bad.exit_code == 2 and "say failed, not_run or all" in bad.output


def test_secrets_are_masked_in_the_journal_unless_show_secrets(project: Path) -> None:
    assert cli(project, "run", "secret").exit_code == 0
    text = (run_dirs(project)[0] / "journal.log").read_text()
    assert "s3cr3t" not in text and "********" in text
    assert cli(project, "run", "secret", "--show-secrets").exit_code == 0
    text = (run_dirs(project)[-1] / "journal.log").read_text()
    assert "tok-s3cr3t-r1" in text
    assert text.count("tok-s3cr3t-r1") == 1  # set_to's value is the result: journaled once, by name
    hosts = [r for r in read_records(run_dirs(project)[-1] / "journal.log")[0] if r["k"] == "hosts"]
    assert all(r["vr"] == ["api_token"] and "vc" not in r for r in hosts)
    run = load_run(run_dirs(project)[-1])
    assert run.result().variables["r1"] == {"api_token": "tok-s3cr3t-r1"}


def test_old_runs_are_pruned_by_count_and_age(project: Path) -> None:
    root = project / ".nornflow" / "runs"
    for n in range(5):
        run = root / f"2026010{n}T000000000Z-00000{n}"
        run.mkdir(parents=True)
        (run / "journal.log").write_bytes(b"")
    os.utime(root / "20260104T000000000Z-000004" / "journal.log", (time.time() - 90 * 86400,) * 2)
    deleted = prune_runs(project, keep=3, max_age_days=30)
    assert deleted == [
        "20260100T000000000Z-000000",
        "20260101T000000000Z-000001",
        "20260104T000000000Z-000004",
    ]
    assert [r.name for r in run_dirs(project)] == ["20260102T000000000Z-000002", "20260103T000000000Z-000003"]
    (project / "nornflow.yaml").write_text(
        "inventory:\n  host_file: inventory/hosts.yaml\njournal_keep: 1\njournal_max_age_days: 0\n"
    )
    assert cli(project, "run", "w").exit_code == 1
    assert len(run_dirs(project)) == 1  # the new run only


def _cut_before(log: Path, predicate) -> None:
    """Keep the records of a finished run's journal before the first that ``predicate`` accepts,
    as if the process had died right before writing it."""
    kept = []
    for line in log.read_bytes().split(b"\n")[:-1]:
        if predicate(json.loads(line[9:])):
            break
        kept.append(line)
    log.write_bytes(b"\n".join(kept) + b"\n")
    (log.parent / "summary.json").unlink()


def test_resume_restores_run_once_failures_and_variables(project: Path) -> None:
    reference = json.loads(cli(project, "run", "w", "--json", "--no-journal").stdout)
    (project / "execs.txt").unlink()
    assert cli(project, "run", "w").exit_code == 1
    log = run_dirs(project)[0] / "journal.log"
    # died after task 2's outcomes were journaled, before its end: task 3 never started
    _cut_before(log, lambda r: r.get("k") == "task_end" and r.get("t") == 1)
    run = load_run(log.parent)
    assert run.status() == "died" and 2 not in run.tasks
    first = execs(project)
    done = cli(project, "run", "w", "--resume", "--json")
    assert done.exit_code == 1
    again = execs(project)[len(first) :]
    # run_once (task 1) and task 2 are not run again; task 3 runs, but not on r2 (failed in task 2)
    assert sorted(again) == sorted(f"c r{i}" for i in range(6) if i != 2)
    document = json.loads(done.stdout)
    assert strip(document) == strip(reference)
    assert document["tasks"][2]["hosts"]["r0"]["result"] == "c:r0:b:r0:a:r0:"
    # a second resume: the run finished
    assert cli(project, "run", "w", "--resume").exit_code == 3


def test_resume_args_take_a_run_id_only_when_it_looks_like_one() -> None:
    assert resume_args(["run", "w", "--resume"]) == ["run", "w", "--resume"]
    assert resume_args(["run", "w", "--resume", "20261202T1455"]) == [
        "run",
        "w",
        "--resume-run",
        "20261202T1455",
    ]
    assert resume_args(["run", "--resume", "w"]) == ["run", "--resume", "w"]
    assert resume_args(["run", "w", "--resume=abc"]) == ["run", "w", "--resume-run", "abc"]


def test_usage_errors_of_the_journal_options(project: Path) -> None:
    done = cli(project, "run", "w", "--resume", "--no-journal")
    assert done.exit_code == 2
    done = cli(project, "run", "w", "--force")
    assert done.exit_code == 2
    done = cli(project, "runs", "show", "nope")
    assert done.exit_code == 3 and "no journaled run matches" in done.output


def test_runs_show_json_of_a_run_with_blocks_and_batches_is_its_json(project: Path) -> None:
    """A run with blocks, rescue and rolling batches: `runs show --json` prints the document
    `--json` printed (skips of the flow, the batches and the tag selection included)."""
    (project / "workflows" / "flow.yaml").write_text(
        "workflow:\n  name: flow\n  serial: [1, 50%]\n  tasks:\n"
        "    - name: rec\n      args: {step: a}\n      tags: [first]\n"
        "    - name: grp\n      block:\n        - name: rec\n          args: {step: b}\n"
        "      rescue:\n        - name: rec\n          args: {step: r}\n"
        "    - name: rec\n      args: {step: c}\n      tags: [never]\n"
    )
    done = cli(project, "run", "flow", "--json", "--skip-tags", "first")
    document = json.loads(done.stdout)
    assert document["batches"] and document["selection"] == {
        "tags": [],
        "skip_tags": ["first"],
        "start_at_task": None,
    }
    assert any(h.get("skip_reason") for t in document["tasks"] for h in t["hosts"].values())
    shown = cli(project, "runs", "show", run_dirs(project)[0].name, "--json")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout) == document
    refused = cli(project, "run", "flow", "--resume")
    assert refused.exit_code == 3


def test_runs_show_json_of_a_flat_run_rebuilds_its_controls_from_the_records(project: Path) -> None:
    """Without blocks or batches the document is rebuilt from the records (no result.json is
    written at the end of such a run): the tag selection and the tasks' controls included."""
    (project / "workflows" / "flat.yaml").write_text(
        "workflow:\n  name: flat\n  tasks:\n"
        "    - name: rec\n      args: {step: a}\n      tags: [first]\n      throttle: 2\n"
        "    - name: rec\n      args: {step: c}\n      tags: [second]\n"
    )
    done = cli(project, "run", "flat", "--json", "--tags", "first")
    assert done.exit_code == 0, done.output
    document = json.loads(done.stdout)
    assert document["selection"]["tags"] == ["first"]
    assert document["tasks"][0]["controls"]
    run = run_dirs(project)[0]
    assert not (run / "result.json").exists()
    shown = cli(project, "runs", "show", run.name, "--json")
    assert shown.exit_code == 0
    assert strip(json.loads(shown.stdout)) == strip(document)


def test_the_step_checks_set_to_values_while_hot_and_the_journal_keeps_them_by_name(
    project: Path, impl
) -> None:
    """set_to stores each host's result: the step checks that as the host ends (track_results) and
    the records name the variables (``vr``) without a second copy; a host skipped by its pre-hook
    set nothing (a hole), and reading the journal back gives the run's variables."""
    from nornflow.run.api import NornFlow

    (project / "workflows" / "held.yaml").write_text(
        "workflow:\n  name: held\n  tasks:\n"
        "    - name: rec\n      args: {step: a}\n      set_to: first\n"
        "      if: \"{{ host.name != 'r4' }}\"\n"
        "    - name: rec\n      args: {step: b, seen: \"{{ first | default('') }}\"}\n      set_to: second\n"
    )
    old = Path.cwd()
    os.chdir(project)
    try:
        result = NornFlow(project / "nornflow.yaml").run("held")
    finally:
        os.chdir(old)
    run_dir = run_dirs(project)[0]
    records = [r for r in read_records(run_dir / "journal.log")[0] if r["k"] == "hosts"]
    assert {r["t"] for r in records} == {0, 1}
    for record in records:
        assert "vc" not in record and record["vr"] == [("first", "second")[record["t"]]]
    holes = {positions_of(r)[k] for r in records if r["t"] == 0 for k in r.get("vm", {}).get("first", [])}
    assert holes == {4}  # r4, skipped by its `if`
    assert load_run(run_dir).result().variables == result.variables
    assert "first" not in result.variables["r4"] and result.variables["r2"]["first"] == "a:r2:"


def test_a_secret_variable_column_is_masked_value_by_value_and_reads_back(project: Path) -> None:
    """A secret-named variable that is not the result itself (a path into it) is journaled as a
    column; masking masks each value, not the column (which would break reading the journal)."""
    (project / "tasks" / "creds.py").write_text(
        "from nornir.core.task import Result, Task\n\n\n"
        "def creds(task: Task) -> Result:\n"
        '    """A result holding a secret."""\n'
        '    return Result(host=task.host, result={"tok": "tok-" + "s3cr3t-" + task.host.name})\n'
    )
    (project / "workflows" / "cred.yaml").write_text(
        "workflow:\n  name: cred\n  tasks:\n    - name: creds\n      set_to: {api_token: result.tok}\n"
    )
    assert cli(project, "run", "cred").exit_code == 0
    run_dir = run_dirs(project)[0]
    text = (run_dir / "journal.log").read_text()
    assert "s3cr3t" not in text
    records, torn = read_records(run_dir / "journal.log")
    assert torn is None
    assert any("vc" in r for r in records if r["k"] == "hosts")
    run = load_run(run_dir)
    assert run.torn_at is None
    assert run.result().variables == {f"r{i}": {"api_token": "********"} for i in range(6)}


def test_the_writer_reads_on_from_its_cursor_up_to_the_first_host_not_finished() -> None:
    from nornflow.run.journal import _done_from, _TaskLog
    from nornflow.run.results import TaskResult

    hosts = [f"h{i}" for i in range(6)]
    state = bytearray([1, 2, 0, 1, 255, 1])  # h2 not started, h4 running
    task = _TaskLog(
        0, TaskResult("t", 0, hosts, {h: i for i, h in enumerate(hosts)}), memoryview(state), bytearray(6), ()
    )
    assert list(_done_from(task)) == [0, 1] and task.cursor == 2
    assert list(_done_from(task)) == []
    state[2] = 1
    task.written[3] = 1  # journaled by its worker (a slow host)
    assert list(_done_from(task)) == [2] and task.cursor == 4
    state[4] = 4
    assert list(_done_from(task)) == [4, 5] and task.cursor == 6


def test_slow_hosts_finishing_together_are_each_journaled_before_their_worker_goes_on(
    tmp_path: Path,
) -> None:
    """Hammer: 32 workers finish 4,000 slow hosts at once; each returns from the journal only once
    the record holding its host is written (group commit), none waits forever, and every host is
    in the journal."""
    import threading

    from nornflow.run.journal import RunJournal, positions_of
    from nornflow.run.results import TaskResult

    hosts = [f"h{i:04d}" for i in range(4000)]
    journal = RunJournal(tmp_path / "run", var_names=[()])
    journal.open({"k": "header", "hosts": hosts}, hosts, 1)
    result = TaskResult("t", 0, hosts, {h: i for i, h in enumerate(hosts)})
    journal.task_started(0, result, None)
    task = journal._task
    assert task is not None
    for i in range(len(hosts)):
        result.codes[i] = 1
        result.durations[i] = 0.01  # slow: the pace never switches to the writer's chunks
    done = journal._slow_done(task, None)
    early: list[int] = []
    start = threading.Barrier(32)

    def worker(w: int) -> None:
        start.wait()
        for i in range(w, len(hosts), 32):
            done(i, 1)
            if not task.written[i]:
                early.append(i)

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a worker never got its record written"
    assert early == [] and journal.error is None
    journal.close()
    records = [r for r in read_records(tmp_path / "run" / "journal.log")[0] if r["k"] == "hosts"]
    journaled = sorted(p for r in records for p in positions_of(r))
    assert journaled == list(range(len(hosts)))


FLOW = """workflow:
  name: flow
  serial: [2, 50%]
  tasks:
    - name: rec
      args: {step: a}
      set_to: first
    - name: grp
      block:
        - name: rec
          args: {step: b, seen: "{{ first }}"}
      rescue:
        - name: rec
          args: {step: r}
      always:
        - name: rec
          args: {step: c, seen: "{{ first }}"}
"""


def test_a_run_of_blocks_and_batches_cut_short_resumes_to_the_same_document(project: Path) -> None:
    """Rolling batches, a block whose failure (r2's) reaches its rescue, and `always`: the journal
    of a finished run cut in the middle (as a kill leaves it) resumes; no journaled host-task runs
    again and the final document is the uninterrupted run's."""
    (project / "workflows" / "flow.yaml").write_text(FLOW)
    done = cli(project, "run", "flow", "--json")
    assert done.exit_code == 0, done.output  # r2's failure is rescued
    reference = json.loads(done.stdout)
    assert reference["rescued_hosts"] == ["r2"] and reference["batches"]
    run_dir = run_dirs(project)[0]
    lines = (run_dir / "journal.log").read_bytes().splitlines(keepends=True)
    records = [json.loads(line[9:]) for line in lines]
    hosts_at = [n for n, r in enumerate(records) if r["k"] == "hosts"]
    cut = hosts_at[len(hosts_at) // 2]  # the kill: half the outcomes journaled
    (run_dir / "journal.log").write_bytes(b"".join(lines[:cut]))
    for name in ("summary.json", "result.json"):
        (run_dir / name).unlink()
    kept = {(r["t"], p) for r in records[:cut] if r["k"] == "hosts" for p in positions_of(r)}
    (project / "execs.txt").write_text("")
    resumed = cli(project, "run", "flow", "--resume", "--json")
    assert resumed.exit_code == 0, resumed.output
    steps = {0: "a", 1: "b", 2: "r", 3: "c"}
    again = set(execs(project))
    assert not {f"{steps[t]} r{p}" for t, p in kept} & again
    assert strip(json.loads(resumed.stdout)) == strip(reference)


def test_resume_refuses_a_walk_under_fail_fast_and_run_once_in_batches(project: Path) -> None:
    (project / "workflows" / "flow.yaml").write_text(FLOW)
    (project / "workflows" / "once.yaml").write_text(
        "workflow:\n  name: once\n  serial: [3]\n  tasks:\n"
        "    - name: rec\n      args: {step: a}\n      run_once: true\n"
    )
    for args, what in (
        (("flow", "--failure-strategy", "fail-fast"), "under fail-fast"),
        (("once",), "serial batches and a run_once task"),
    ):
        first = cli(project, "run", *args)
        assert first.exit_code in (0, 1)
        refused = cli(project, "run", *args, "--resume")
        assert refused.exit_code == 3 and what in refused.output, refused.output
