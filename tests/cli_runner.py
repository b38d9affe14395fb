"""The command line run in-process from a project directory, as an operator runs it there."""

from __future__ import annotations

import os
from pathlib import Path

from typer.testing import CliRunner, Result

from nornflow.cli.app import app

_RUNNER = CliRunner()


def cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    """``nornflow ARGS`` with ``cwd`` as the working directory (restored after); exceptions the
    command does not handle propagate, so a test sees the traceback."""
    old = Path.cwd()
    os.chdir(cwd)
    try:
        return _RUNNER.invoke(app, list(args), catch_exceptions=False, env=env)
    finally:
        os.chdir(old)
