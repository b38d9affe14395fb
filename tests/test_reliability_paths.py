"""``write_file`` path safety (issue 13, item 13): relative paths resolve against the project (also with
``-C DIR``); a path from a template or host data stays inside the project or ``output_dirs``; a path
the workflow names literally may go anywhere; the file itself is never followed as a symlink; ``mode``
sets the permission bits."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project
from nornflow.fileio import OutputPolicy, _current_umask
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.run.results import WorkflowResult
from nornflow.settings import Settings

runner = CliRunner()


def write_run(project: Path, hosts: dict[str, Any], args: dict[str, Any], **settings: Any) -> WorkflowResult:
    nf = NornFlow(Settings(base_dir=project, **settings), inventory=inventory_from_data(hosts), workers=4)
    workflow = {
        "workflow": {
            "name": "w",
            "tasks": [
                {"name": "write_file", "args": {"content": "x\n", **args}},
                {"name": "echo", "args": {"msg": "after"}},
            ],
        }
    }
    return nf.run(workflow)


@pytest.fixture(autouse=True)
def _scratch_cwd_and_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The current directory and ``~`` are scratch directories: a path that escapes lands there."""
    for name in ("cwd", "home"):
        (tmp_path / name).mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    directory = tmp_path / "project"
    directory.mkdir()
    return directory


