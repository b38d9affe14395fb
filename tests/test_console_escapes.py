"""Terminal escape sequences from devices, inventories and errors never reach the terminal raw.

A host name, a task result, an error message or a skip reason holding ``\\x1b[2J`` (clear screen),
``\\x1b]0;title\\x07`` (retitle the terminal), ``\\r`` (overwrite the line) or ``\\x00`` is printed
with those characters as visible escapes, on small runs (per-host lines), large runs (summaries),
the recap, errors, listings and log lines.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project
from nornflow.cli.text import markup, printable

runner = CliRunner()

CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
EVIL = f"{CLEAR}{TITLE}\rok r9\x00\x9b"
RAW = ("\x1b", "\x07", "\r", "\x00", "\x9b")

TASKS = """\
import logging

from nornir.core.task import Result, Task

EVIL = {evil!r}


def evil(task: Task) -> Result:
    logging.getLogger("project.evil").warning("device said %s", EVIL)
    if task.host.name.startswith("bad"):
        raise RuntimeError("auth failed " + EVIL)
    return Result(host=task.host, result="line one " + EVIL + "\\nline two " + EVIL)
"""


HOOKS = """\
from nornflow.hooks.base import PreRunHook, Skip
from nornflow.hooks.registry import register_hook


@register_hook
class EvilSkip(PreRunHook):
    \"\"\"Skips every host, with a reason a device could have written.\"\"\"

    hook_name = "evil_skip"

    def _run_hook(self, task_model, host, vars_mgr):
        return Skip("because " + {evil!r})
"""


def _project(tmp_path: Path, n_hosts: int) -> Path:
    create_project(tmp_path)
    (tmp_path / "hooks" / "evil_hooks.py").write_text(HOOKS.format(evil=EVIL))
    hosts = {f"bad{EVIL}": {}, f"r{EVIL}": {}} | {f"h{i:03d}": {} for i in range(n_hosts - 2)}
    (tmp_path / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (tmp_path / "tasks" / "evil.py").write_text(TASKS.format(evil=EVIL))
    flow = {
        "workflow": {
            "name": f"flow{CLEAR}",
            "description": f"about {TITLE}",
            "tasks": [
                {"name": "evil", "description": f"does {EVIL}", "ignore_errors": False},
                {"name": "echo", "args": {"msg": f"x{EVIL}"}, "evil_skip": True},
            ],
        }
    }
    (tmp_path / "workflows" / "evil.yaml").write_text(yaml.safe_dump(flow))
    return tmp_path


def _run(project: Path, *args: str):
    old = Path.cwd()
    os.chdir(project)
    try:
        return runner.invoke(app, ["run", "evil", *args], catch_exceptions=False)
    finally:
        os.chdir(old)


def _assert_no_raw_controls(text: str) -> None:
    for char in RAW:
        assert char not in text, (char, text)


def test_printable_shows_controls_as_escapes():
    assert printable(EVIL) == "\\x1b[2J\\x1b]0;pwned\\x07\\rok r9\\x00\\x9b"
    assert printable("a\nb\tc") == "a\\nb\\tc"  # one-line text: a newline would forge a line
    assert printable("a\r\nb\tc\rd", multiline=True) == "a\nb\tc\\rd"  # blocks keep their layout
    assert printable("plain text: ünïcode") == "plain text: ünïcode"
    assert markup("[bold]x\x1b[0m") == "\\[bold]x\\x1b[0m"


@pytest.mark.parametrize("n_hosts", [4, 260], ids=["per-host-lines", "summary"])
def test_a_run_prints_no_raw_control_character(tmp_path: Path, n_hosts: int):
    project = _project(tmp_path, n_hosts)
    result = _run(project, "--verbose" if n_hosts < 10 else "--workers=2")
    assert result.exit_code == 1, result.output
    out = result.output
    _assert_no_raw_controls(out)
    assert "bad\\x1b[2J\\x1b]0;pwned\\x07\\rok r9\\x00\\x9b" in out  # the host name, escaped
    assert "auth failed \\x1b[2J" in out  # the error message
    assert "recap" in out and "flow\\x1b[2J" in out


def test_results_and_skip_reasons_are_escaped_in_per_host_lines(tmp_path: Path):
    project = _project(tmp_path, 4)
    out = _run(project).output
    _assert_no_raw_controls(out)
    assert "line one \\x1b[2J" in out and "line two \\x1b[2J" in out
    assert "because \\x1b[2J" in out  # a skip reason


def test_log_lines_of_tasks_are_escaped(tmp_path: Path, capfd: pytest.CaptureFixture[str]):
    from nornflow.cli.masking import Masker, log_to_stderr
    from nornflow.secrets import SecretRegistry

    with log_to_stderr(False, Masker(SecretRegistry(), True)):
        logging.getLogger("project.evil").warning("device said %s", EVIL)
    err = capfd.readouterr().err
    _assert_no_raw_controls(err)
    assert "device said \\x1b[2J" in err


def test_errors_and_listings_are_escaped(tmp_path: Path):
    project = _project(tmp_path, 4)
    (project / "workflows" / "typo.yaml").write_text(
        yaml.safe_dump({"workflow": {"name": "t", "tasks": [{"name": f"nope{EVIL}"}]}})
    )
    old = Path.cwd()
    os.chdir(project)
    try:
        error = runner.invoke(app, ["run", "typo"], catch_exceptions=False)
        listing = runner.invoke(app, ["show", "workflows"], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert error.exit_code == 3
    _assert_no_raw_controls(error.output)
    assert "nope\\x1b[2J" in error.output
    _assert_no_raw_controls(listing.output)
    assert "about \\x1b]0;pwned\\x07" in listing.output
