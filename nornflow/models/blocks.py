"""Blocks: ``block:`` / ``rescue:`` / ``always:`` groups of tasks, flattened into the workflow's tasks.

A workflow's tasks are kept as one flat list (what is prepared and run, task by task); its blocks are a
tree over positions in that list (:class:`Block`, ``tree`` of :class:`~nornflow.models.workflow.
WorkflowModel`). The hooks that make sense on a group are inherited by every task of the block, nested
blocks included: ``if``/``when`` (the block's conditions hold first), ``tags`` (added to the task's),
``throttle`` and ``check_mode`` (the task's own value wins). The others are refused with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from nornflow.exceptions import WorkflowError
from nornflow.yamlio import position_of

__all__ = ["BLOCK_HOOKS", "SECTIONS", "Block", "Node", "Placed", "flatten", "is_block", "leaves"]

#: The sections of a block, in the order they run.
SECTIONS = ("block", "rescue", "always")
#: The hooks a block takes (given to each of its tasks).
BLOCK_HOOKS = ("if", "when", "tags", "throttle", "check_mode")
#: Why the other hooks do not go on a block.
_REFUSED = {
    "loop": "a block runs its tasks once per host; put 'loop' on the tasks that loop",
    "set_to": "a block has no single result to store; put 'set_to' on a task",
    "store_as": "a block has no single result to store; put 'store_as' on a task",
    "retries": "retry a task, not a group (rescue handles a group that fails)",
    "timeout": "bound each task with its own 'timeout'",
    "run_once": "put 'run_once' on the tasks that run once",
    "single": "put 'single' on the tasks that run once",
    "ignore_errors": "it would excuse every failure and so never run 'rescue'; put it on tasks",
}

#: ``(raw task, file, line, origin)``: a task as written, and where.
Placed = tuple[Any, str | None, int | None, str | None]


@dataclass
class Block:
    """A block of the tree: its sections hold flat task positions (int) and nested blocks."""

    name: str | None
    block: list[Node] = field(default_factory=list)
    rescue: list[Node] = field(default_factory=list)
    always: list[Node] = field(default_factory=list)
    file: str | None = None
    line: int | None = None


Node = int | Block


def is_block(raw: Any) -> bool:
    """Whether a task entry is a block (it has a ``block`` key)."""
    return isinstance(raw, Mapping) and "block" in raw


def leaves(nodes: Sequence[Node]) -> list[int]:
    """Every task position under ``nodes``, in order."""
    out: list[int] = []
    for node in nodes:
        if isinstance(node, int):
            out.append(node)
        else:
            for section in SECTIONS:
                out.extend(leaves(getattr(node, section)))
    return out


@dataclass
class _Inherited:
    conditions: dict[str, list[Any]] = field(default_factory=dict)  # "if"/"when" -> conditions
    tags: list[str] = field(default_factory=list)
    defaults: dict[str, Any] = field(default_factory=dict)


def flatten(items: Sequence[Placed]) -> tuple[list[Placed], list[Node] | None]:
    """The leaf tasks of ``items`` in order (each with the block hooks it inherits) and the block tree
    over their positions; the tree is None when there is no block (a flat workflow)."""
    if not any(is_block(raw) for raw, *_ in items):
        return list(items), None
    out: list[Placed] = []
    tree = _flatten(items, _Inherited(), out)
    return out, tree


def _flatten(items: Sequence[Placed], inherited: _Inherited, out: list[Placed]) -> list[Node]:
    nodes: list[Node] = []
    for raw, file, line, origin in items:
        if not is_block(raw):
            out.append((_inherit(raw, inherited), file, line, origin))
            nodes.append(len(out) - 1)
            continue
        name = raw.get("name") if isinstance(raw.get("name"), str) else None
        where: dict[str, Any] = {"file": file, "line": line, "task": name, "origin": origin}
        for key in raw:
            if key in ("name", "description", *SECTIONS, *BLOCK_HOOKS):
                continue
            reason = _REFUSED.get(str(key))
            why = f" ({reason})" if reason else ""
            raise WorkflowError(
                f"{key!r} is not a key of a block{why}; a block takes name, block, rescue, always and "
                f"the hooks {', '.join(BLOCK_HOOKS)}",
                key=str(key),
                **where,
            )
        mine = _Inherited(
            {k: list(v) for k, v in inherited.conditions.items()},
            list(inherited.tags),
            dict(inherited.defaults),
        )
        for key in ("if", "when"):
            if key in raw:
                value = raw[key]
                mine.conditions.setdefault(key, []).extend(
                    value if isinstance(value, list | tuple) else [value]
                )
        if "tags" in raw:
            tags = raw["tags"]
            mine.tags.extend(
                t for t in ([tags] if isinstance(tags, str) else tags or []) if t not in mine.tags
            )
        for key in ("throttle", "check_mode"):
            if key in raw:
                mine.defaults[key] = raw[key]
        block = Block(name, file=file, line=line)
        for section in SECTIONS:
            children = raw.get(section)
            if children is None and section != "block":
                continue
            if not isinstance(children, list) or (section == "block" and not children):
                what = "a non-empty list" if section == "block" else "a list"
                raise WorkflowError(
                    f"'{section}' of a block must be {what} of tasks",
                    key=section,
                    **where,
                )
            located = [_placed(children, n, file, line, origin) for n in range(len(children))]
            setattr(block, section, _flatten(located, mine, out))
        nodes.append(block)
    return nodes


def _placed(items: Any, index: int, file: str | None, line: int | None, origin: str | None) -> Placed:
    """A block's child with where it was written: a blueprint-expanded child (a ``PlacedTask``, with
    its own file, line and origin) or a raw mapping (its line in the workflow file)."""
    item = items[index]
    if hasattr(item, "raw") and hasattr(item, "origin"):
        return (item.raw, item.file, item.line, item.origin)
    return (item, file, position_of(item)[1] or position_of(items, index)[1] or line, origin)


def _inherit(raw: Any, inherited: _Inherited) -> Any:
    """``raw`` with the block hooks of its enclosing blocks added."""
    if not (inherited.conditions or inherited.tags or inherited.defaults):
        return raw
    task = {"name": raw} if isinstance(raw, str) else raw
    if not isinstance(task, Mapping):
        return task  # WorkflowModel.create reports the bad shape
    task = dict(task)
    hooks = task.get("hooks") if isinstance(task.get("hooks"), Mapping) else None
    if hooks is not None:
        hooks = task["hooks"] = dict(hooks)

    def holder_of(key: str) -> dict[str, Any]:
        return hooks if hooks is not None and key in hooks else task

    for key, conditions in inherited.conditions.items():
        own_key = key
        for candidate in ("if", "when"):  # a task takes one spelling: the block's join the task's
            if candidate in task or (hooks is not None and candidate in hooks):
                own_key = candidate
                break
        holder = holder_of(own_key)
        own = holder.get(own_key)
        own_list = [] if own is None else list(own) if isinstance(own, list | tuple) else [own]
        merged = [*conditions, *own_list]
        holder[own_key] = merged[0] if len(merged) == 1 else merged
    if inherited.tags:
        holder = holder_of("tags")
        own = holder.get("tags")
        own_list = [] if own is None else [own] if isinstance(own, str) else list(own)
        holder["tags"] = [*inherited.tags, *(t for t in own_list if t not in inherited.tags)]
    for key, value in inherited.defaults.items():
        if key not in task and not (hooks is not None and key in hooks):
            task[key] = value
    return task
