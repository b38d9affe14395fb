"""The task catalog: project task dirs, hidden folders, dotted paths."""

from __future__ import annotations

from pathlib import Path

from nornflow.workflow.catalog import TaskCatalog

TASK = '''
from nornir.core.task import Result, Task


def ping(task: Task) -> Result:
    """Say pong."""
    return Result(host=task.host, result="pong")
'''


def test_project_under_a_hidden_directory_keeps_its_tasks(tmp_path: Path) -> None:
    """Only folders inside the task dir are skipped for a leading dot, not the project's own path."""
    tasks = tmp_path / ".work" / "net" / "project" / "tasks"
    tasks.mkdir(parents=True)
    (tasks / "net.py").write_text(TASK)
    hidden = tasks / ".scratch"
    hidden.mkdir()
    (hidden / "junk.py").write_text(TASK.replace("ping", "junk"))
    catalog = TaskCatalog([tasks])
    assert "ping" in catalog
    assert catalog.tasks["ping"].description == "Say pong."
    assert "junk" not in catalog
