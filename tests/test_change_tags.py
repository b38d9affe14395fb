"""Tags: ``tags:`` on tasks and blocks, --tags, --skip-tags, --start-at-task, --list-tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.change_control import make_project, run, workflow

FLOW = """\
workflow:
  name: tagged
  tasks:
    - {name: echo, description: facts, args: {msg: facts}, tags: [facts]}
    - name: config
      block:
        - {name: echo, description: push, args: {msg: push}, tags: push}
        - {name: echo, description: verify, args: {msg: verify}}
      tags: [config]
    - {name: echo, description: report, args: {msg: report}, tags: [always]}
    - {name: echo, description: debug, args: {msg: debug}, tags: [never, debug]}
"""


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = make_project(tmp_path, hosts=2)
    workflow(root, "tagged", FLOW)
    return root


def _ran(data: dict) -> list[str]:
    return [t["hosts"]["h00"]["result"] for t in data["tasks"]]


def test_tags_run_only_the_tagged_tasks_and_always(root: Path):
    res, data = run(root, "tagged", "--tags", "config")
    assert res.exit_code == 0, res.output
    assert _ran(data) == ["push", "verify", "report"]  # block tags reach its tasks; always runs
    assert data["selection"] == {"tags": ["config"], "skip_tags": [], "start_at_task": None}
    assert data["tasks"][0]["controls"] == {"tags": ["config", "push"]}
    assert "(tags config,push)" in res.output
    res, data = run(root, "tagged", "--tags", "facts,debug")
    assert _ran(data) == ["facts", "report", "debug"]  # never runs when named


def test_skip_tags_and_untagged_default(root: Path):
    _, data = run(root, "tagged")
    assert _ran(data) == ["facts", "push", "verify", "report"]  # never-tagged left out
    _, data = run(root, "tagged", "--skip-tags", "push", "--skip-tags", "always")
    assert _ran(data) == ["facts", "verify"]


def test_start_at_task(root: Path):
    res, data = run(root, "tagged", "--start-at-task", "verify")
    assert res.exit_code == 0
    assert _ran(data) == ["verify", "report"]
    assert "selection" in data and data["selection"]["start_at_task"] == "verify"


def test_unknown_tag_or_task_is_exit_3(root: Path):
    res, data = run(root, "tagged", "--tags", "confg")
    assert res.exit_code == 3 and data is None and "confg" in res.output
    res, _ = run(root, "tagged", "--start-at-task", "nope")
    assert res.exit_code == 3 and "nope" in res.output and "tagged.yaml" in res.output


def test_bad_tag_value_is_exit_3(root: Path):
    workflow(root, "bad", 'workflow:\n  name: bad\n  tasks:\n    - {name: echo, tags: ["a b"]}\n')
    res, _ = run(root, "bad")
    assert res.exit_code == 3 and "tags" in res.output and "bad.yaml" in res.output


def test_list_tasks_shows_tags_after_blocks_and_selection(root: Path):
    res, data = run(root, "tagged", "--list-tasks")
    assert res.exit_code == 0 and data is None
    lines = [line.strip() for line in res.output.splitlines()]
    assert "facts  tags: facts" in lines
    assert "block config" in lines
    assert "push  tags: config, push" in lines
    res, _ = run(root, "tagged", "--list-tasks", "--tags", "push")
    assert "push  tags: config, push" in res.output and "verify" not in res.output


def test_list_tasks_expands_blueprints_inside_blocks(tmp_path: Path):
    root = make_project(tmp_path, hosts=1)
    (root / "blueprints").mkdir(exist_ok=True)
    (root / "blueprints" / "checks.yaml").write_text(
        "tasks:\n"
        "  - {name: echo, description: check one, tags: [check]}\n"
        "  - {name: echo, description: check two}\n"
    )
    workflow(
        root,
        "bp",
        """\
        workflow:
          name: bp
          tasks:
            - name: guarded
              block:
                - blueprint: checks
              rescue:
                - {name: echo, description: fix}
              tags: [guard]
        """,
    )
    res, _ = run(root, "bp", "--list-tasks", "--tags", "check")
    assert res.exit_code == 0, res.output
    assert "check one  tags: check, guard" in res.output and "check two" not in res.output
    res, data = run(root, "bp")
    assert res.exit_code == 0
    assert [t["hosts"]["h00"]["status"] for t in data["tasks"]] == ["ok", "ok", "skipped"]