def test_relative_paths_resolve_against_the_project_with_dash_c(tmp_path: Path, monkeypatch):
    project = tmp_path / "proj"
    create_project(project)
    body = {
        "workflow": {
            "name": "w",
            "tasks": [
                {"name": "write_file", "args": {"filename": "out/{{ host.name }}.txt", "content": "x"}}
            ],
        }
    }
    (project / "workflows" / "w.yaml").write_text(yaml.safe_dump(body))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = runner.invoke(app, ["run", "w", "-C", str(project)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (project / "out").iterdir()) == ["fw1.txt", "r1.txt", "r2.txt", "sw1.txt"]
    assert not (elsewhere / "out").exists()


@pytest.mark.parametrize(
    "bad",
    ["../escaped.txt", "{outside}/abs.txt", "~/nornflow-test-escape-{host}.txt", "sub/../../up.txt"],
)
def test_a_path_from_host_data_cannot_escape_the_project(project: Path, bad: str):
    outside = project.parent / "outside"
    outside.mkdir()
    target = bad.format(outside=outside, host="r2")
    hosts = {"r1": {"data": {"file": "ok/r1.txt"}}, "r2": {"data": {"file": target}}}
    result = write_run(project, hosts, {"filename": "{{ host.file }}"})
    assert result.exit_code == 1 and result.failed_hosts == ["r2"], result.to_json()
    error = result.tasks[0]["r2"].error
    assert error is not None and error.type == "TaskError"
    assert "outside the project and output_dirs" in error.message and str(project) in error.message
    assert (project / "ok" / "r1.txt").read_text() == "x\n"
    assert result.tasks[1]["r1"].status == "ok"
    resolved = Path(os.path.normpath(Path(os.path.expanduser(target)).absolute()))
    assert not (project / target).resolve().exists() and not resolved.exists()
    assert not list(outside.iterdir()) and not (project.parent / "escaped.txt").exists()
    assert not list((project.parent / "home").iterdir()) and not list((project.parent / "cwd").iterdir())


def test_a_path_the_workflow_names_literally_may_go_anywhere(project: Path):
    outside = project.parent / "outside"
    result = write_run(project, {"r1": {}}, {"filename": str(outside / "literal.txt")})
    assert result.exit_code == 0, result.to_json()
    assert (outside / "literal.txt").read_text() == "x\n"
    # the same path through a template is refused
    result = write_run(project, {"r1": {"data": {"f": str(outside / "t.txt")}}}, {"filename": "{{ host.f }}"})
    assert result.exit_code == 1 and not (outside / "t.txt").exists()


def test_output_dirs_allow_more_roots(project: Path):
    reports = project.parent / "reports"
    hosts = {"r1": {"data": {"f": str(reports / "r1.txt")}}}
    assert write_run(project, hosts, {"filename": "{{ host.f }}"}).exit_code == 1
    result = write_run(project, hosts, {"filename": "{{ host.f }}"}, output_dirs=["../reports"])
    assert result.exit_code == 0, result.to_json()
    assert (reports / "r1.txt").read_text() == "x\n"


def test_a_symlinked_directory_does_not_lead_outside(project: Path):
    outside = project.parent / "outside"
    outside.mkdir()
    (project / "link").symlink_to(outside, target_is_directory=True)
    result = write_run(project, {"r1": {"data": {"f": "link/x.txt"}}}, {"filename": "{{ host.f }}"})
    assert result.exit_code == 1 and not list(outside.iterdir())
    assert str(outside / "x.txt") in result.tasks[0]["r1"].error.message  # type: ignore[union-attr]


@pytest.mark.parametrize("append", [False, True])
def test_a_planted_symlink_as_the_file_is_never_followed(project: Path, append: bool):
    victim = project.parent / "victim.txt"
    victim.write_text("precious\n")
    (project / "r1.txt").symlink_to(victim)
    result = write_run(project, {"r1": {}}, {"filename": "{{ host.name }}.txt", "append": append})
    assert result.exit_code == 1
    error = result.tasks[0]["r1"].error
    assert error is not None and "is a symbolic link (write_file never follows one)" in error.message
    assert victim.read_text() == "precious\n" and (project / "r1.txt").is_symlink()


def test_mode_sets_the_permission_bits_and_the_default_follows_the_umask(project: Path):
    result = write_run(project, {"r1": {}, "r2": {}}, {"filename": "{{ host.name }}.txt", "mode": 0o640})
    assert result.exit_code == 0
    assert stat.S_IMODE((project / "r1.txt").stat().st_mode) == 0o640
    assert result.tasks[0]["r1"].result["mode"] == "0640"
    # the same content, another mode: only the mode changes, and that is a change
    result = write_run(project, {"r1": {}}, {"filename": "r1.txt", "mode": "600"})
    assert result.tasks[0]["r1"].status == "changed"
    assert stat.S_IMODE((project / "r1.txt").stat().st_mode) == 0o600
    assert (
        write_run(project, {"r1": {}}, {"filename": "r1.txt", "mode": "0o600"}).tasks[0]["r1"].status == "ok"
    )
    # without mode: a new file gets 0666 minus the umask, an existing one keeps its mode
    write_run(project, {"r1": {}}, {"filename": "new.txt"})
    umask = _current_umask()
    if umask is not None:
        assert stat.S_IMODE((project / "new.txt").stat().st_mode) == 0o666 & ~umask
    write_run(project, {"r1": {}}, {"filename": "r1.txt", "content": "changed\n"})
    assert stat.S_IMODE((project / "r1.txt").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", ["rw-r--r--", 0o17777, True, -1])
def test_a_bad_mode_fails_the_host_with_a_clear_error(project: Path, mode: Any):
    result = write_run(project, {"r1": {}}, {"filename": "r1.txt", "mode": mode})
    error = result.tasks[0]["r1"].error
    assert result.exit_code == 1 and error is not None
    assert error.message.startswith("write_file: mode must be octal permission bits")
    assert not (project / "r1.txt").exists()


def test_the_policy_resolves_and_refuses_as_documented(tmp_path: Path):
    policy = OutputPolicy.for_project(tmp_path, ["out"], literals={"filename": "/etc/nornflow-literal"})
    assert policy.resolve("a/b.txt") == tmp_path.resolve() / "a" / "b.txt"
    assert policy.resolve("/etc/nornflow-literal") == Path("/etc/nornflow-literal")
    for bad in ("/etc/passwd", "../x", "a/.."):
        with pytest.raises(OSError):
            policy.resolve(bad)
