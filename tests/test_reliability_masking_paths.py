"""One masking pass covers every output path (issue 13, item 11): a secret fetched at runtime and kept
with ``set_to`` under a non-secret name, then repeated by a later task's error and log line, is masked
in a large run (progress, grouped failures) and a small one, in the console, ``--verbose``, ``--json``
(document and stderr), ``--json-file``, ``--debug``, the per-host recap and the run's log file; and
``nornflow show settings`` masks an inline inventory's passwords."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project
from nornflow.secrets import MASK

SECRET = "Rt-S3cret-" + "fetched-at-runtime"
TOKEN = "Tok-" + "stored-under-a-plain-name"

TASKS = '''\
import logging

from nornir.core.task import Result, Task

log = logging.getLogger("vault_task")


def fetch(task: Task) -> Result:
    """What a vault lookup returns: the secret under a secret-named key."""
    return Result(host=task.host, result={"user": "admin", "password": "Rt-S3cret-" + "fetched-at-runtime"})


def fetch_token(task: Task) -> Result:
    return Result(host=task.host, result={"api_token": "Tok-" + "stored-under-a-plain-name"})


def login(task: Task, secret: str, token: str) -> Result:
    log.warning("login to %s with %s / %s failed", task.host.name, secret, token)
    if task.host.name.endswith("3"):
        raise RuntimeError(f"login refused for {secret} and {token}")
    return Result(host=task.host, result=f"logged in with {secret}", failed=True)
'''


def make_project(root: Path, n: int) -> Path:
    create_project(root)
    (root / "tasks" / "vault.py").write_text(TASKS)
    hosts = {f"h{i:03d}": {"hostname": "192.0.2.1"} for i in range(n)}
    (root / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    tasks = [
        {"name": "fetch", "set_to": "vault_entry"},  # the whole payload, under a plain name
        {"name": "fetch_token", "set_to": {"plain": "result.api_token"}},  # one value, a plain name
        {
            "name": "login",
            "args": {"secret": "{{ vault_entry.password }}", "token": "{{ plain }}"},
        },
        {"name": "echo", "args": {"msg": "again {{ vault_entry.password }}"}},
    ]
    body = {"workflow": {"name": "vault", "failure_strategy": "run-all", "tasks": tasks}}
    (root / "workflows" / "vault.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    with (root / "nornflow.yaml").open("a") as settings:
        settings.write("log_dir: logs\n")
    return root


def invoke(project: Path, *args: str) -> Any:
    old = Path.cwd()
    os.chdir(project)
    try:
        return CliRunner().invoke(app, list(args), catch_exceptions=False)
    finally:
        os.chdir(old)


MODES = {
    "console": [],
    "verbose": ["--verbose"],
    "json": ["--json"],
    "json_file": ["--json-file", "out.json"],
    "debug": ["--debug"],
    "host_recap": ["--recap", "both"],
}


@pytest.mark.parametrize("hosts", [300, 4], ids=["large", "small"])
@pytest.mark.parametrize("mode", list(MODES))
def test_a_runtime_secret_is_masked_in_every_output(tmp_path: Path, hosts: int, mode: str):
    project = make_project(tmp_path, hosts)
    result = invoke(project, "run", "vault", *MODES[mode])
    assert result.exit_code == 1, result.output
    texts = {"stdout": result.stdout, "stderr": result.stderr}
    texts.update({str(p): p.read_text() for p in (project / "logs").glob("*.log")})
    if mode == "json_file":
        texts["json file"] = (project / "out.json").read_text()
    for where, text in texts.items():
        assert SECRET not in text and TOKEN not in text, f"leaked in {where}"
    everything = "".join(texts.values())
    assert f"login refused for {MASK} and {MASK}" in everything  # the failure is still reported
    if mode in ("json", "json_file"):
        document = json.loads(texts["stdout"] if mode == "json" else texts["json file"])
        assert document["variables"]["h000"]["vault_entry"]["password"] == MASK
        assert document["variables"]["h000"]["plain"] == MASK
        assert document["tasks"][3]["hosts"]["h000"]["result"] == f"again {MASK}"


def test_show_secrets_still_shows_them(tmp_path: Path):
    project = make_project(tmp_path, 4)
    result = invoke(project, "run", "vault", "--json", "--show-secrets")
    assert SECRET in result.stdout and TOKEN in result.stdout


def test_show_settings_masks_inline_inventory_secrets(tmp_path: Path):
    (tmp_path / "nornflow.yaml").write_text(
        yaml.safe_dump(
            {
                "inventory": {
                    "hosts": {"r1": {"hostname": "192.0.2.1", "password": "Inline-Pa55word", "data": {}}},
                    "defaults": {"password": "Default-Pa55word", "data": {"snmp_community": "Comm-unity-1"}},
                }
            }
        )
    )
    shown = invoke(tmp_path, "show", "settings")
    assert shown.exit_code == 0, shown.output
    for secret in ("Inline-Pa55word", "Default-Pa55word", "Comm-unity-1"):
        assert secret not in shown.output
    assert f"password: '{MASK}'" in shown.output and "--show-secrets shows them" in shown.output
    raw = invoke(tmp_path, "show", "settings", "--show-secrets")
    assert "Inline-Pa55word" in raw.output and "masked" not in raw.output
