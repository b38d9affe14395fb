"""Load workflows from YAML files: safe loading, positions for errors, then the models."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from nornflow.exceptions import WorkflowError
from nornflow.models.workflow import WorkflowModel
from nornflow.yamlio import load_yaml_file, position_of

__all__ = ["load_workflow_file", "workflow_from_mapping"]


def workflow_from_mapping(data: Mapping[str, Any], *, file: str | None = None) -> WorkflowModel:
    """Build a workflow from a document mapping with a top-level ``workflow:`` key."""
    if not isinstance(data, Mapping):
        raise WorkflowError(
            f"a workflow file must be a mapping with a top-level 'workflow' key, got {type(data).__name__}",
            file=file,
        )
    if "workflow" not in data:
        keys = ", ".join(map(str, data)) or "nothing"
        raise WorkflowError(f"missing top-level 'workflow' key (found: {keys})", file=file, key="workflow")
    extra = [k for k in data if k != "workflow"]
    if extra:
        _, line, _ = position_of(data, extra[0])
        raise WorkflowError(
            f"unknown top-level key {extra[0]!r} (only 'workflow' is allowed)",
            file=file,
            line=line,
            key=str(extra[0]),
        )
    body = data["workflow"]
    _, line, _ = position_of(data, "workflow")
    task_lines: list[int | None] = []
    if isinstance(body, Mapping) and isinstance(body.get("tasks"), list):
        for item in body["tasks"]:
            task_lines.append(position_of(item)[1] if isinstance(item, Mapping) else None)
    return WorkflowModel.create(body, file=file, task_lines=task_lines, line=line)


def load_workflow_file(path: str | Path) -> WorkflowModel:
    """Read a workflow YAML file; every error names the file (and line where known)."""
    data = load_yaml_file(path)
    return workflow_from_mapping(data, file=str(path))
