"""Inventory filters for workflows (``inventory_filters:``), the CLI (``--filter``) and the ``if`` hook.

One rule for every filter: its value is one value or a list of values, and a list means *any of
them*; several filters must all hold. ``null`` means "no filter" (the entry is ignored), and an empty
list matches no host. Named filters: ``hosts`` (names), ``groups`` (member of the group, directly or
through a parent group), ``platform``, ``name_pattern`` (a glob such as ``r*``), ``data`` (a mapping
of data keys to values, all of which must match), and the project's own filter functions from
``filter_dirs`` (see :func:`load_filter_dirs`). Any other key is compared with the host attribute
(``hostname``, ``port``, ``username``, ``name``) or inventory data of that name, with group
inheritance; a key no host has is an error naming it, with the closest known name.

Values compare by equality, with two conveniences: a string and a number, boolean or null compare as
the string's YAML reading (``--filter mgmt_vlan=10`` matches the integer 10), and a host value that
is a list matches when it contains the wanted value (``tags=core``).

On the command line (:func:`parse_filters`) ``-f role=core,edge`` and ``-f role=core -f role=edge``
mean the same: role is core or edge. ``\\,`` is a literal comma, and a value starting with ``[`` or
``{`` is read as YAML (``-f 'data={role: core}'``). A run whose filters select no host is an error
(:class:`~nornflow.exceptions.NoHostsMatchedError`, exit 2) unless empty runs are allowed.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from nornir.core.inventory import Host, Inventory

from nornflow.exceptions import FilterError, FilterImportError, NoHostsMatchedError, UsageError
from nornflow.imports import filter_functions, first_parameter

__all__ = [
    "FILTERS",
    "InventoryFilter",
    "apply_filters",
    "describe_filters",
    "host_matches",
    "load_filter_dirs",
    "parse_filters",
    "parse_limit",
    "read_values_file",
    "select_hosts",
    "unknown_filter",
    "validate_filters",
]

log = logging.getLogger("nornflow.filters")

Predicate = Callable[[Host], bool]
_LISTS = (list, tuple, set, frozenset)
_SCALARS = (bool, int, float, type(None))


class InventoryFilter:
    """A named inventory filter: what it takes, where it comes from, and how to match one host.

    ``compile(values)`` turns the filter's values (already a list: "any of") into a predicate on a
    host, checking their shape once; calling the filter, ``f(host, value)``, matches one host.
    """

    __slots__ = ("compile", "description", "flag", "name", "source", "takes")

    def __init__(
        self,
        name: str,
        compile: Callable[[list[Any]], Predicate],
        *,
        takes: str,
        description: str,
        source: str = "nornflow (built-in)",
        flag: bool = False,
    ) -> None:
        self.name = name
        self.compile = compile
        self.takes = takes
        self.description = description
        self.source = source
        #: a filter that takes no value: ``null`` applies it instead of meaning "no filter"
        self.flag = flag

    def __call__(self, host: Host, value: Any) -> bool:
        """Whether ``host`` passes this filter with ``value`` (one value or a list: any of)."""
        values = _values(value)
        if values is None:
            return True
        return self.compile(values)(host)

    def __repr__(self) -> str:
        return f"InventoryFilter({self.name!r}, source={self.source!r})"


def _values(value: Any) -> list[Any] | None:
    """A filter's value as the list of alternatives; None for "no filter"."""
    return None if value is None else _alternatives(value)


def _alternatives(value: Any) -> list[Any]:
    """A filter's (non-null) value as the list of alternatives."""
    return list(value) if isinstance(value, _LISTS) else [value]


# -- value comparison --------------------------------------------------------------------------------


@lru_cache(maxsize=4096)
def _yaml_scalar(text: str) -> Any:
    """``text`` read as a YAML scalar (``10`` -> 10, ``true`` -> True, ``null`` -> None); else itself."""
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    return value if isinstance(value, (_SCALARS, str)) else text


