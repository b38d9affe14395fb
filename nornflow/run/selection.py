"""Which tasks run: ``--tags``, ``--skip-tags``, ``--start-at-task``, and the ``--serial`` sizes.

Tags select tasks before the run (a task's ``tags`` include its blocks'): with ``--tags`` only tasks
that have one of them run, plus tasks tagged ``always``; ``--skip-tags`` leaves out tasks that have
one of them (``always`` too); a task tagged ``never`` runs only when ``--tags`` names one of its tags.
``--start-at-task NAME`` leaves out every task before the first one whose description or name is NAME.
A selection that names an unknown tag or task, or leaves no task, is an error before the run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from nornflow.exceptions import WorkflowError
from nornflow.hooks.builtins.control import tags_of
from nornflow.models.blocks import Block, Node
from nornflow.models.serial import parse_serial, parse_serial_text
from nornflow.run.prepare import PreparedTask, PreparedWorkflow

__all__ = ["list_tasks", "select_tasks", "serial_sizes", "task_label"]


def task_label(task: PreparedTask) -> str:
    """How a task is named in listings and by ``--start-at-task``: its description, else its name."""
    return task.model.description or task.name


def serial_sizes(value: Any, file: str | None = None) -> tuple[int | float, ...] | None:
    """The batch sizes of ``serial`` (the workflow's value, or ``--serial 1,10%,100%``)."""
    try:
        if isinstance(value, str) and "," in value:
            return parse_serial_text(value)
        return parse_serial(value)
    except ValueError as exc:
        raise WorkflowError(f"serial: {exc}", file=file, key="serial") from None


def _wanted(tags: frozenset[str], only: frozenset[str], skip: frozenset[str]) -> bool:
    if tags & skip:
        return False
    if "never" in tags and not (tags & only):
        return False
    if not only:
        return True
    return bool(tags & only) or "always" in tags


def select_tasks(
    prepared: PreparedWorkflow,
    tags: Sequence[str] | None,
    skip_tags: Sequence[str] | None,
    start_at_task: str | None,
) -> tuple[PreparedWorkflow, dict[str, Any] | None]:
    """The workflow with only the selected tasks (the same object when nothing selects), and what
    selected them (for the result)."""
    only, skip = frozenset(tags or ()), frozenset(skip_tags or ())
    never_tagged = not any(tags_of(t.model) for t in prepared.tasks)
    if not (only or skip or start_at_task) and never_tagged:
        return prepared, None
    all_tags = frozenset().union(*(tags_of(t.model) for t in prepared.tasks))
    unknown = sorted((only | skip) - all_tags - {"always", "never"})
    if unknown:
        raise WorkflowError(
            f"no task has the tag {unknown[0]!r} (tags: {', '.join(sorted(all_tags)) or 'none'})",
            file=prepared.file,
            key="--tags" if unknown[0] in only else "--skip-tags",
        )
    keep = [_wanted(tags_of(t.model), only, skip) for t in prepared.tasks]
    if start_at_task is not None:
        labels = [task_label(t) for t in prepared.tasks]
        names = [t.name for t in prepared.tasks]
        first = labels.index(start_at_task) if start_at_task in labels else None
        if first is None and start_at_task in names:
            first = names.index(start_at_task)
        if first is None:
            raise WorkflowError(
                f"--start-at-task: no task is called {start_at_task!r} "
                f"(tasks: {', '.join(dict.fromkeys(labels))})",
                file=prepared.file,
                key="--start-at-task",
            )
        keep = [k and n >= first for n, k in enumerate(keep)]
    if all(keep):
        selection = None if not (only or skip or start_at_task) else _selection(only, skip, start_at_task)
        return prepared, selection
    if not any(keep):
        raise WorkflowError(
            "the selection (--tags, --skip-tags, --start-at-task) leaves no task to run", file=prepared.file
        )
    renumber: dict[int, int] = {}
    tasks: list[PreparedTask] = []
    for n, task in enumerate(prepared.tasks):
        if keep[n]:
            renumber[n] = len(tasks)
            tasks.append(task)
    tree = None if prepared.tree is None else _prune(prepared.tree, renumber)
    return (
        dataclasses.replace(prepared, tasks=tasks, tree=tree),
        _selection(only, skip, start_at_task),
    )


def _selection(only: frozenset[str], skip: frozenset[str], start: str | None) -> dict[str, Any]:
    return {"tags": sorted(only), "skip_tags": sorted(skip), "start_at_task": start}


def _prune(nodes: Sequence[Node], renumber: dict[int, int]) -> list[Node]:
    out: list[Node] = []
    for node in nodes:
        if isinstance(node, int):
            if node in renumber:
                out.append(renumber[node])
            continue
        block = _prune(node.block, renumber)
        rescue = _prune(node.rescue, renumber) if block else []
        always = _prune(node.always, renumber)
        if block or always:
            out.append(Block(node.name, block, rescue, always, node.file, node.line))
    return out


def list_tasks(prepared: PreparedWorkflow) -> list[tuple[int, str, str, list[str]]]:
    """``(depth, section, label, tags)`` of every task in run order, blocks as their own rows
    (label ``block NAME``), for ``nornflow run --list-tasks``."""
    rows: list[tuple[int, str, str, list[str]]] = []

    def walk(nodes: Sequence[Node], depth: int, section: str) -> None:
        for node in nodes:
            if isinstance(node, int):
                task = prepared.tasks[node]
                rows.append((depth, section, task_label(task), sorted(tags_of(task.model))))
            else:
                rows.append((depth, section, f"block {node.name or ''}".rstrip(), []))
                for part in ("block", "rescue", "always"):
                    walk(getattr(node, part), depth + 1, part)

    walk(prepared.tree if prepared.tree is not None else list(range(len(prepared.tasks))), 0, "")
    return rows
