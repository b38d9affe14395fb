"""A hook whose validation breaks its own contract is a validation error (issue 13, item 8): a
``validate_value`` or ``validate_task_compatibility`` that raises something unexpected, or that returns
something other than ``(bool, str)``, stops ``validate`` and ``run`` with exit 3 and one line naming the
hook, the task and the file; never exit 4 or a traceback, and never a silent pass."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import create_project

HOOKS = """\
from nornflow.hooks.base import PreRunHook
from nornflow.hooks.registry import register_hook


class _Base(PreRunHook):
    def _run_hook(self, task_model, host, vars_mgr):
        return True


@register_hook
class RaisesInValue(_Base):
    hook_name = "raises_in_value"

    def validate_value(self):
        raise ZeroDivisionError("a bug in the hook")


@register_hook
class RaisesInCompat(_Base):
    hook_name = "raises_in_compat"

    def validate_task_compatibility(self, task_model):
        return {}["missing"] if self.value == "key" else 1 / 0


@register_hook
class ReturnsString(_Base):
    hook_name = "returns_string"

    def validate_task_compatibility(self, task_model):
        return "no"


@register_hook
class ReturnsNone(_Base):
    hook_name = "returns_none"

    def validate_task_compatibility(self, task_model):
        return None


@register_hook
class ReturnsTriple(_Base):
    hook_name = "returns_triple"

    def validate_task_compatibility(self, task_model):
        return (True, "", "extra")
"""

CASES = {
    "raises_in_value": "RaisesInValue.validate_value() raised ZeroDivisionError: a bug in the hook",
    "raises_in_compat": "RaisesInCompat.validate_task_compatibility() raised ZeroDivisionError",
    "returns_string": "ReturnsString.validate_task_compatibility() must return (bool, str), got 'no'",
    "returns_none": "must return (bool, str), got None",
    "returns_triple": "must return (bool, str), got (True, '', 'extra')",
}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    create_project(tmp_path)
    (tmp_path / "hooks" / "broken.py").write_text(HOOKS)
    return tmp_path


@pytest.mark.parametrize("hook", list(CASES))
@pytest.mark.parametrize("command", ["validate", "run"])
def test_a_broken_hook_validation_is_exit_3_naming_hook_task_and_file(project: Path, hook: str, command: str):
    path = project / "workflows" / "broken.yaml"
    path.write_text(
        textwrap.dedent(
            f"""\
            workflow:
              name: broken
              tasks:
                - name: write_file
                  args: {{filename: "marker-{{{{ host.name }}}}", content: x}}
                - name: echo
                  args: {{msg: hi}}
                  {hook}: on
            """
        )
    )
    old = Path.cwd()
    os.chdir(project)
    try:
        result = CliRunner().invoke(app, [command, "broken"], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert result.exit_code == 3, result.output
    out = result.output
    assert CASES[hook] in out, out
    assert f"{path}:6, task 'echo', hook '{hook}'" in out, out
    assert "Traceback" not in out and "internal error" not in out
    assert not list(project.glob("marker-*")), "a task ran before the error was found"