def _scalar_equal(a: Any, b: Any) -> bool:
    """Equality that keeps booleans apart from numbers (``True`` is not ``1`` here)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


def _same(actual: Any, wanted: Any) -> bool:
    """Whether a host's value matches one wanted value (see the module docstring)."""
    if isinstance(actual, str) and isinstance(wanted, str):
        return actual == wanted
    if isinstance(wanted, str) and isinstance(actual, _SCALARS):
        return len(wanted) <= 64 and _scalar_equal(actual, _yaml_scalar(wanted.strip()))
    if isinstance(actual, str) and isinstance(wanted, _SCALARS):
        return len(actual) <= 64 and _scalar_equal(_yaml_scalar(actual.strip()), wanted)
    if isinstance(actual, _SCALARS) and isinstance(wanted, _SCALARS):
        return _scalar_equal(actual, wanted)
    try:
        if actual == wanted:
            return True
    except Exception:
        return False
    if isinstance(actual, _LISTS) and not isinstance(wanted, (*_LISTS, Mapping)):
        return any(_same(item, wanted) for item in actual)
    return False


def _matches_any(actual: Any, wanted: list[Any]) -> bool:
    return any(_same(actual, w) for w in wanted)


# -- the built-in filters ----------------------------------------------------------------------------


def _names(key: str, values: list[Any]) -> frozenset[str]:
    names = set()
    for value in values:
        if isinstance(value, str):
            names.add(value)
        elif isinstance(value, int) and not isinstance(value, bool):  # YAML reads `hosts: [101]` as ints
            names.add(str(value))
        else:
            raise FilterError(
                f"filter {key!r} takes a name or a list of names, got {type(value).__name__} {value!r}",
                key=key,
            )
    return frozenset(names)


def _all_groups(host: Any) -> list[Any]:
    """The host's groups and, transitively, their parent groups (each once)."""
    seen: list[Any] = []
    stack = list(host.groups)
    while stack:
        g = stack.pop(0)
        if g not in seen:
            seen.append(g)
            stack.extend(g.groups)
    return seen


def _compile_hosts(values: list[Any]) -> Predicate:
    wanted = _names("hosts", values)
    return lambda host: host.name in wanted


def _compile_groups(values: list[Any]) -> Predicate:
    wanted = _names("groups", values)
    return lambda host: any(g.name in wanted for g in _all_groups(host))


def _compile_platform(values: list[Any]) -> Predicate:
    wanted = _names("platform", values)
    return lambda host: host.platform in wanted


def _compile_name_pattern(values: list[Any]) -> Predicate:
    for value in values:
        if not isinstance(value, str):
            raise FilterError(
                f"filter 'name_pattern' takes a glob such as 'r*' (or a list of globs), got {value!r}",
                key="name_pattern",
            )
    regex = re.compile("|".join(f"(?:{fnmatch.translate(v)})" for v in values)) if values else None
    return lambda host: regex is not None and regex.match(host.name) is not None


def _lookup(host: Host, key: str) -> tuple[bool, Any]:
    """``(found, value)`` of a host attribute or inventory data key (groups and defaults included)."""
    if key in _ATTRS:
        return True, getattr(host, key)
    try:
        return True, host[key]
    except KeyError:
        return False, None


def _compile_data(values: list[Any]) -> Predicate:
    alternatives: list[list[tuple[str, list[Any]]]] = []
    for value in values:
        if not isinstance(value, Mapping):
            raise FilterError(
                f"filter 'data' takes a mapping of data keys to values (or a list of them), got {value!r}",
                key="data",
            )
        conditions = []
        for key, wanted in value.items():
            if not isinstance(key, str):
                raise FilterError(f"filter 'data': keys are data key names, got {key!r}", key="data")
            conditions.append((key, _alternatives(wanted) if wanted is not None else [None]))
        alternatives.append(conditions)

    def match(host: Host) -> bool:
        for conditions in alternatives:
            for key, wanted in conditions:
                found, actual = _lookup(host, key)
                if not found or not _matches_any(actual, wanted):
                    break
            else:
                return True
        return False

    return match


def _compile_attribute(key: str, values: list[Any]) -> Predicate:
    def match(host: Host) -> bool:
        found, actual = _lookup(host, key)
        return found and _matches_any(actual, values)

    return match


_BUILTINS = (
    InventoryFilter("hosts", _compile_hosts, takes="host name(s)", description="hosts of these names"),
    InventoryFilter(
        "groups",
        _compile_groups,
        takes="group name(s)",
        description="members of these groups, directly or through a parent group",
    ),
    InventoryFilter(
        "platform", _compile_platform, takes="platform(s)", description="hosts of these platforms"
    ),
    InventoryFilter(
        "name_pattern",
        _compile_name_pattern,
        takes="glob(s)",
        description="hosts whose name matches a glob such as 'r*' or 'edge-??'",
    ),
    InventoryFilter(
        "data",
        _compile_data,
        takes="mapping(s)",
        description="hosts whose data (with group inheritance) has all these key: value pairs",
    ),
)

