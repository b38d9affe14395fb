"""Static checks of a workflow, before any host runs: names in templates, and arguments of tasks.

A workflow with an undefined variable or a misspelled task argument used to pass ``validate`` and then
fail on every host at run time. :func:`analyze` finds both without running anything:

* every Jinja2 name in a task's args and in the expressions of its hooks (``if``/``when``, ``loop``,
  ``failed_when``/``changed_when``, ``retries.until``) must have a definition: the run's variables
  (workflow ``vars``, ``--vars``, ``vars/defaults.yaml``, ``NORNFLOW_VAR_*``), a runtime variable of
  an earlier task (``set``, ``set_to``), ``item`` under ``loop``, the outcome's names in result
  expressions (``result``, ``failed``, ...), Jinja2's globals, or the template itself (``{% set %}``,
  ``{% for %}``). An unknown name is an error naming the file, line, task and variable, with the
  closest known name;
* ``host.X`` (and ``host['X']``) must be a host attribute or a data key of some host of the run (with
  group and defaults inheritance); a key only some hosts have is a warning; ``host.data.X`` reads the
  host's own data only, and a key that only groups give is an error saying to use ``host.X``;
* the args must fit the task function's signature: no unknown argument (unless it takes
  ``**kwargs``), no missing required one (``task`` and what nornflow passes itself, ``print_output``
  and ``nornflow_vars``, aside).

What cannot be known statically is never an error: a name tested with ``is defined`` or given a
``default`` is known; after a task whose function takes ``nornflow_vars`` (other than ``set``) or that
has a project hook, which may set any variable at run time, an unknown name is a warning.

It costs a template parse per templated value and, per distinct ``host.X`` key that is not an
attribute, one pass over the run's hosts (a dictionary look-up each; group keys are collected once).
"""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import jinja2
from jinja2 import meta, nodes
from nornir.core.inventory import Host

from nornflow.exceptions import WorkflowError
from nornflow.hooks.builtins.conditions import IfHook
from nornflow.hooks.builtins.execution import LoopHook, RetriesHook, TimeoutHook
from nornflow.hooks.builtins.output import OutputHook
from nornflow.hooks.builtins.results import IgnoreErrorsHook, _ResultExpressionHook
from nornflow.hooks.builtins.run_once import RunOnceHook
from nornflow.hooks.builtins.set_to import SetToHook
from nornflow.hooks.outcome import VIEW_NAMES
from nornflow.hooks.registry import HOOK_REGISTRY
from nornflow.inventory.filters import unknown_filter
from nornflow.templating import environment, has_template
from nornflow.vars import RESERVED_VARS
from nornflow.workflow import tasks as builtin_tasks

__all__ = ["Analysis", "Problem", "analyze"]

#: What every template sees besides the variables.
_ALWAYS = frozenset({"host", *environment.globals})
#: Attributes of a Nornir host (``host.name``, ``host.platform``, ``host.get(...)``, ...).
_HOST_ATTRIBUTES = frozenset(a for a in dir(Host) if not a.startswith("_"))
#: Arguments nornflow passes to a task function itself.
_INJECTED = frozenset({"print_output", "nornflow_vars", "nornflow_files"})
#: Built-in hooks that define no variable and hold no template.
_INERT_HOOKS: tuple[type, ...] = (OutputHook, RunOnceHook, RetriesHook, TimeoutHook, IgnoreErrorsHook)
_GUARD_TESTS = frozenset({"defined", "undefined"})
_GUARD_FILTERS = frozenset({"default", "d"})


@dataclass(frozen=True)
class Problem:
    """One finding: what is wrong, and where (file, line, task, and the arg or hook concerned)."""

    message: str
    file: str | None = None
    line: int | None = None
    task: str | None = None
    key: str | None = None
    hook: str | None = None

    def error(self) -> WorkflowError:
        """The finding as the located error ``validate`` and ``run`` raise."""
        return WorkflowError(
            self.message, file=self.file, line=self.line, task=self.task, hook=self.hook, key=self.key
        )

    def __str__(self) -> str:
        return str(self.error())


