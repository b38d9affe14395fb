"""``nornflow schema``: JSON Schema of workflow files and nornflow.yaml, with every registered hook;
``nornflow init`` sets up yaml-language-server; every example and init workflow validates."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.cli.project import SCHEMA_FILES, create_project
from nornflow.workflow.schema import settings_schema, workflow_schema

REPO = Path(__file__).resolve().parent.parent


def _validator(schema: dict) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def _examples() -> list[Path]:
    return sorted((REPO / "examples").glob("*/workflows/**/*.yaml"))


@pytest.mark.source_tree
def test_every_example_workflow_and_settings_file_validates():
    assert _examples(), "no example workflow found"
    workflows = _validator(workflow_schema())
    for path in _examples():
        errors = [e.message for e in workflows.iter_errors(yaml.safe_load(path.read_text()))]
        assert not errors, (path, errors)
    settings = _validator(settings_schema())
    for path in sorted((REPO / "examples").glob("*/nornflow.yaml")):
        errors = [e.message for e in settings.iter_errors(yaml.safe_load(path.read_text()))]
        assert not errors, (path, errors)


def test_init_project_is_set_up_for_yaml_language_server(tmp_path: Path):
    create_project(tmp_path)
    vscode = json.loads((tmp_path / ".vscode" / "settings.json").read_text())
    mapping = vscode["yaml.schemas"]
    assert mapping[f"./{SCHEMA_FILES['workflow']}"] == ["workflows/**/*.yaml", "workflows/**/*.yml"]
    assert mapping[f"./{SCHEMA_FILES['settings']}"] == ["nornflow.yaml"]
    wf_schema = json.loads((tmp_path / SCHEMA_FILES["workflow"]).read_text())
    st_schema = json.loads((tmp_path / SCHEMA_FILES["settings"]).read_text())
    for path in (tmp_path / "workflows").glob("*.yaml"):
        _validator(wf_schema).validate(yaml.safe_load(path.read_text()))
    _validator(st_schema).validate(yaml.safe_load((tmp_path / "nornflow.yaml").read_text()))


def _errors(doc: str) -> list[str]:
    return [
        e.message for e in _validator(workflow_schema()).iter_errors(yaml.safe_load(textwrap.dedent(doc)))
    ]


def test_a_typo_key_and_a_wrong_hook_value_are_rejected():
    ok = """\
    workflow:
      name: w
      serial: [1, "10%"]
      tasks:
        - echo
        - {name: echo, args: {msg: x}, throttle: 2, tags: [a], output: false}
        - {name: echo, output: "{{ quiet }}"}
        - block: [{name: echo}]
          rescue: [echo]
          tags: b
    """
    assert _errors(ok) == []
    assert _errors(ok.replace("tags: [a]", "tgas: [a]"))  # typo key on a task
    assert _errors(ok.replace("throttle: 2", "throttle: two"))  # wrong hook value
    assert _errors(ok.replace("throttle: 2", "throttle: 0"))
    assert _errors(ok.replace("output: false", "output: 3"))
    assert _errors(ok.replace("tags: b", "loop: [1]"))  # not a block key
    assert _errors(ok.replace("serial:", "serail:"))  # typo at the workflow level
    assert _errors("workflow: {name: w, tasks: []}")


def test_schema_command_includes_the_projects_own_hooks(tmp_path: Path):
    create_project(tmp_path)
    (tmp_path / "hooks" / "mine.py").write_text(
        textwrap.dedent(
            """\
            from nornflow.hooks.base import PreRunHook
            from nornflow.hooks.registry import register_hook


            @register_hook
            class Ticket(PreRunHook):
                \"\"\"The change ticket of the task.\"\"\"

                hook_name = "ticket"
                value_schema = {"type": "string", "pattern": "^CHG[0-9]+$"}

                def _run_hook(self, task_model, host, vars_mgr):
                    return True


            @register_hook
            class Anything(PreRunHook):
                hook_name = "anything"

                def _run_hook(self, task_model, host, vars_mgr):
                    return True
            """
        )
    )
    out = tmp_path / "wf.schema.json"
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        res = CliRunner().invoke(app, ["schema", "--output", str(out)], catch_exceptions=False)
        settings_res = CliRunner().invoke(app, ["schema", "--settings-schema"], catch_exceptions=False)
    finally:
        os.chdir(old)
    assert res.exit_code == 0, res.output
    schema = json.loads(out.read_text())
    task = schema["$defs"]["task"]["properties"]
    assert task["ticket"]["pattern"] == "^CHG[0-9]+$"
    assert task["ticket"]["description"] == "The change ticket of the task."
    assert "anything" in task
    v = _validator(schema)
    good = {"workflow": {"name": "w", "tasks": [{"name": "echo", "ticket": "CHG42", "anything": [1, {}]}]}}
    assert not list(v.iter_errors(good))
    good["workflow"]["tasks"][0]["ticket"] = "42"
    assert list(v.iter_errors(good))
    assert settings_res.exit_code == 0
    assert "task_dirs" in json.loads(settings_res.stdout)["properties"]


@pytest.mark.source_tree
def test_every_workflow_in_the_docs_validates():
    import re

    validator = _validator(workflow_schema())
    found = 0
    for md in [*sorted((REPO / "docs").glob("*.md")), REPO / "README.md"]:
        for block in re.findall(r"```yaml\n(.*?)```", md.read_text(), re.S):
            doc = yaml.safe_load(block)
            if isinstance(doc, dict) and "workflow" in doc:
                found += 1
                assert not [e.message for e in validator.iter_errors(doc)], md
    assert found >= 4