#: Every named filter: the built-ins and the project's, by name. ``FILTERS[name](host, value)``
#: matches one host; :func:`host_matches` and :func:`select_hosts` apply a whole mapping.
FILTERS: dict[str, InventoryFilter] = {f.name: f for f in _BUILTINS}
_BUILTIN_BY_NAME = dict(FILTERS)

#: Host attributes a filter key may name (anything else is looked up in the host's data).
_ATTRS = ("name", "hostname", "port", "username", "platform")


# -- applying filters --------------------------------------------------------------------------------


def _compile(filters: Mapping[str, Any]) -> list[Predicate]:
    if not isinstance(filters, Mapping):
        raise FilterError(f"inventory filters must be a mapping, got {type(filters).__name__}")
    predicates = []
    for key, value in filters.items():
        if not isinstance(key, str):
            raise FilterError(f"a filter name is a string, got {key!r}")
        named = FILTERS.get(key)
        if value is None and not (named is not None and named.flag):
            continue
        values = _alternatives(value) if value is not None else [True]  # null applies a flag filter
        predicates.append(named.compile(values) if named is not None else _compile_attribute(key, values))
    return predicates


def validate_filters(filters: Mapping[str, Any]) -> None:
    """Check the shape of every filter's value (without an inventory): names, globs, mappings."""
    _compile(filters)


def host_matches(host: Host, filters: Mapping[str, Any]) -> bool:
    """Whether ``host`` passes every filter of ``filters``."""
    return all(predicate(host) for predicate in _compile(filters))


def _unknown_keys(hosts: Sequence[Host], filters: Mapping[str, Any]) -> list[str]:
    """Attribute and ``data`` keys that none of ``hosts`` has (each looked up until found)."""
    keys: list[str] = []
    builtin_data = FILTERS.get("data") is _BUILTIN_BY_NAME["data"]
    for key, value in filters.items():
        if value is None or (key in FILTERS and not (key == "data" and builtin_data)):
            continue
        if key == "data":
            for mapping in _values(value) or []:
                keys.extend(k for k in mapping if k not in keys)
        elif key not in keys:
            keys.append(key)
    missing = [k for k in keys if k not in _ATTRS]
    if not hosts:
        return []  # nothing to learn the keys from: the empty selection says it all
    for host in hosts:
        if not missing:
            break
        missing = [k for k in missing if not _lookup(host, k)[0]]
    return missing


def _known_names(hosts: Sequence[Host], limit: int = 500) -> list[str]:
    names: set[str] = set(FILTERS) | set(_ATTRS)
    for host in hosts[:limit]:
        names.update(host.keys())
    return sorted(names)


def _format_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_format_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, _LISTS):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return "null" if value is None else str(value)


def describe_filters(filters: Mapping[str, Any]) -> str:
    """``site=xyz, role=core|edge``: filters as an operator reads them in an error message."""
    parts = []
    for key, value in filters.items():
        values = _values(value)
        if values is None:
            continue
        parts.append(f"{key}=" + ("|".join(_format_value(v) for v in values) if values else "[]"))
    return ", ".join(parts)


