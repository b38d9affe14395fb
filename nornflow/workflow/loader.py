"""Load workflows from YAML files: safe loading, positions for errors, blueprints, then the models.

Loading expands every ``- blueprint:`` reference (:mod:`nornflow.workflow.blueprints`) and renders
the template values of the hooks decided once per task (``shush: "{{ quiet }}"``) from the static
variables of a :class:`~nornflow.workflow.blueprints.LoadContext`, so what is validated and run is
the workflow as expanded, each task keeping the file and line it was written at.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from nornflow.exceptions import WorkflowError
from nornflow.models.blocks import flatten
from nornflow.models.workflow import WorkflowModel
from nornflow.workflow.blueprints import LoadContext, expand_tasks, render_load_time_hooks
from nornflow.yamlio import load_yaml_file, position_of

__all__ = ["load_workflow_file", "safe_workflow_lookup", "workflow_from_mapping"]

_Lookup = TypeVar("_Lookup", bound=Callable[..., Path | None])
#: How much of an over-long workflow reference an error message shows.
_SHOWN_CHARS = 60


def workflow_from_mapping(
    data: Mapping[str, Any], *, file: str | None = None, context: LoadContext | None = None
) -> WorkflowModel:
    """Build a workflow from a document mapping with a top-level ``workflow:`` key.

    ``context`` gives the blueprints and the static variables; without it a blueprint reference is an
    error and template hook values see no variable. A workflow file without a ``name`` is named after
    the file (NornFlow 1.0 makes the name optional).
    """
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
    if not isinstance(body, Mapping) or not isinstance(body.get("tasks"), list) or not body["tasks"]:
        return WorkflowModel.create(body, file=file, line=line)  # reports the bad shape
    body = dict(body)
    if "name" not in body and file is not None:
        body["name"] = Path(file).stem
    static = (context or LoadContext()).static(body.get("vars"))
    placed = expand_tasks(body["tasks"], file=file, context=context, static=static)
    if not placed:
        raise WorkflowError(
            "no task is left: every task comes from blueprints that their conditions leave out",
            file=file,
            line=position_of(data["workflow"], "tasks")[1] or line,
            key="tasks",
        )
    flat, tree = flatten([(t.raw, t.file, t.line, t.origin) for t in placed])
    body["tasks"] = [
        render_load_time_hooks(raw, static, file=tfile, line=tline, origin=origin)
        for raw, tfile, tline, origin in flat
    ]
    return WorkflowModel.create(
        body,
        file=file,
        line=line,
        task_lines=[t[2] for t in flat],
        task_files=[t[1] for t in flat],
        task_origins=[t[3] for t in flat],
        tree=tree,
    )


def load_workflow_file(path: str | Path, *, context: LoadContext | None = None) -> WorkflowModel:
    """Read a workflow YAML file; every error names the file (and line where known)."""
    data = load_yaml_file(path)
    return workflow_from_mapping(data, file=str(path), context=context)


def safe_workflow_lookup(find: _Lookup) -> _Lookup:
    """Decorate a ``find(self, ref)`` workflow lookup so that an OSError from probing the file system
    (a name or path too long for it, an unreadable directory) is a WorkflowError naming the reference.

    ``Path.is_file()`` returns False only for "not there"; any other OSError would escape the lookup and
    end the command as an internal error (exit 4) instead of a user error (exit 3).
    """

    @functools.wraps(find)
    def lookup(self: Any, ref: str, *args: Any, **kwargs: Any) -> Path | None:
        try:
            return find(self, ref, *args, **kwargs)
        except OSError as exc:
            raise WorkflowError(
                f"workflow {_shown(str(ref))} cannot be looked up: {exc.strerror or exc}"
            ) from exc

    return lookup  # type: ignore[return-value]


def _shown(ref: str) -> str:
    """``ref`` quoted, cut to its first characters with its length when it is too long to print."""
    if len(ref) <= _SHOWN_CHARS:
        return repr(ref)
    return f"{ref[:_SHOWN_CHARS]!r}... ({len(ref)} characters)"
