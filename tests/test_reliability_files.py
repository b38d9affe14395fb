"""``write_file`` in a running workflow: atomic (temp file + rename), and a failed write on one host
leaves that host's old file intact, no temp file behind, and fails that host only, with an error that
names the file and the reason.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.run.results import WorkflowResult
from nornflow.settings import Settings

HOSTS = ["r1", "r2", "r3"]


def run_write(tmp_path: Path, out: Path, **run: Any) -> WorkflowResult:
    nf = NornFlow(
        Settings(base_dir=tmp_path), inventory=inventory_from_data({h: {} for h in HOSTS}), workers=3
    )
    workflow = {
        "workflow": {
            "name": "write",
            "tasks": [
                {
                    "name": "write_file",
                    "args": {
                        "filename": f"{out}/{{{{ host.name }}}}.cfg",
                        "content": "new {{ host.name }}\n",
                    },
                },
                {"name": "echo", "args": {"msg": "after"}},
            ],
        }
    }
    return nf.run(workflow, **run)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """An output directory with an old config per host."""
    directory = tmp_path / "out"
    directory.mkdir()
    for host in HOSTS:
        (directory / f"{host}.cfg").write_text(f"old {host}\n")
    return directory


def leftovers(directory: Path) -> list[str]:
    """Anything in ``directory`` besides the host configs (temp files, half-written copies)."""
    return sorted(p.name for p in directory.iterdir() if p.name not in {f"{h}.cfg" for h in HOSTS})


def assert_only_r2_failed(result: WorkflowResult, out: Path, *fragments: str) -> None:
    write, after = result.tasks
    assert result.exit_code == 1 and result.failed_hosts == ["r2"]
    assert [write[h].status for h in HOSTS] == ["changed", "failed", "changed"]
    error = write["r2"].error
    assert error is not None
    for fragment in (str(out / "r2.cfg"), *fragments):
        assert fragment in error.message, (fragment, error)
    assert after["r2"].skip_reason == "failed in an earlier task"
    for host in ("r1", "r3"):
        assert (out / f"{host}.cfg").read_text() == f"new {host}\n"


def test_write_file_replaces_atomically(tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch):
    """The new content reaches the target only through one rename of a complete temp file."""
    renames: list[tuple[str, str, str]] = []
    real_replace = os.replace

    def spy(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        renames.append((Path(src).name, Path(dst).name, Path(src).read_text()))
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", spy)
    result = run_write(tmp_path, out)
    assert result.exit_code == 0
    assert sorted((dst, text) for _, dst, text in renames) == [(f"{h}.cfg", f"new {h}\n") for h in HOSTS]
    assert all(src.startswith(".") and src.endswith(".tmp") for src, _, _ in renames)
    assert leftovers(out) == []


def test_failed_rename_keeps_the_old_file_and_fails_only_that_host(
    tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch
):
    real_replace = os.replace

    def disk_full_for_r2(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(dst).name == "r2.cfg":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", disk_full_for_r2)
    result = run_write(tmp_path, out)
    assert_only_r2_failed(result, out, "No space left on device")
    assert (out / "r2.cfg").read_text() == "old r2\n"
    assert leftovers(out) == []


def test_failure_while_writing_the_temp_file_keeps_the_old_file(
    tmp_path: Path, out: Path, monkeypatch: pytest.MonkeyPatch
):
    real_fsync = os.fsync
    calls = {"n": 0}

    def failing_fsync(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # the first host to flush its temp file hits an I/O error
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing_fsync)
    result = run_write(tmp_path, out, workers=1)
    write = result.tasks[0]
    assert result.exit_code == 1 and result.failed_hosts == ["r1"]
    assert write["r1"].error is not None and str(out / "r1.cfg") in write["r1"].error.message
    assert "Input/output error" in write["r1"].error.message
    assert (out / "r1.cfg").read_text() == "old r1\n"
    assert [(out / f"{h}.cfg").read_text() for h in ("r2", "r3")] == ["new r2\n", "new r3\n"]
    assert leftovers(out) == []


def test_a_directory_where_the_file_should_be(tmp_path: Path, out: Path):
    (out / "r2.cfg").unlink()
    (out / "r2.cfg").mkdir()
    (out / "r2.cfg" / "keep").write_text("untouched")
    result = run_write(tmp_path, out)
    assert_only_r2_failed(result, out, "directory")
    assert (out / "r2.cfg" / "keep").read_text() == "untouched"
    assert leftovers(out) == []


def test_a_file_where_the_directory_should_be(tmp_path: Path):
    blocker = tmp_path / "out"
    blocker.write_text("I am a file")
    nf = NornFlow(Settings(base_dir=tmp_path), inventory=inventory_from_data({"r1": {}}))
    result = nf.run(
        {
            "workflow": {
                "name": "w",
                "tasks": [{"name": "write_file", "args": {"filename": f"{blocker}/r1.cfg", "content": "x"}}],
            }
        }
    )
    error = result.tasks[0]["r1"].error
    assert result.exit_code == 1 and error is not None
    assert str(blocker / "r1.cfg") in error.message and "Not a directory" in error.message
    assert blocker.read_text() == "I am a file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_dry_run_writes_nothing_and_reports_the_diff(tmp_path: Path, out: Path):
    result = run_write(tmp_path, out, dry_run=True)
    assert result.exit_code == 0
    assert all(result.tasks[0][h].status == "changed" and "+new" in result.tasks[0][h].diff for h in HOSTS)
    assert [(out / f"{h}.cfg").read_text() for h in HOSTS] == [f"old {h}\n" for h in HOSTS]
    assert leftovers(out) == []


# ---- appends: many hosts, threads and processes into one file ----------------------------------------------

APPEND_HOSTS = 2000


def append_workflow(target: Path, content: str = "{{ host.name }} appended\n") -> dict[str, Any]:
    return {
        "workflow": {
            "name": "append",
            "tasks": [
                {"name": "write_file", "args": {"filename": str(target), "content": content, "append": True}}
            ],
        }
    }


@pytest.mark.parametrize("runner", ["work_queue", "threaded", "serial"])
def test_appends_from_2000_hosts_keep_every_line_on_every_runner(tmp_path: Path, runner: str):
    """Each append is a read-modify-write; without the path lock concurrent hosts read the same old
    file and the last rename wins (2,000 hosts left 84 lines on the threaded runner)."""
    hosts = [f"h{i:04d}" for i in range(APPEND_HOSTS)]
    target = tmp_path / "out" / "fleet.log"
    nf = NornFlow(
        Settings(base_dir=tmp_path, runner=runner),
        inventory=inventory_from_data({h: {} for h in hosts}),
        workers=20,
    )
    result = nf.run(append_workflow(target))
    assert result.exit_code == 0 and result.tasks[0].counts()["changed"] == APPEND_HOSTS
    lines = target.read_text().split("\n")
    assert lines.pop() == ""  # the file ends with a newline: the last line is whole too
    assert sorted(lines) == [f"{h} appended" for h in hosts]  # each exactly once, none torn
    # Nothing but the file and its (kept, empty) lock file: no temp file left behind.
    assert sorted(p.name for p in target.parent.iterdir()) == [".fleet.log.lock", "fleet.log"]


# One `nornflow run` of its own per process: the in-process lock cannot help, only the file lock can.
PROCESSES = 4
HOSTS_PER_PROCESS = 300


def test_appends_from_several_nornflow_processes_keep_every_line(tmp_path: Path):
    hosts = "".join(f"    p{{}}h{i:03d}: {{{{}}}}\n" for i in range(HOSTS_PER_PROCESS))
    target = tmp_path / "shared.log"
    projects = []
    for proc in range(PROCESSES):
        project = tmp_path / f"project{proc}"
        (project / "workflows").mkdir(parents=True)
        (project / "nornflow.yaml").write_text(
            "runner: threaded\nworkers: 8\ninventory:\n  hosts:\n" + hosts.format(*[proc] * HOSTS_PER_PROCESS)
        )
        (project / "workflows" / "append.yaml").write_text(
            "workflow:\n  name: append\n  tasks:\n    - name: write_file\n      args:\n"
            f'        filename: {target}\n        content: "{{{{ host.name }}}} appended\\n"\n'
            "        append: true\n"
        )
        projects.append(project)
    children = [
        subprocess.Popen(
            [sys.executable, "-m", "nornflow", "run", "append", "-C", str(project)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for project in projects
    ]
    outputs = [child.communicate(timeout=120)[0] for child in children]
    assert [child.returncode for child in children] == [0] * PROCESSES, outputs
    lines = target.read_text().split("\n")
    assert lines.pop() == ""
    expected = [f"p{p}h{i:03d} appended" for p in range(PROCESSES) for i in range(HOSTS_PER_PROCESS)]
    assert sorted(lines) == expected


def test_dry_run_append_writes_nothing_not_even_the_lock_file(tmp_path: Path, out: Path):
    target = out / "r1.cfg"
    nf = NornFlow(Settings(base_dir=tmp_path), inventory=inventory_from_data({h: {} for h in HOSTS}))
    result = nf.run(append_workflow(target), dry_run=True)
    write = result.tasks[0]
    assert result.exit_code == 0 and [write[h].status for h in HOSTS] == ["changed"] * 3
    assert all(f"+{h} appended" in write[h].diff for h in HOSTS)
    assert target.read_text() == "old r1\n" and leftovers(out) == []


def test_appending_nothing_is_not_a_change(tmp_path: Path, out: Path):
    nf = NornFlow(Settings(base_dir=tmp_path), inventory=inventory_from_data({h: {} for h in HOSTS}))
    result = nf.run(append_workflow(out / "r1.cfg", content=""))
    assert result.exit_code == 0 and [result.tasks[0][h].status for h in HOSTS] == ["ok"] * 3
    assert (out / "r1.cfg").read_text() == "old r1\n"


@pytest.mark.parametrize("cause", ["no fcntl", "no locks on this file system"])
def test_without_file_locks_threads_still_serialise_and_one_warning_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, cause: str
):
    """Windows has no fcntl, and some network file systems refuse flock: appends from one process stay
    whole, and a single warning says that other processes are not serialised."""
    from nornflow import fileio

    monkeypatch.setattr(fileio, "_warned_degraded", set())
    if cause == "no fcntl":
        monkeypatch.setattr(fileio, "fcntl", None)
    else:

        def no_locks(fd: int, operation: int) -> None:
            raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

        monkeypatch.setattr(fileio.fcntl, "flock", no_locks)
    hosts = [f"h{i:03d}" for i in range(300)]
    target = tmp_path / "fleet.log"
    nf = NornFlow(
        Settings(base_dir=tmp_path, runner="threaded"), inventory=inventory_from_data({h: {} for h in hosts})
    )
    with caplog.at_level("WARNING", logger="nornflow.fileio"):
        result = nf.run(append_workflow(target))
    assert result.exit_code == 0
    assert sorted(target.read_text().splitlines()) == [f"{h} appended" for h in hosts]
    warnings = [r.getMessage() for r in caplog.records if r.name == "nornflow.fileio"]
    assert len(warnings) == 1 and "serialised between the threads of this process only" in warnings[0]


def test_a_lock_file_that_cannot_be_created_fails_the_host_naming_the_file(tmp_path: Path):
    target = tmp_path / "fleet.log"
    (tmp_path / ".fleet.log.lock").mkdir()  # a directory where the lock file should be
    nf = NornFlow(Settings(base_dir=tmp_path), inventory=inventory_from_data({"r1": {}}))
    result = nf.run(append_workflow(target))
    error = result.tasks[0]["r1"].error
    assert result.exit_code == 1 and error is not None
    assert error.message.startswith(f"cannot lock {target}: ") and not target.exists()


def test_a_symlink_as_the_file_is_refused_and_the_real_path_still_appends(tmp_path: Path):
    """The final component is never followed (issue 13, item 13): hosts naming the link fail, saying
    so, and leave the file it points to alone; hosts naming the real file append under its lock."""
    from nornflow.fileio import lock_file_for

    real = tmp_path / "real.log"
    link = tmp_path / "link.log"
    link.symlink_to(real)
    hosts = {f"h{i:03d}": {"data": {"target": str(link if i % 2 else real)}} for i in range(400)}
    nf = NornFlow(
        Settings(base_dir=tmp_path, runner="threaded"), inventory=inventory_from_data(hosts), workers=20
    )
    result = nf.run(append_workflow(Path("{{ host.target }}")))
    odd = [h for i, h in enumerate(hosts) if i % 2]
    assert result.exit_code == 1 and result.failed_hosts == odd and link.is_symlink()
    error = result.tasks[0][odd[0]].error
    assert error is not None and error.message == (
        f"cannot write {link}: it is a symbolic link (write_file never follows one)"
    )
    assert sorted(real.read_text().splitlines()) == [f"{h} appended" for h in hosts if h not in odd]
    assert lock_file_for(link) == lock_file_for(real) == tmp_path / ".real.log.lock"
