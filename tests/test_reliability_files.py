"""``write_file`` in a running workflow: atomic (temp file + rename), and a failed write on one host
leaves that host's old file intact, no temp file behind, and fails that host only, with an error that
names the file and the reason.
"""

from __future__ import annotations

import errno
import os
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