def unknown_filter(hosts: Sequence[Host], filters: Mapping[str, Any]) -> tuple[str, str] | None:
    """``(key, message)`` for the first key of ``filters`` that is no filter and no attribute or data
    key of any of ``hosts`` (with the closest known name), or None: such a filter would silently
    match no host."""
    missing = _unknown_keys(hosts, filters)
    if not missing:
        return None
    key = missing[0]
    close = difflib.get_close_matches(key, _known_names(hosts), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return key, (
        f"unknown filter {key!r}: not a filter ({', '.join(FILTERS)}) and no host has an attribute "
        f"or data key of that name{hint}"
    )


def _check_known(inventory: Inventory, filters: Mapping[str, Any]) -> None:
    """Raise a :class:`FilterError` for the first filter key that is no filter and no host's key."""
    found = unknown_filter(list(inventory.hosts.values()), filters)
    if found:
        raise FilterError(found[1], key=found[0])


def select_hosts(
    inventory: Inventory,
    *layers: tuple[str, Mapping[str, Any] | None],
    allow_empty: bool = False,
) -> Inventory:
    """The inventory of the hosts that pass every layer of filters (``(label, filters)`` pairs).

    Unknown filter names are errors naming them (with the closest known name); in a layer whose
    label is a command-line option (``--filter``) they are usage errors (exit 2). When the filters
    select no host, that is a :class:`NoHostsMatchedError` naming the filters and their labels,
    unless ``allow_empty``. Without any filter the inventory is returned as it is.
    """
    active: list[tuple[str, Mapping[str, Any]]] = []
    predicates: list[Predicate] = []
    for label, filters in layers:
        if filters is None:
            continue
        try:
            compiled = _compile(filters)
            if not compiled:
                continue  # every entry is null: no filter
            _check_known(inventory, filters)
        except FilterError as exc:
            if label.startswith("-"):
                # typed on the command line (``--filter``): the operator's usage error, exit 2
                exc.exit_code = UsageError.exit_code
            raise
        active.append((label, filters))
        predicates.extend(compiled)
    if not active:
        return inventory
    hosts = type(inventory.hosts)(
        (name, host) for name, host in inventory.hosts.items() if all(p(host) for p in predicates)
    )
    selected = Inventory(
        hosts=hosts, groups=inventory.groups, defaults=inventory.defaults, transform_function=None
    )
    if not hosts and not allow_empty:
        described = "; ".join(f"{label}: {describe_filters(f) or 'none'}" for label, f in active)
        raise NoHostsMatchedError(
            f"no host matches the filters ({described}) among the inventory's "
            f"{len(inventory.hosts)} host(s){_value_hints(inventory, active)}; check the values, or "
            f"allow an empty run (--allow-empty, allow_empty=True)",
            filters={label: dict(f) for label, f in active},
        )
    return selected


def _value_hints(inventory: Inventory, layers: list[tuple[str, Mapping[str, Any]]]) -> str:
    """`` (no group 'cor' in the inventory; did you mean 'core'?)`` for names the inventory lacks."""
    hints = []
    for _label, filters in layers:
        for key, known in (("hosts", inventory.hosts), ("groups", inventory.groups)):
            if FILTERS.get(key) is not _BUILTIN_BY_NAME[key]:
                continue
            for name in _values(filters.get(key)) or []:
                if isinstance(name, str) and name not in known:
                    close = difflib.get_close_matches(name, list(known), n=1)
                    hint = f"no {key[:-1]} {name!r} in the inventory"
                    hints.append(hint + (f" (did you mean {close[0]!r}?)" if close else ""))
    return f"; {'; '.join(hints[:3])}" if hints else ""


def apply_filters(inventory: Inventory, filters: Mapping[str, Any]) -> Inventory:
    """A new inventory holding the hosts that pass ``filters`` (possibly none); unknown keys are errors."""
    selected = select_hosts(inventory, ("filters", filters), allow_empty=True)
    if selected is inventory:  # no active filter: still a new inventory, as callers expect
        return Inventory(
            hosts=type(inventory.hosts)(inventory.hosts),
            groups=inventory.groups,
            defaults=inventory.defaults,
            transform_function=None,
        )
    return selected


# -- the command line --------------------------------------------------------------------------------

_COMMA = re.compile(r"(?<!\\),")
#: a comment in a file of values: from a ``#`` at the start of a line or after a space, to the end
_COMMENT = re.compile(r"(?:^|\s)#.*$")


def read_values_file(path: str | Path, option: str) -> list[str]:
    """The values listed in a file, one per line (``#`` comments and blank lines ignored): what
    ``--filter hosts=@FILE`` and ``--limit @FILE`` read, such as a ``--failed-hosts`` file.

    A file that is missing, unreadable or lists nothing is a :class:`UsageError` naming it.
    """
    path = Path(path).expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{option}: file not found", file=str(path)) from None
    except IsADirectoryError:
        raise UsageError(f"{option}: a directory, not a file of names", file=str(path)) from None
    except UnicodeDecodeError as exc:
        raise UsageError(f"{option}: not a UTF-8 text file ({exc.reason})", file=str(path)) from None
    except OSError as exc:
        raise UsageError(f"{option}: cannot read: {exc.strerror or exc}", file=str(path)) from None
    values = [_COMMENT.sub("", line).strip() for line in text.splitlines()]
    values = [v for v in values if v]
    if not values:
        raise UsageError(
            f"{option}: the file lists no name (a --failed-hosts file of a run in which no host failed "
            "is empty)",
            file=str(path),
        )
    return values


#: What ``@run:RUN_ID:failed`` values read: ``(run_id, what, option) -> host names``. The command line
#: sets it (journaled runs belong to the run layer, above this one); None: not available.
RUN_HOSTS: Callable[[str, str, str], list[str]] | None = None


def _run_values(value: str, option: str) -> list[str]:
    """The hosts ``@run:RUN_ID:failed`` names (``not_run`` and ``all`` too), from the run's journal."""
    run_id, sep, what = value[len("@run:") :].partition(":")
    if not run_id.strip() or not sep:
        raise UsageError(f"{option}: write @run:RUN_ID:failed (`nornflow runs` lists the runs)", key=option)
    if RUN_HOSTS is None:
        raise UsageError(f"{option}: @run: values are read on the command line only", key=option)
    return RUN_HOSTS(run_id.strip(), what.strip(), option)


def _split_values(text: str, option: str) -> list[str]:
    """``a,b,@FILE``: values split at commas (``\\,`` is a literal comma); ``@FILE`` items are the
    values listed in FILE, ``\\@`` starts a value with a literal ``@``."""
    values: list[str] = []
    for raw in _COMMA.split(text):
        value = raw.strip().replace("\\,", ",")
        if value.startswith("@run:"):
            values.extend(_run_values(value, option))
        elif value.startswith("@"):
            if not value[1:].strip():
                raise UsageError(f"{option}: '@' must be followed by a file name", key=option)
            values.extend(read_values_file(value[1:].strip(), option))
        elif value:
            values.append(value[1:] if value.startswith("\\@") else value)
    return values


def parse_limit(items: Sequence[str]) -> list[str]:
    """``--limit`` arguments as host names: ``--limit r1,r2`` and ``--limit @FILE`` mean
    ``--filter hosts=r1,r2`` and ``--filter hosts=@FILE``."""
    names: list[str] = []
    for item in items:
        values = _split_values(item.strip(), f"--limit {item}")
        if not values:
            raise UsageError("--limit takes host names (or @FILE), got nothing", key="--limit")
        names.extend(values)
    return names


def parse_filters(items: Sequence[str], option: str = "--filter") -> dict[str, list[Any]]:
    """``--filter`` arguments as filters: each ``key=value``, values split at commas, repeated keys
    adding values ("any of"). Values stay strings (comparison reads them as YAML scalars as needed);
    ``\\,`` is a literal comma; a value starting with ``[`` or ``{`` is read as YAML flow (``\\[`` and
    ``\\{`` start a plain value with a bracket); ``@FILE`` stands for the values listed in FILE, one
    per line (``hosts=@failed.txt`` re-runs the hosts a ``--failed-hosts`` file names)."""
    import yaml

    out: dict[str, list[Any]] = {}
    for item in items:
        key, sep, text = item.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise UsageError(f"{option} takes key=value, got {item!r}", key=option)
        if text.startswith(("[", "{")):
            try:
                parsed = yaml.safe_load(text)
            except yaml.YAMLError as exc:
                problem = getattr(exc, "problem", None) or str(exc)
                raise UsageError(
                    f"{option} {key}: {text!r} is not valid YAML: {problem}", key=option
                ) from None
            values = list(parsed) if isinstance(parsed, list) else [parsed]
        else:
            if text.startswith(("\\[", "\\{")):
                text = text[1:]  # a literal bracket, not YAML
            values = _split_values(text, f"{option} {key}={text}")
        if not values:
            raise UsageError(
                f"{option} {key}= has no value (leave the filter out to select every host)", key=option
            )
        out.setdefault(key, []).extend(values)
    return out


# -- the project's filter functions ------------------------------------------------------------------

_TRUE = {"true", "yes", "on", "1", "y"}
_FALSE = {"false", "no", "off", "0", "n"}


def _flag_value(name: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise FilterError(
        f"filter {name!r} takes no value: use {name}: true (hosts it accepts), {name}: false (hosts it "
        f"rejects) or {name}: null; got {value!r}",
        key=name,
    )


def _project_filter(name: str, func: Callable[..., Any], source: str) -> InventoryFilter:
    """Wrap a project function ``func(host, ...)`` as an inventory filter (see :func:`load_filter_dirs`)."""
    signature = inspect.signature(func)
    rest = list(signature.parameters.values())[1:]
    flag = not rest
    doc = (inspect.getdoc(func) or "").strip().splitlines()

    def call(host: Host, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> bool:
        try:
            return bool(func(host, *args, **kwargs))
        except Exception as exc:
            raise FilterError(
                f"filter {name!r} ({source}) failed: {type(exc).__name__}: {exc}", key=name, host=host.name
            ) from exc

    def compile(values: list[Any]) -> Predicate:
        if flag:
            wanted = {_flag_value(name, v) for v in values}
            if len(wanted) != 1:  # [true, false]: every host; []: none
                return (lambda host: True) if wanted else (lambda host: False)
            accept = wanted.pop()
            return lambda host: call(host, (), {}) is accept
        calls: list[tuple[tuple[Any, ...], Mapping[str, Any]]] = []
        for value in values:
            args, kwargs = ((), value) if isinstance(value, Mapping) else ((value,), {})
            try:
                signature.bind(None, *args, **kwargs)
            except TypeError as exc:
                raise FilterError(
                    f"filter {name!r} ({source}) cannot take {value!r}: {exc}", key=name
                ) from None
            calls.append((args, kwargs))
        return lambda host: any(call(host, args, kwargs) for args, kwargs in calls)

    if flag:
        takes = "true/false"
    elif any(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) for p in rest):
        takes = "value(s) or mapping"
    else:
        takes = "mapping"
    return InventoryFilter(
        name, compile, takes=takes, description=doc[0] if doc else "", source=source, flag=flag
    )


def _is_filter_function(obj: Any) -> bool:
    """A function whose first parameter is ``host`` (by name, or annotated as a Nornir ``Host``)."""
    first = first_parameter(obj)
    if first is None:
        return False
    annotation = first.annotation
    annotated = annotation is Host or (isinstance(annotation, str) and annotation.split(".")[-1] == "Host")
    return first.name == "host" or annotated


def _module_filters(path: Path) -> dict[str, Callable[..., Any]]:
    functions = filter_functions(path, "nornflow_project_filters", "inventory filter module")
    return {name: func for name, func in functions.items() if _is_filter_function(func)}


def load_filter_dirs(directories: Iterable[str | Path]) -> list[InventoryFilter]:
    """Register the inventory filter functions of the ``.py`` files in ``directories``.

    A filter function is a public function whose first parameter is ``host`` (or is annotated
    ``Host``); other functions are helpers and ignored. It returns whether the host passes:

    - ``def is_virtual(host) -> bool``: takes no value; ``is_virtual: true`` (or ``null``) keeps the
      hosts it accepts, ``false`` those it rejects.
    - ``def in_region(host, region) -> bool``: called with each value (a list: any of them); a
      mapping value is passed as keyword arguments (``{region: west, tier: 1}``).

    A project filter named like a built-in replaces it, with a warning; the same name in two of the
    project's files, or a module that fails to import, is an error naming the file(s).
    """
    loaded: dict[str, InventoryFilter] = {}
    for directory in directories:
        directory = Path(directory)
        if not directory.is_dir():
            continue
        files = [
            p
            for p in sorted(directory.rglob("*.py"))
            if not p.name.startswith("_")
            and not any(part.startswith(".") for part in p.relative_to(directory).parts)
        ]
        for path in files:
            for name, func in _module_filters(path).items():
                if name in loaded:
                    raise FilterImportError(
                        f"inventory filter {name!r} is defined twice: in {loaded[name].source} and in {path}",
                        file=str(path),
                    )
                loaded[name] = _project_filter(name, func, str(path))
    for name, spec in loaded.items():
        previous = FILTERS.get(name)
        if name in _BUILTIN_BY_NAME and (previous is None or previous.source != spec.source):
            log.warning("inventory filter %r from %s replaces the built-in filter", name, spec.source)
        FILTERS[name] = spec
    return list(loaded.values())
