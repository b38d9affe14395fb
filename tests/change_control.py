"""Helpers of the change-control tests: a project in tmp_path with N hosts, run through the CLI."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project

runner = CliRunner()


def make_project(root: Path, hosts: int = 4, tasks: str | None = None) -> Path:
    """A project (``nornflow init``) with hosts h00..h{n-1}, and the project task module ``tasks``."""
    create_project(root)
    (root / "inventory" / "hosts.yaml").write_text(
        yaml.safe_dump({f"h{i:02d}": {"data": {"n": i}} for i in range(hosts)})
    )
    if tasks is not None:
        (root / "tasks" / "project_tasks.py").write_text(textwrap.dedent(tasks))
    return root


def workflow(root: Path, name: str, body: str) -> Path:
    """Write ``workflows/NAME.yaml``."""
    path = root / "workflows" / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def run(root: Path, *args: str) -> tuple[Any, dict[str, Any] | None]:
    """``nornflow run ARGS --json-file`` in ``root``: the CLI result and the JSON document (if any)."""
    out = root / "result.json"
    if out.exists():
        out.unlink()
    old = Path.cwd()
    os.chdir(root)
    try:
        res = runner.invoke(
            app, ["run", *args, "--json-file", str(out)], env={"COLUMNS": "200"}, catch_exceptions=False
        )
    finally:
        os.chdir(old)
    data = json.loads(out.read_text()) if out.exists() else None
    return res, data


def statuses(data: dict[str, Any], task: int) -> dict[str, str]:
    """Host -> status of task number ``task`` in a --json document."""
    return {h: r["status"] for h, r in data["tasks"][task]["hosts"].items()}