@dataclass
class Analysis:
    """What :func:`analyze` found: errors (the run would fail on them) and warnings (it might)."""

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def raise_errors(self) -> None:
        """Raise the errors as one :class:`WorkflowError` (each on its own line when several)."""
        if not self.errors:
            return
        if len(self.errors) == 1:
            raise self.errors[0].error()
        problems = [p.error() for p in self.errors]
        error = WorkflowError("\n  ".join(["found several problems:"] + [str(p) for p in problems]))
        error.problems = problems  # type: ignore[attr-defined]
        raise error


# -- the inventory's keys ----------------------------------------------------------------------------


class _HostKeys:
    """Which data keys the run's hosts have, counted per key on demand (groups' keys, parents
    included, are collected once per group)."""

    def __init__(self, hosts: Sequence[Host], defaults: Any) -> None:
        self.hosts = hosts
        data = getattr(defaults, "data", None) or {}
        self.defaults = frozenset(data)
        self._groups: dict[int, frozenset[str]] = {}
        self._counts: dict[tuple[str, bool], int] = {}

    def _group_keys(self, group: Any) -> frozenset[str]:
        keys = self._groups.get(id(group))
        if keys is None:
            self._groups[id(group)] = frozenset()  # a cycle of parents stops here
            own = object.__getattribute__(group, "data") or {}
            parents = object.__getattribute__(group, "groups") or ()
            keys = frozenset(own).union(*(self._group_keys(p) for p in parents))
            self._groups[id(group)] = keys
        return keys

    def count(self, key: str, *, own_only: bool = False) -> int:
        """How many of the run's hosts have ``key`` (in their own data only, with ``own_only``)."""
        cached = self._counts.get((key, own_only))
        if cached is not None:
            return cached
        get = object.__getattribute__
        if not own_only and key in self.defaults:
            n = len(self.hosts)
        else:
            n = 0
            for host in self.hosts:
                if key in (get(host, "data") or {}) or (
                    not own_only and any(key in self._group_keys(g) for g in get(host, "groups") or ())
                ):
                    n += 1
        self._counts[(key, own_only)] = n
        return n

    def known(self) -> set[str]:
        """Every data key of the run's hosts, their groups and the defaults (for "did you mean")."""
        get = object.__getattribute__
        keys = set(self.defaults)
        for host in self.hosts:
            keys.update(get(host, "data") or {})
            for group in get(host, "groups") or ():
                keys.update(self._group_keys(group))
        return keys


# -- templates ---------------------------------------------------------------------------------------


@dataclass
class _Template:
    """What one template reads: its undeclared names, the ``host`` keys it reads (``own``: through
    ``host.data``), and the names and host keys it guards (``is defined``, ``default``)."""

    names: set[str]
    host_keys: list[tuple[str, bool]]
    guarded: set[str]
    guarded_keys: set[str]


def _root(node: nodes.Node) -> nodes.Node:
    while isinstance(node, (nodes.Getattr, nodes.Getitem)):
        node = node.node
    return node


def _host_key(node: nodes.Node) -> tuple[str, nodes.Node] | None:
    """``(key, target)`` for ``target.key`` or ``target['key']``; None for any other node."""
    if isinstance(node, nodes.Getattr):
        return node.attr, node.node
    if (
        isinstance(node, nodes.Getitem)
        and isinstance(node.arg, nodes.Const)
        and isinstance(node.arg.value, str)
    ):
        return node.arg.value, node.node
    return None


def _is_host(node: nodes.Node) -> bool:
    return isinstance(node, nodes.Name) and node.name == "host" and node.ctx == "load"


