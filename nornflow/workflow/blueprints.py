"""Blueprints: reusable task lists, included in a workflow with ``- blueprint: NAME``.

A blueprint is a YAML file of the project's blueprint dirs (``blueprint_dirs``, default
``blueprints``; NornFlow 1.0: ``local_blueprints``) holding ``tasks`` (a list, as in a workflow) and an
optional ``description``. A workflow (or another blueprint) includes it by file name, with or without
its extension (``checks.yaml``, ``checks``), or by path; the included tasks take the reference's place.

Blueprints are expanded when the workflow loads, before anything is validated or run, so their tasks
are validated like the workflow's own, and every error about one of them names the blueprint file and
line and how the blueprint was included. What expansion knows is static: the workflow's ``vars``, the
CLI ``--vars``, the domain and project defaults and the environment (:class:`LoadContext`), never a
host or a runtime variable.

- The name may be a Jinja2 template over those variables (``blueprint: "{{ platform }}_checks"``).
- ``if`` (or ``when``) on a reference: a condition over those variables is decided at load; false
  leaves the blueprint out (its name is not even rendered). A condition that uses ``host``, an
  inventory filter (``{groups: [core]}``) or a list of conditions applies per host instead: it is
  added to the ``if`` of every included task, both must hold (the blueprint's first).
- Blueprints may include blueprints; a blueprint that includes itself, directly or not, is an error
  listing the chain. Including the same blueprint several times is fine.

Hooks whose value is decided once for the whole task (``output``/``shush``, ``run_once``/``single``;
``renders_at_load``) may also be templates over the same static variables, rendered here.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2.meta

from nornflow.exceptions import NornFlowError, WorkflowError, YAMLLoadError
from nornflow.hooks.registry import HOOK_REGISTRY
from nornflow.templating import TemplateError, compile_args, compile_condition, environment, has_template
from nornflow.yamlio import LocatedDict, load_yaml_file, position_of

__all__ = [
    "BLUEPRINT_EXTENSIONS",
    "BlueprintCatalog",
    "BlueprintInfo",
    "LoadContext",
    "PlacedTask",
    "expand_tasks",
    "find_below",
    "render_load_time_hooks",
]

BLUEPRINT_EXTENSIONS = (".yaml", ".yml")
#: The keys of a blueprint file, and of a reference to one.
_FILE_KEYS = ("tasks", "description")
_REFERENCE_KEYS = ("blueprint", "if", "when")
_STATIC_LAYERS = "the workflow's vars, --vars, the domain and project defaults and NORNFLOW_VAR_*"


def find_below(directories: Iterable[str | Path], name: str) -> list[Path]:
    """The YAML files of ``directories`` (recursively, hidden folders left out) called ``name``, with
    or without its extension: how workflows and blueprints are found in their domain folders."""
    wanted = [name] if name.endswith(BLUEPRINT_EXTENSIONS) else [name + ext for ext in BLUEPRINT_EXTENSIONS]
    found: list[Path] = []
    for directory in map(Path, directories):
        if not directory.is_dir():
            continue
        for file_name in wanted:
            for path in sorted(directory.rglob(file_name)):
                if path.is_file() and not any(p.startswith(".") for p in path.relative_to(directory).parts):
                    found.append(path)
    return found


@dataclass(frozen=True)
class BlueprintInfo:
    """A blueprint of the catalog: its name (the file name), file, description and number of tasks."""

    name: str
    path: Path
    description: str
    tasks: int | None  # None when the file cannot be read (``nornflow show blueprints`` says so)
    problem: str | None = None


class BlueprintCatalog:
    """The blueprints of the project's blueprint dirs, by file name (``checks.yaml``)."""

    def __init__(self, directories: Iterable[str | Path] = (), *, base_dir: str | Path | None = None) -> None:
        self.directories = [Path(d) for d in directories]
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self._by_name: dict[str, list[Path]] = {}
        for directory in self.directories:
            if not directory.is_dir():
                continue
            for path in sorted(p for ext in BLUEPRINT_EXTENSIONS for p in directory.rglob(f"*{ext}")):
                if any(part.startswith(".") for part in path.relative_to(directory).parts):
                    continue
                self._by_name.setdefault(path.name, []).append(path)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._by_name))

    def __len__(self) -> int:
        return len(self._by_name)

    def paths(self, name: str) -> list[Path]:
        """Every file of the catalog called ``name`` (with its extension)."""
        return list(self._by_name.get(name, ()))

    def find(self, name: str) -> Path:
        """The blueprint ``name`` refers to: a file name of the catalog, with or without its extension,
        or a path (relative to a blueprint dir, the project or the working directory). Raises
        ``LookupError`` with the reason (not found, or two files of that name)."""
        has_ext = name.endswith(BLUEPRINT_EXTENSIONS)
        candidates = [name] if has_ext else [name + ext for ext in BLUEPRINT_EXTENSIONS]
        found = [p for c in candidates for p in self._by_name.get(c, ())]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise LookupError(
                f"blueprint {name!r} is ambiguous: {', '.join(map(str, found))} (give a path, or rename one)"
            )
        path = Path(name).expanduser()
        spellings = [path] if has_ext else [Path(f"{path}{ext}") for ext in BLUEPRINT_EXTENSIONS]
        bases = [Path()] if path.is_absolute() else [*self.directories, self.base_dir, Path.cwd()]
        for base in bases:
            for candidate in spellings:
                full = candidate if candidate.is_absolute() else base / candidate
                if full.is_file():
                    return full
        known = sorted(self._by_name)
        close = difflib.get_close_matches(name, known + [k.rsplit(".", 1)[0] for k in known], n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        where = ", ".join(map(str, self.directories)) or "no blueprint dirs"
        raise LookupError(
            f"unknown blueprint {name!r} (blueprint dirs: {where}; known: {', '.join(known) or 'none'}){hint}"
        )

    def info(self, name: str) -> list[BlueprintInfo]:
        """What ``nornflow show blueprints`` prints for the file(s) called ``name``."""
        infos = []
        for path in self._by_name.get(name, ()):
            try:
                data = load_yaml_file(path, what="blueprint")
                tasks = data.get("tasks") if isinstance(data, Mapping) else None
                description = data.get("description") if isinstance(data, Mapping) else None
                infos.append(
                    BlueprintInfo(
                        name,
                        path,
                        str(description or ""),
                        len(tasks) if isinstance(tasks, list) else None,
                        None if isinstance(tasks, list) else "no 'tasks' list",
                    )
                )
            except NornFlowError as exc:
                infos.append(BlueprintInfo(name, path, "", None, exc.message))
        return infos


@dataclass
class LoadContext:
    """What loading a workflow needs besides its file: the blueprints, and the static variables below
    the workflow's own ``vars`` (environment, project defaults, domain defaults) and above them (the
    CLI's ``--vars``)."""

    blueprints: BlueprintCatalog | None = None
    variables: Mapping[str, Any] = field(default_factory=dict)
    cli_vars: Mapping[str, Any] = field(default_factory=dict)

    def static(self, workflow_vars: Any) -> dict[str, Any]:
        """The variables blueprint names and conditions see: below ``--vars``, above the others."""
        merged = dict(self.variables)
        if isinstance(workflow_vars, Mapping):
            merged.update(workflow_vars)
        merged.update(self.cli_vars or {})
        return merged


@dataclass
class PlacedTask:
    """A task of the expanded workflow: its mapping, where it was written, and how it got there."""

    raw: Any
    file: str | None
    line: int | None
    origin: str | None = None


@dataclass(frozen=True)
class _Inclusion:
    name: str
    path: Path
    file: str | None
    line: int | None


def expand_tasks(
    tasks: Sequence[Any], *, file: str | None, context: LoadContext | None, static: Mapping[str, Any]
) -> list[PlacedTask]:
    """The workflow's tasks with every ``- blueprint:`` reference replaced by the tasks it includes."""
    out: list[PlacedTask] = []
    _expand(tasks, file, (), (), context, static, out)
    return out


def _item_line(items: Sequence[Any], index: int) -> int | None:
    item = items[index]
    if isinstance(item, Mapping):
        line = position_of(item)[1]
        if line is not None:
            return line
    return position_of(items, index)[1] if hasattr(items, "item_position") else None


def _origin(chain: tuple[_Inclusion, ...]) -> str | None:
    """``in blueprint 'b.yaml' included from blueprints/a.yaml:3, from workflows/w.yaml:7``."""
    if not chain:
        return None
    froms = ", from ".join(f"{inc.file or '<workflow>'}:{inc.line or '?'}" for inc in reversed(chain))
    return f"in blueprint {chain[-1].name!r} included from {froms}"


def _expand(
    items: Sequence[Any],
    file: str | None,
    chain: tuple[_Inclusion, ...],
    conditions: tuple[Any, ...],
    context: LoadContext | None,
    static: Mapping[str, Any],
    out: list[PlacedTask],
) -> None:
    for index, item in enumerate(items):
        line = _item_line(items, index)
        if isinstance(item, Mapping) and "blueprint" in item:
            _include(item, file, line, chain, conditions, context, static, out)
            continue
        if isinstance(item, Mapping) and "block" in item:  # nornflow.models.blocks flattens it later
            block = dict(item)
            for section in ("block", "rescue", "always"):
                if isinstance(item.get(section), list):
                    inner: list[PlacedTask] = []
                    _expand(item[section], file, chain, conditions, context, static, inner)
                    block[section] = inner
            out.append(PlacedTask(block, file, line, _origin(chain)))
            continue
        task = _with_conditions(item, conditions) if conditions else item
        out.append(PlacedTask(task, file, line, _origin(chain)))


def _error(
    message: str, file: str | None, line: int | None, chain: tuple[_Inclusion, ...], **kw: Any
) -> WorkflowError:
    return WorkflowError(message, file=file, line=line, origin=_origin(chain), **kw)


def _include(
    ref: Mapping[str, Any],
    file: str | None,
    line: int | None,
    chain: tuple[_Inclusion, ...],
    conditions: tuple[Any, ...],
    context: LoadContext | None,
    static: Mapping[str, Any],
    out: list[PlacedTask],
) -> None:
    for key in ref:
        if key not in _REFERENCE_KEYS:
            raise _error(
                f"unknown key {key!r} in a blueprint reference (it takes 'blueprint', and optionally 'if' "
                "or 'when'; give a task its args inside the blueprint)",
                file,
                position_of(ref, key)[1] or line,
                chain,
                key=str(key),
            )
    if "if" in ref and "when" in ref:
        raise _error("use either 'if' or 'when' (they are aliases), not both", file, line, chain, key="when")
    cond_key = "if" if "if" in ref else "when" if "when" in ref else None
    per_host: Any = None
    if cond_key is not None:
        decided = _decide(ref[cond_key], static, file, position_of(ref, cond_key)[1] or line, chain, cond_key)
        if decided is False:
            return  # left out: the blueprint is not even looked up
        if decided is not True:
            per_host = decided
    name = _render_name(ref["blueprint"], static, file, position_of(ref, "blueprint")[1] or line, chain)
    if context is None or context.blueprints is None:
        raise _error(
            f"blueprint {name!r}: blueprints are included when a project loads the workflow "
            "(NornFlow.load_workflow or nornflow run)",
            file,
            line,
            chain,
            key="blueprint",
        )
    try:
        path = context.blueprints.find(name)
    except LookupError as exc:
        raise _error(str(exc), file, line, chain, key="blueprint") from None
    resolved = path.resolve()
    if any(inc.path.resolve() == resolved for inc in chain):
        cycle = " -> ".join([*(inc.name for inc in chain), name])
        raise _error(f"blueprint include cycle: {cycle}", file, line, chain, key="blueprint")
    inclusion = _Inclusion(path.name, path, file, line)
    tasks = _load_blueprint(path, (*chain, inclusion))
    _expand(
        tasks,
        str(path),
        (*chain, inclusion),
        (*conditions, per_host) if per_host is not None else conditions,
        context,
        static,
        out,
    )


def _load_blueprint(path: Path, chain: tuple[_Inclusion, ...]) -> Sequence[Any]:
    """The tasks of a blueprint file; its shape is checked (errors name the file, line and key)."""
    try:
        data = load_yaml_file(path, what="blueprint")
    except YAMLLoadError as exc:
        exc.origin = exc.origin or _origin(chain)
        raise
    file = str(path)
    if not isinstance(data, Mapping):
        raise _error(
            f"a blueprint is a mapping of 'tasks' (and optionally 'description'), not {type(data).__name__}",
            file,
            None,
            chain,
        )
    for key in data:
        if key not in _FILE_KEYS:
            raise _error(
                f"unknown key {key!r} in a blueprint (it takes 'tasks' and optionally 'description')",
                file,
                position_of(data, key)[1],
                chain,
                key=str(key),
            )
    tasks = data.get("tasks")
    if not isinstance(tasks, list) or not tasks:
        raise _error(
            "a blueprint's 'tasks' must be a non-empty list of tasks",
            file,
            position_of(data, "tasks")[1],
            chain,
            key="tasks",
        )
    return tasks


def _render_name(
    value: Any, static: Mapping[str, Any], file: str | None, line: int | None, chain: tuple[_Inclusion, ...]
) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _error(
            f"'blueprint' must be a blueprint name, got {value!r}", file, line, chain, key="blueprint"
        )
    if not has_template(value):
        return value.strip()
    try:
        rendered = compile_args({"blueprint": value}).render(static)["blueprint"]
    except TemplateError as exc:
        raise _error(
            f"blueprint name {value!r}: {exc.message} (names are rendered when the workflow loads, from "
            f"{_STATIC_LAYERS}; not from host or runtime variables)",
            file,
            line,
            chain,
            key="blueprint",
        ) from None
    if not isinstance(rendered, str) or not rendered.strip():
        raise _error(
            f"blueprint name {value!r} rendered to {rendered!r}, not a blueprint name",
            file,
            line,
            chain,
            key="blueprint",
        )
    return rendered.strip()


def _uses_host(source: str) -> bool:
    """Whether a condition's template mentions ``host`` (then it is decided per host)."""
    text = source if has_template(source) else "{{ " + source + " }}"
    try:
        return "host" in jinja2.meta.find_undeclared_variables(environment.parse(text))
    except jinja2.TemplateSyntaxError:
        return False  # compile_condition reports the syntax error


def _decide(
    value: Any,
    static: Mapping[str, Any],
    file: str | None,
    line: int | None,
    chain: tuple[_Inclusion, ...],
    key: str,
) -> Any:
    """``True``/``False`` for a condition decided now; else the condition itself (decided per host)."""
    from nornflow.hooks.builtins.conditions import truth

    if isinstance(value, bool):
        return value
    if isinstance(value, Mapping | list | tuple):
        return value  # an inventory filter or a list of conditions: per host
    if not isinstance(value, str) or not value.strip():
        raise _error(
            f"a blueprint condition is a Jinja2 expression, an inventory filter or a list, got {value!r}",
            file,
            line,
            chain,
            key=key,
        )
    if _uses_host(value):
        return value
    try:
        return truth(compile_condition(value).evaluate(static))
    except TemplateError as exc:
        raise _error(
            f"blueprint condition {value!r}: {exc.message} (a condition without 'host' is decided when the "
            f"workflow loads, from {_STATIC_LAYERS})",
            file,
            line,
            chain,
            key=key,
        ) from None


def _located_copy(task: Any) -> Any:
    if isinstance(task, LocatedDict):
        return task.located_copy()
    return dict(task)


def _with_conditions(task: Any, conditions: tuple[Any, ...]) -> Any:
    """``task`` with the per-host ``conditions`` of its blueprints added before its own ``if``."""
    if isinstance(task, str):
        task = {"name": task}
    if not isinstance(task, Mapping):
        return task  # WorkflowModel.create reports the bad shape
    task = _located_copy(task)
    holder: Any = task
    key = "if"
    hooks = task.get("hooks")
    for candidate in ("if", "when"):
        if candidate in task:
            key = candidate
            break
        if isinstance(hooks, Mapping) and candidate in hooks:
            holder = task["hooks"] = _located_copy(hooks)
            key = candidate
            break
    own = holder.get(key)
    mine = list(conditions)
    if own is None:
        holder[key] = mine[0] if len(mine) == 1 else mine
    else:
        holder[key] = [*mine, *(own if isinstance(own, list | tuple) else [own])]
    return task


def render_load_time_hooks(
    task: Any, static: Mapping[str, Any], *, file: str | None, line: int | None, origin: str | None
) -> Any:
    """``task`` with the template values of its ``renders_at_load`` hooks rendered from the static
    variables (``shush: "{{ quiet }}"``); errors name the task and the hook key."""
    if not isinstance(task, Mapping):
        return task
    copy: Any = None
    for holder_key in (None, "hooks"):
        holder = task if holder_key is None else task.get("hooks")
        if not isinstance(holder, Mapping):
            continue
        for key, value in holder.items():
            cls = HOOK_REGISTRY.get(key) if isinstance(key, str) else None
            if cls is None or not getattr(cls, "renders_at_load", False):
                continue
            if not (isinstance(value, str) and has_template(value)):
                continue
            try:
                rendered = compile_args({key: value}).render(static)[key]
            except TemplateError as exc:
                label = task.get("name") if isinstance(task.get("name"), str) else None
                raise WorkflowError(
                    f"{exc.message} ({key!r} is decided once for the task, when the workflow loads, "
                    f"from {_STATIC_LAYERS}; not from host or runtime variables)",
                    file=file,
                    line=position_of(holder, key)[1] or line,
                    task=label,
                    key=key,
                    origin=origin,
                ) from None
            if copy is None:
                copy = _located_copy(task)
            target = copy if holder_key is None else copy.setdefault("hooks", {})
            if holder_key is not None and target is task.get("hooks"):
                target = copy["hooks"] = _located_copy(holder)
            target[key] = rendered
    return task if copy is None else copy
