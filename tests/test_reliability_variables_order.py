"""``variables`` in ``--json`` come in inventory order, the same on every run (issue 13, item 18),
whatever order the worker threads finish the hosts in; each host's variables in the order set."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project

TASKS = """\
import time

from nornir.core.task import Result, Task


def late_first(task: Task, n: int) -> Result:
    # the first hosts of the inventory finish last
    time.sleep((n - task.host["i"]) * 0.001)
    return Result(host=task.host, result=f"{task.host.name} done")
"""


def run_json(project: Path, *args: str) -> dict[str, Any]:
    old = Path.cwd()
    os.chdir(project)
    try:
        result = CliRunner().invoke(app, ["run", "order", "--json", *args], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_variables_come_in_inventory_order_and_are_stable(tmp_path: Path):
    create_project(tmp_path)
    (tmp_path / "tasks" / "order.py").write_text(TASKS)
    n = 30
    names = [f"z{n - i:03d}" for i in range(n)]  # inventory order is not alphabetical order
    hosts = {name: {"hostname": "192.0.2.1", "data": {"i": i}} for i, name in enumerate(names)}
    (tmp_path / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts, sort_keys=False))
    tasks = [
        {"name": "late_first", "args": {"n": n}, "set_to": "second"},
        {"name": "set", "args": {"first": "{{ host.name }}"}},
        {"name": "late_first", "args": {"n": n}, "set_to": {"third": "result", "failed_flag": "failed"}},
    ]
    body = {"workflow": {"name": "order", "tasks": tasks}}
    (tmp_path / "workflows" / "order.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    documents = [run_json(tmp_path, "--workers", str(n)) for _ in range(2)]
    documents.append(run_json(tmp_path, "--workers", "1"))
    for document in documents:
        variables = document["variables"]
        assert list(variables) == names == document["hosts"]
        assert all(list(v) == ["second", "first", "third", "failed_flag"] for v in variables.values())
        assert variables[names[0]]["first"] == names[0]
    assert len({json.dumps(d["variables"]) for d in documents}) == 1  # byte for byte the same