def _read(source: str, *, expression: bool) -> _Template | None:
    """Parse a template (or a bare expression); None when it does not parse (validation says why)."""
    text = source
    if expression:
        stripped = source.strip()
        if stripped.startswith("{{") and stripped.endswith("}}") and "{{" not in stripped[2:-2]:
            stripped = stripped[2:-2]
        text = "{{ (" + stripped + ") }}"
    try:
        ast = environment.parse(text)
    except jinja2.TemplateSyntaxError:
        return None
    names = set(meta.find_undeclared_variables(ast))
    host_keys: list[tuple[str, bool]] = []
    if "host" in names:
        for node in ast.find_all((nodes.Getattr, nodes.Getitem)):
            found = _host_key(node)
            if found is None:
                continue
            key, target = found
            if _is_host(target):
                host_keys.append((key, False))
            else:
                inner = _host_key(target)
                if inner is not None and inner[0] == "data" and _is_host(inner[1]):
                    host_keys.append((key, True))
    guarded: set[str] = set()
    guarded_keys: set[str] = set()
    guards: Iterator[nodes.Node] = ast.find_all((nodes.Test, nodes.Filter))
    for guard in guards:
        if not (
            (isinstance(guard, nodes.Test) and guard.name in _GUARD_TESTS)
            or (isinstance(guard, nodes.Filter) and guard.name in _GUARD_FILTERS)
        ):
            continue
        subject = guard.node
        if subject is None:
            continue
        root = _root(subject)
        if isinstance(root, nodes.Name):
            if root.name == "host":
                found = _host_key(subject)
                if found is not None:
                    guarded_keys.add(found[0])
            else:
                guarded.add(root.name)
    return _Template(names, host_keys, guarded, guarded_keys)


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every templated string inside an arg value, with its path (``args.vlans[0]``)."""
    if isinstance(value, str):
        if has_template(value):
            yield path, value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


# -- the analysis ------------------------------------------------------------------------------------


@dataclass
class _Source:
    """A template to check: where it is (an arg's path, or a hook and the part of its value), what
    it is, and which extra names it sees."""

    key: str | None
    text: str
    expression: bool
    extra: frozenset[str] = frozenset()
    hook: str | None = None


def _hook_sources(task: Any, loops: bool) -> Iterator[_Source]:
    """The templates in a task's hook values, for the hooks whose context is known."""
    item = frozenset({"item"}) if loops else frozenset()
    for name, value in task.hooks.items():
        cls = HOOK_REGISTRY.get(name)
        if cls is None:
            continue
        if issubclass(cls, IfHook) and isinstance(value, str):
            yield _Source(None, value, True, hook=name)
        elif issubclass(cls, LoopHook):
            if isinstance(value, str):
                yield _Source(None, value, True, hook=name)
            elif isinstance(value, (list, tuple)):
                for i, entry in enumerate(value):
                    if isinstance(entry, str) and has_template(entry):
                        yield _Source(f"{name}[{i}]", entry, True, hook=name)
        elif issubclass(cls, _ResultExpressionHook) and isinstance(value, str):
            yield _Source(None, value, True, frozenset(VIEW_NAMES) | item, hook=name)
        elif issubclass(cls, RetriesHook) and isinstance(value, Mapping):
            until = value.get("until")
            if isinstance(until, str):
                yield _Source(f"{name}.until", until, True, frozenset(VIEW_NAMES), hook=name)


def _defines(task: Any, info: Any) -> set[str]:
    """The runtime variables a task sets for the tasks after it (``set`` args, ``set_to`` names)."""
    names: set[str] = set()
    if info is not None and info.func is builtin_tasks.set:
        names.update(k for k in task.args if isinstance(k, str))
    for name, value in task.hooks.items():
        cls = HOOK_REGISTRY.get(name)
        if cls is not None and issubclass(cls, SetToHook):
            if isinstance(value, str):
                names.add(value)
            elif isinstance(value, Mapping):
                names.update(k for k in value if isinstance(k, str))
    return names


def _project_hook(task: Any) -> str | None:
    """Why a task's hooks may set variables nobody can see statically: one of them is a project
    hook (None when all are built-in). A pre-run hook may do so before the task's args render."""
    known = (IfHook, LoopHook, _ResultExpressionHook, SetToHook, *_INERT_HOOKS)
    for name in task.hooks:
        cls = HOOK_REGISTRY.get(name)
        if cls is not None and not issubclass(cls, known):
            return f"hook {name!r} of task {task.name!r} is a project hook"
    return None


def _takes_vars(task: Any, info: Any) -> str | None:
    """Why a task may set any variable for the tasks after it: its function takes ``nornflow_vars``
    (the built-in ``set``, whose variables are its args, aside)."""
    if info is not None and info.accepts_vars and info.func is not builtin_tasks.set:
        return f"task {task.name!r} takes nornflow_vars"
    return None


@dataclass
class _Sink:
    """Where one task's findings go, located at the task: ``sink(level, message, key)``."""

    analysis: Analysis
    file: str | None
    line: int | None
    task: str

    def __call__(self, level: str, message: str, key: str | None, hook: str | None = None) -> None:
        found = Problem(message, file=self.file, line=self.line, task=self.task, key=key, hook=hook)
        (self.analysis.errors if level == "error" else self.analysis.warnings).append(found)


def _close(name: str, candidates: Iterable[str]) -> str | None:
    found = difflib.get_close_matches(name, sorted(set(candidates)), n=1, cutoff=0.75)
    return found[0] if found else None


def _check_signature(task: Any, info: Any, problem: Any) -> None:
    """Unknown and missing arguments of the task function (when its signature can be read)."""
    try:
        params = list(inspect.signature(info.func).parameters.values())[1:]  # the Nornir Task first
    except (TypeError, ValueError):
        return
    named = {p.name: p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    shown = ", ".join(n for n in named if n not in _INJECTED) or "no argument"
    for arg in task.args:
        if not isinstance(arg, str) or arg in named or takes_any:
            continue
        close = _close(arg, [n for n in named if n not in _INJECTED])
        hint = f"; did you mean {close!r}?" if close else ""
        problem(
            "error",
            f"unknown argument {arg!r} for task {task.name!r} (it takes: {shown}){hint}",
            f"args.{arg}",
        )
    for name, param in named.items():
        if param.default is param.empty and name not in _INJECTED and name not in task.args:
            problem(
                "error",
                f"missing required argument {name!r} of task {task.name!r} (it takes: {shown})",
                "args",
            )


def _check_conditions(task: Any, hosts: Sequence[Host], problem: Any) -> None:
    """Filter conditions (``when: {role: core}``) naming no filter and no key of any host of the run:
    they would skip every host without a word."""
    for name, value in task.hooks.items():
        cls = HOOK_REGISTRY.get(name)
        if cls is None or not issubclass(cls, IfHook):
            continue
        if isinstance(value, Mapping):
            entries = [(name, value)]
        elif isinstance(value, (list, tuple)):
            entries = [(f"{name}[{i}]", v) for i, v in enumerate(value) if isinstance(v, Mapping)]
        else:
            continue
        for key, filters in entries:
            found = unknown_filter(hosts, filters)
            if found:
                problem("error", f"{name} condition: {found[1]}", f"{key}.{found[0]}", name)


def _check_set_names(task: Any, info: Any, problem: Any) -> None:
    """``set`` cannot set a reserved name (``host``, ``item``): templates would never see it."""
    if info is None or info.func is not builtin_tasks.set:
        return
    for arg in task.args:
        if arg in RESERVED_VARS:
            reserved = ", ".join(sorted(RESERVED_VARS))
            problem("error", f"variable name {arg!r} is reserved ({reserved})", f"args.{arg}")


def analyze(
    prepared: Any,
    *,
    variables: Iterable[str],
    hosts: Sequence[Host] = (),
    defaults: Any = None,
) -> Analysis:
    """Check ``prepared`` (a :class:`~nornflow.run.prepare.PreparedWorkflow`) against the names the run
    defines (``variables``: the static layers' names) and the run's ``hosts`` (their inventory's
    ``defaults``); see the module docstring for the rules."""
    analysis = Analysis()
    static = frozenset(variables)
    keys = _HostKeys(list(hosts), defaults)
    runtime: dict[str, int] = {}  # name -> index of the first task that sets it
    later: dict[str, int] = {}
    for index, task in enumerate(prepared.tasks):
        for name in _defines(task.model, task.info):
            later.setdefault(name, index)
    uncertain: str | None = None
    for index, prepared_task in enumerate(prepared.tasks):
        task, info = prepared_task.model, prepared_task.info
        file, line = task.source
        problem = _Sink(analysis, file or prepared.file, line, task.name)

        hook_reason = _project_hook(task)
        here = uncertain or hook_reason
        loops = any(
            (cls := HOOK_REGISTRY.get(name)) is not None and issubclass(cls, LoopHook) for name in task.hooks
        )
        conditional = any(
            (cls := HOOK_REGISTRY.get(name)) is not None and issubclass(cls, IfHook) for name in task.hooks
        )
        sources = [
            _Source(path, text, False, frozenset({"item"}) if loops else frozenset())
            for path, text in _strings(task.args, "args")
        ]
        sources += list(_hook_sources(task, loops))
        read = [(source, _read(source.text, expression=source.expression)) for source in sources]
        guarded: set[str] = set()
        guarded_keys: set[str] = set()
        for _source, template in read:
            if template is not None:
                guarded |= template.guarded
                guarded_keys |= template.guarded_keys
        known = _ALWAYS | static | set(runtime)
        for source, template in read:
            if template is None:
                continue
            for name in sorted(template.names - known - source.extra - guarded):
                _undefined(name, source, index, later, known | source.extra, keys, here, problem)
            for key, own in dict.fromkeys(template.host_keys):
                if key in guarded_keys or (not own and key in _HOST_ATTRIBUTES):
                    continue
                _host_key_problem(key, own, source, keys, conditional, problem)
        _check_signature(task, info, problem)
        _check_conditions(task, keys.hosts, problem)
        _check_set_names(task, info, problem)
        for name in _defines(task, info):
            runtime.setdefault(name, index)
        uncertain = uncertain or hook_reason or _takes_vars(task, info)
    return analysis


def _undefined(
    name: str,
    source: _Source,
    index: int,
    later: Mapping[str, int],
    known: Iterable[str],
    keys: _HostKeys,
    uncertain: str | None,
    problem: Any,
) -> None:
    """Report a name nothing defines before this task (a warning when something may at run time)."""
    message = f"undefined variable {name!r}"
    if name == "item":
        message += ": 'item' is defined only in tasks with a loop"
    elif later.get(name, -1) == index:
        message += ": this task sets it (set_to), but only once the task has run"
    elif later.get(name, -1) > index:
        message += f": it is set only by a later task (task {later[name] + 1})"
    else:
        message += (
            f": not in vars, --vars, vars/defaults.yaml or NORNFLOW_VAR_{name}, and no earlier task sets it"
        )
        close = _close(name, [n for n in known if not n.startswith("_")])
        if close:
            message += f"; did you mean {close!r}?"
        elif keys.hosts and keys.count(name):
            message += f"; the hosts' data has it: did you mean 'host.{name}'?"
    if uncertain:
        problem("warning", f"{message} (unless set at run time: {uncertain})", source.key, source.hook)
    else:
        problem("error", message, source.key, source.hook)


def _host_key_problem(
    key: str, own: bool, source: _Source, keys: _HostKeys, conditional: bool, problem: Any
) -> None:
    """Report a ``host`` key that no host, or only some hosts, of the run have."""
    total = len(keys.hosts)
    if not total:
        return
    expr = f"host.data.{key}" if own else f"host.{key}"
    n = keys.count(key, own_only=own)
    if n == 0:
        if own and keys.count(key):
            message = (
                f"{expr}: no host has {key!r} in its own data, it comes from groups or defaults "
                f"(host.data holds the host's own data only): use host.{key}"
            )
            problem("error", message, source.key, source.hook)
            return
        close = _close(key, keys.known() | ({"data"} if own else _HOST_ATTRIBUTES))
        hint = f"; did you mean {close!r}?" if close else ""
        message = f"{expr}: no host of the run has an attribute or data key {key!r}{hint}"
        problem("error", message, source.key, source.hook)
    elif n < total and not conditional:
        message = f"{expr}: only {n} of {total} hosts have {key!r}; the others will fail this task"
        problem("warning", message, source.key, source.hook)
