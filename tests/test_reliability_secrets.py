"""Secrets never reach the console, the logs or ``--json`` unless the operator asks (``--show-secrets``).

Secrets come from the inventory (host password, secret-named data keys), the variables (workflow
``vars``, ``--vars``, runtime variables such as ``set`` or ``set_to`` with a secret name) and results
(secret-named keys in a task's result). Each is echoed, logged, raised and returned below; none may
appear in any output. Tracebacks (``--debug``) never show local variables.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project
from nornflow.secrets import MASK

runner = CliRunner()

#: Every secret of the project below, by where it comes from.
SECRETS = {
    "host password": "change-me",  # inventory/defaults.yaml of the init project
    "host data": "EnableS3cret!",
    "host data token": "tok-ABCDEF123",
    "workflow vars": "DbPassw0rd-xyz",
    "cli vars": "Comm-Unity-42",
    "result key": "ResultPass-777",
    "set task": "SetApiKey-999",
    "set_to": "Bearer-XYZ-0042",
}

LEAKY_TASKS = """\
import logging

from nornir.core.task import Result, Task

log = logging.getLogger("project.leaky")


def leaky(task: Task) -> Result:
    log.warning("logging in to %s with password %s", task.host.name, task.host.password)
    log.debug("enable secret is %s", task.host["enable_secret"])
    return Result(host=task.host, result={"password": "ResultPass-777", "note": "used tok-ABCDEF123"})


def bearer(task: Task) -> Result:
    return Result(host=task.host, result="Bearer-XYZ-0042")


def explode(task: Task) -> Result:
    password = task.host.password
    raise RuntimeError(f"authentication failed with {password} on {task.host.name}")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    create_project(tmp_path)
    hosts_file = tmp_path / "inventory" / "hosts.yaml"
    hosts = yaml.safe_load(hosts_file.read_text())
    for data in (h["data"] for h in hosts.values()):
        data["enable_secret"] = SECRETS["host data"]
        data["api_token"] = SECRETS["host data token"]
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False))
    (tmp_path / "tasks" / "leaky.py").write_text(LEAKY_TASKS)
    workflow = {
        "workflow": {
            "name": "leak",
            "vars": {"db_password": SECRETS["workflow vars"]},
            "tasks": [
                {
                    "name": "echo",
                    "args": {"msg": "login {{ host.password }} enable {{ host.enable_secret }}"},
                },
                {"name": "echo", "args": {"msg": "db {{ db_password }} snmp {{ snmp_community }}"}},
                {"name": "echo", "args": {"msg": "token {{ host.api_token }}"}},
                {"name": "leaky"},
                {"name": "set", "args": {"api_key": SECRETS["set task"]}},
                {"name": "echo", "args": {"msg": "key {{ api_key }}"}},
                {"name": "bearer", "set_to": "auth_token"},
                {"name": "echo", "args": {"msg": "bearer {{ auth_token }}"}},
                {"name": "explode", "ignore_errors": True},
            ],
        }
    }
    (tmp_path / "workflows" / "leak.yaml").write_text(yaml.safe_dump(workflow, sort_keys=False))
    return tmp_path


def cli(project: Path, *args: str) -> Any:
    old = Path.cwd()
    os.chdir(project)
    try:
        return runner.invoke(app, ["run", "leak", "--vars", f"snmp_community={SECRETS['cli vars']}", *args])
    finally:
        os.chdir(old)


def leaked(text: str) -> list[str]:
    return [where for where, secret in SECRETS.items() if secret in text]


@pytest.mark.parametrize("verbose", [False, True])
def test_console_output_masks_every_secret(project: Path, verbose: bool):
    result = cli(project, *(["--verbose"] if verbose else []))
    assert result.exit_code == 0, result.output
    assert not leaked(result.output), result.output
    assert MASK in result.output
    # what is not secret still shows
    assert "login ******** enable ********" in result.output and "used ********" in result.output


def test_json_masks_every_secret(project: Path):
    result = cli(project, "--json")
    assert result.exit_code == 0, result.output
    assert not leaked(result.stdout), result.stdout
    assert not leaked(result.stderr)
    data = json.loads(result.stdout)
    hosts = data["tasks"][3]["hosts"]
    assert hosts["r1"]["result"] == {"password": MASK, "note": f"used {MASK}"}
    assert data["variables"]["r1"] == {"api_key": MASK, "auth_token": MASK}
    error = data["tasks"][8]["hosts"]["r1"]["error"]
    assert error["message"] == f"authentication failed with {MASK} on r1"


def test_show_secrets_shows_them(project: Path):
    result = cli(project, "--json", "--show-secrets")
    assert result.exit_code == 0
    assert set(leaked(result.stdout)) == set(SECRETS)


def _run_process(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "nornflow",
            "run",
            "leak",
            "--vars",
            f"snmp_community={SECRETS['cli vars']}",
            *args,
        ],
        cwd=project,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
        timeout=60,
    )


def test_logs_are_masked_and_shown_at_the_right_level(project: Path):
    """A task logging a password: the warning reaches stderr, masked; debug lines only with --debug."""
    normal = _run_process(project)
    assert normal.returncode == 0, normal.stderr
    assert "logging in to r1 with password ********" in normal.stderr
    assert "enable secret is" not in normal.stderr
    assert not leaked(normal.stdout + normal.stderr)

    debug = _run_process(project, "--debug")
    assert debug.returncode == 0, debug.stderr
    assert "enable secret is ********" in debug.stderr
    assert not leaked(debug.stdout + debug.stderr)

    shown = _run_process(project, "--show-secrets")
    assert f"with password {SECRETS['host password']}" in shown.stderr


def test_debug_traceback_never_prints_locals(project: Path, monkeypatch: pytest.MonkeyPatch):
    """An internal error with --debug shows its traceback, but not the frame's local variables."""
    from nornflow.run.api import NornFlow

    def broken_run(self: NornFlow, *args: Any, **kwargs: Any) -> Any:
        device_password = "".join(reversed("ylnOlacoL-2retnuH"))  # only a dump of locals shows it
        raise RuntimeError(f"internal failure ({len(device_password)} chars)")

    monkeypatch.setattr(NornFlow, "run", broken_run)
    result = cli(project, "--debug")
    assert result.exit_code == 4
    assert "Traceback" in result.output and "internal failure (17 chars)" in result.output
    assert "Hunter2-LocalOnly" not in result.output
    assert not leaked(result.output)


def test_a_failing_task_traceback_in_json_holds_no_secret(project: Path):
    body = textwrap.dedent(
        """\
        workflow:
          name: leak
          tasks:
            - name: explode
        """
    )
    (project / "workflows" / "leak.yaml").write_text(body)
    result = cli(project, "--json", "--debug")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    r1 = data["tasks"][0]["hosts"]["r1"]
    assert "Traceback" in r1["result"] and "RuntimeError" in r1["result"]
    assert not leaked(result.stdout + result.stderr)
