"""``YAMLInventory``: a fast Nornir inventory plugin reading SimpleInventory's hosts/groups/defaults files.

Why: SimpleInventory parses with ruamel and takes many seconds on 100,000 hosts. This plugin reads the same
file format with libyaml (``yaml.CSafeLoader``, falling back to ``yaml.SafeLoader``) and builds Python
objects straight from the parser's events: PyYAML's own compose-then-construct path creates a node object
(and two position marks) for every scalar and then walks them again, which costs more than the parse.
Scalars resolve exactly as with ``yaml.safe_load`` (YAML 1.1); anchors, aliases and ``<<`` merge keys work.

It also checks the shape SimpleInventory silently accepts or crashes on: unknown attribute keys, ``groups``
not a list, references to undefined groups, group cycles, ``port`` not an integer, duplicate keys. Every
problem raises :class:`~nornflow.exceptions.InventoryError` naming the file, the line and the host or key.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pathlib
import re
from collections.abc import Iterator
from typing import Any

import yaml
from nornir.core.inventory import (
    ConnectionOptions,
    Defaults,
    Group,
    Groups,
    Host,
    Hosts,
    Inventory,
    ParentGroups,
)
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
)

from nornflow.exceptions import InventoryError
from nornflow.inventory import cache as inventory_cache

__all__ = ["YAMLInventory", "inventory_from_data", "load_inventory"]

logger = logging.getLogger(__name__)

_Loader: type[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_BASE_KEYS = frozenset({"hostname", "port", "username", "password", "platform"})
_CONNECTION_KEYS = _BASE_KEYS | {"extras"}
_DEFAULTS_KEYS = _BASE_KEYS | {"data", "connection_options"}
_ELEMENT_KEYS = _DEFAULTS_KEYS | {"groups"}

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAP_TAGS = (None, "!", "tag:yaml.org,2002:map")
_SEQ_TAGS = (None, "!", "tag:yaml.org,2002:seq")
_MERGE = object()  # stands for the ``<<`` key while its mapping is being built

# Plain scalars resolved without PyYAML's resolver and constructor (1.5-3 us each, most of the build):
# YAML 1.1 booleans and nulls, and plain decimal integers. Everything else takes the full path, except
# values that start with a digit and hold two dots (IP addresses, versions): no YAML 1.1 number or
# timestamp has two, so they are strings. tests/test_inventory.py checks each against safe_load.
_PLAIN_WORDS: dict[str, Any] = {
    **dict.fromkeys(("yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
}
_SLOW = object()
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]*)").fullmatch


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic GC while loading: it would rescan the growing heap again and again for no cycle."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _mark_error(message: str, mark: Any, file: str) -> InventoryError:
    """Build an InventoryError at a PyYAML mark (0-based) with a 1-based line and column."""
    if mark is None:
        return InventoryError(message, file=file)
    return InventoryError(message, file=file, line=mark.line + 1, column=mark.column + 1)


def _parse(stream: str | bytes, file: str, lines: dict[Any, int]) -> Any:
    """Build the single document of ``stream`` from parser events; record top-level key lines in ``lines``."""
    loader = None
    try:
        loader = _Loader(stream)  # the pure-Python reader already checks characters here
        return _build(loader, file, lines)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "invalid YAML"
        syntax = isinstance(exc, yaml.scanner.ScannerError | yaml.parser.ParserError)
        raise _mark_error(f"YAML {'syntax error' if syntax else 'error'}: {problem}", mark, file) from None
    except yaml.reader.ReaderError as exc:  # a character YAML forbids: the reader knows only its index
        text = stream if isinstance(stream, str) else stream.decode("utf-8", "replace")
        line_start = text.rfind("\n", 0, exc.position) + 1
        line = text.count("\n", 0, exc.position) + 1
        raise InventoryError(
            f"YAML error: {exc.reason} (character #x{exc.character:04x})",
            file=file,
            line=line,
            column=exc.position - line_start + 1,
        ) from None
    except yaml.YAMLError as exc:
        raise InventoryError(f"YAML error: {exc}", file=file) from None
    finally:
        if loader is not None:
            loader.dispose()


def _scalar(loader: Any, event: Any, file: str) -> Any:
    """Resolve and construct a scalar the way ``yaml.safe_load`` does (the slow part of ``_build``)."""
    tag = event.tag
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag == _STR_TAG:
        return event.value
    if tag == _MERGE_TAG:
        return _MERGE
    constructor = loader.yaml_constructors.get(tag)
    if constructor is None:
        raise _mark_error(f"unsupported YAML tag {tag!r}", event.start_mark, file)
    try:
        return constructor(loader, yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark))
    except (ValueError, TypeError, OverflowError) as exc:  # e.g. ``!!int abc``, ``2001-13-45``
        kind = tag.rsplit(":", 1)[-1]
        raise _mark_error(f"invalid {kind} value {event.value!r}: {exc}", event.start_mark, file) from None


def _merge_into(mapping: dict[Any, Any], sources: list[dict[Any, Any]]) -> None:
    """Apply ``<<`` merges as the YAML merge-key spec says: explicit keys win, then earlier merge
    sources over later ones; keys come in order of first appearance (as in PyYAML >= 6.0.4)."""
    explicit = dict(mapping)
    mapping.clear()
    for source in sources:
        for k, v in source.items():
            if k not in mapping:
                mapping[k] = v
    mapping.update(explicit)


def _build(loader: Any, file: str, lines: dict[Any, int]) -> Any:
    """Turn the parser's event stream into dicts, lists and scalars with a small explicit stack."""
    get_event = loader.get_event
    needs_resolving = frozenset(loader.yaml_implicit_resolvers)
    anchors: dict[str, Any] = {}
    stack: list[tuple[Any, Any, bool, list[dict[Any, Any]] | None]] = []
    top: Any = None  # the open container: a dict or a list (None at document level)
    key: Any = None
    has_key = False
    merges: list[dict[Any, Any]] | None = None
    root: Any = None
    documents = 0
    while True:
        event = get_event()
        cls = event.__class__
        if cls is ScalarEvent:
            value = event.value
            if event.tag is not None:
                value = _scalar(loader, event, file)
            elif event.implicit[0] and value[:1] in needs_resolving:
                fast = _PLAIN_WORDS.get(value, _SLOW)
                if fast is not _SLOW:
                    value = fast
                elif _DECIMAL(value):
                    value = int(value)
                elif not (value[0].isdigit() and value.count(".") > 1):  # 10.0.0.1, 1.2.3: strings
                    value = _scalar(loader, event, file)
            if event.anchor is not None:
                anchors[event.anchor] = value
        elif cls is MappingStartEvent or cls is SequenceStartEvent:
            tags = _MAP_TAGS if cls is MappingStartEvent else _SEQ_TAGS
            if event.tag not in tags:
                raise _mark_error(f"unsupported YAML tag {event.tag!r}", event.start_mark, file)
            stack.append((top, key, has_key, merges))
            top = {} if cls is MappingStartEvent else []
            has_key = False
            merges = None
            if event.anchor is not None:
                anchors[event.anchor] = top
            continue
        elif cls is MappingEndEvent or cls is SequenceEndEvent:
            value = top
            if merges:
                _merge_into(value, merges)
            top, key, has_key, merges = stack.pop()
        elif cls is AliasEvent:
            try:
                value = anchors[event.anchor]
            except KeyError:
                raise _mark_error(f"undefined alias {event.anchor!r}", event.start_mark, file) from None
        elif cls is StreamEndEvent:
            return root
        else:
            if cls is DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _mark_error("expected a single YAML document, found more", event.start_mark, file)
            continue

        if top.__class__ is dict:
            if has_key:
                if key is _MERGE:
                    merges = _merge_sources(value, event, file, merges)
                else:
                    top[key] = value
                has_key = False
            else:
                try:
                    duplicate = value in top
                except TypeError:
                    raise _mark_error("a mapping key must be a plain value", event.start_mark, file) from None
                if duplicate:
                    raise _mark_error(f"duplicate key {value!r}", event.start_mark, file)
                if len(stack) == 1:  # a key of the document's top mapping: a host, group or attribute
                    lines[value] = event.start_mark.line + 1
                key = value
                has_key = True
        elif top is None:
            root = value
        else:
            top.append(value)


def _merge_sources(
    value: Any, event: Any, file: str, merges: list[dict[Any, Any]] | None
) -> list[dict[Any, Any]]:
    """Validate a ``<<`` value (a mapping or a list of mappings) and queue it for ``_merge_into``."""
    queued = merges if merges is not None else []
    if isinstance(value, dict):
        queued.append(value)
    elif isinstance(value, list) and all(isinstance(item, dict) for item in value):
        queued.extend(value)  # in ``<<: [*a, *b]`` the earlier mapping wins
    else:
        raise _mark_error("'<<' expects a mapping or a list of mappings", event.start_mark, file)
    return queued


def _read(path: pathlib.Path, encoding: str, what: str, required: bool) -> tuple[Any, dict[Any, int]]:
    """Load one YAML file and its top-level key lines; a missing optional file gives ``(None, {})``."""
    file = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        if required:
            raise InventoryError(f"{what} file not found", file=file) from None
        return None, {}
    except OSError as exc:
        raise InventoryError(f"cannot read {what} file: {exc.strerror or exc}", file=file) from None
    cached = inventory_cache.load(raw, encoding)
    if cached is not None:
        data, lines = cached
    else:
        try:
            stream = raw.decode(encoding)
        except (UnicodeDecodeError, LookupError) as exc:
            raise InventoryError(f"cannot decode {what} file as {encoding}: {exc}", file=file) from None
        lines = {}
        data = _parse(stream, file, lines)
        inventory_cache.store(raw, encoding, data, lines)
    if data is None or data == {}:
        logger.warning("'%s' is empty or contains only comments, defaulting to empty %s.", file, what)
        return {}, lines
    if not isinstance(data, dict):
        raise InventoryError(
            f"the {what} file must be a mapping of names to attributes, got {type(data).__name__}",
            file=file,
            line=1,
        )
    return data, lines


class _Place:
    """Where an entry sits (file, line, and the host or group it is), to word errors in one spot."""

    __slots__ = ("file", "host", "kind", "line", "name")

    def __init__(self, file: str, kind: str, name: Any, line: int | None) -> None:
        """Remember the file, the entry kind (host, group, defaults), its name and its line."""
        self.file = file
        self.kind = kind
        self.name = name
        self.line = line
        self.host = name if kind == "host" else None

    def error(self, message: str, key: str | None = None) -> InventoryError:
        """An InventoryError about this entry: a host goes in ``host=``, a group or defaults in the text."""
        if self.kind == "group":
            message = f"group {self.name!r}: {message}"
        elif self.kind == "defaults":
            message = f"defaults: {message}"
        return InventoryError(message, file=self.file, line=self.line, key=key, host=self.host)


def _check_port(value: Any, place: _Place, key: str) -> None:
    """Refuse a ``port`` that is not an integer (``true`` and ``"22"`` included)."""
    if value is not None and type(value) is not int:
        raise place.error(f"{key} must be an integer, got {value!r}", key=key)


def _connection_options(value: Any, place: _Place) -> dict[str, ConnectionOptions]:
    """Build the ``connection_options`` mapping, checking every connection's keys and types."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise place.error(
            f"connection_options must be a mapping, got {type(value).__name__}", key="connection_options"
        )
    options: dict[str, ConnectionOptions] = {}
    for name, conn in value.items():
        key = f"connection_options.{name}"
        if not isinstance(conn, dict):
            raise place.error(f"{key} must be a mapping, got {type(conn).__name__}", key=key)
        unknown = conn.keys() - _CONNECTION_KEYS
        if unknown:
            bad = sorted(map(str, unknown))[0]
            raise place.error(f"unknown connection option {bad!r}", key=f"{key}.{bad}")
        _check_port(conn.get("port"), place, f"{key}.port")
        extras = conn.get("extras")
        if extras is not None and not isinstance(extras, dict):
            kind = type(extras).__name__
            raise place.error(f"{key}.extras must be a mapping, got {kind}", key=f"{key}.extras")
        options[name] = ConnectionOptions(
            hostname=conn.get("hostname"),
            port=conn.get("port"),
            username=conn.get("username"),
            password=conn.get("password"),
            platform=conn.get("platform"),
            extras=extras,
        )
    return options


def _attributes(entry: Any, place: _Place, allowed: frozenset[str]) -> dict[str, Any]:
    """Check one host, group or defaults entry and return the keyword arguments for its Nornir class."""
    if not isinstance(entry, dict):
        raise place.error(f"must be a mapping of attributes, got {type(entry).__name__}")
    if not allowed.issuperset(entry):
        bad = sorted(map(str, entry.keys() - allowed))[0]
        raise place.error(f"unknown attribute {bad!r} (allowed: {', '.join(sorted(allowed))})", key=bad)
    _check_port(entry.get("port"), place, "port")
    data = entry.get("data")
    if data is not None and not isinstance(data, dict):
        raise place.error(f"data must be a mapping, got {type(data).__name__}", key="data")
    connection_options = entry.get("connection_options")
    return {
        "hostname": entry.get("hostname"),
        "port": entry.get("port"),
        "username": entry.get("username"),
        "password": entry.get("password"),
        "platform": entry.get("platform"),
        "data": data,
        "connection_options": _connection_options(connection_options, place) if connection_options else {},
    }


def _group_names(entry: dict[str, Any], place: _Place) -> list[str]:
    """The ``groups`` list of an entry, checked to be a list of strings."""
    names = entry.get("groups")
    if names is None:
        return []
    if not isinstance(names, list):
        raise place.error(f"groups must be a list of group names, got {type(names).__name__}", key="groups")
    for name in names:
        if type(name) is not str:
            raise place.error(f"group names must be strings, got {name!r}", key="groups")
    return names


def _parents(names: list[str], groups: Groups, place: _Place) -> ParentGroups:
    """Resolve group names to Group objects, refusing a name the groups file does not define."""
    try:
        return ParentGroups([groups[name] for name in names])
    except KeyError as exc:
        raise place.error(f"references undefined group {exc.args[0]!r}", key="groups") from None


def _check_cycles(groups: Groups, file: str, lines: dict[Any, int]) -> None:
    """Refuse groups that are their own ancestors: Nornir would recurse forever on them."""
    state: dict[str, bool] = {}  # False while on the current path, True once fully explored
    for start in groups:
        if start in state:
            continue
        path = [start]
        state[start] = False
        pending: list[Iterator[Group]] = [iter(groups[start].groups)]
        while pending:
            parent = next(pending[-1], None)
            if parent is None:
                pending.pop()
                state[path.pop()] = True
            elif parent.name not in state:
                state[parent.name] = False
                path.append(parent.name)
                pending.append(iter(parent.groups))
            elif state[parent.name] is False:
                cycle = " -> ".join([*path[path.index(parent.name) :], parent.name])
                line = lines.get(path[-1])
                raise InventoryError(f"group cycle: {cycle}", file=file, line=line, key="groups")


def _load_defaults(path: pathlib.Path | None, encoding: str) -> Defaults:
    """Read the defaults file (optional) into a Nornir Defaults."""
    data, _ = _read(path, encoding, "defaults", required=False) if path else (None, {})
    return _build_defaults(data, str(path))


def _build_defaults(data: Any, file: str) -> Defaults:
    """Nornir Defaults from the defaults mapping."""
    if not data:
        return Defaults()
    if not isinstance(data, dict):
        raise InventoryError("defaults must be a mapping", file=file)
    return Defaults(**_attributes(data, _Place(file, "defaults", None, None), _DEFAULTS_KEYS))


def _load_groups(path: pathlib.Path | None, encoding: str, defaults: Defaults) -> Groups:
    """Read the groups file (optional), link every group to its parent groups and refuse cycles."""
    data, lines = _read(path, encoding, "groups", required=False) if path else (None, {})
    return _build_groups(data, lines, str(path), defaults)


def _build_groups(data: Any, lines: dict[Any, int], file: str, defaults: Defaults) -> Groups:
    """Nornir Groups from the groups mapping, linked to their parents, without cycles."""
    groups = Groups()
    if not data:
        return groups
    if not isinstance(data, dict):
        raise InventoryError("groups must be a mapping of group names to groups", file=file)
    parent_names: dict[str, list[str]] = {}
    for name, entry in data.items():
        place = _Place(file, "group", name, lines.get(name))
        if type(name) is not str:
            raise place.error("group names must be strings (quote it)")
        groups[name] = Group(name=name, defaults=defaults, **_attributes(entry, place, _ELEMENT_KEYS))
        parent_names[name] = _group_names(entry, place)
    for name, group in groups.items():
        group.groups = _parents(parent_names[name], groups, _Place(file, "group", name, lines.get(name)))
    _check_cycles(groups, file, lines)
    return groups


def _load_hosts(path: pathlib.Path, encoding: str, groups: Groups, defaults: Defaults) -> Hosts:
    """Read the hosts file (required) and link every host to its groups."""
    data, lines = _read(path, encoding, "hosts", required=True)
    return _build_hosts(data, lines, str(path), groups, defaults)


def _build_hosts(data: Any, lines: dict[Any, int], file: str, groups: Groups, defaults: Defaults) -> Hosts:
    """Nornir Hosts from the hosts mapping, linked to their groups."""
    if not isinstance(data, dict):
        raise InventoryError("hosts must be a mapping of host names to hosts", file=file)
    hosts = Hosts()
    for name, entry in data.items():
        place = _Place(file, "host", name, lines.get(name))
        if type(name) is not str:
            raise place.error("host names must be strings (quote it)")
        attributes = _attributes(entry, place, _ELEMENT_KEYS)
        parents = _parents(_group_names(entry, place), groups, place)
        hosts[name] = Host(name=name, groups=parents, defaults=defaults, **attributes)
    return hosts


def inventory_from_data(
    hosts: dict[str, Any],
    groups: dict[str, Any] | None = None,
    defaults: dict[str, Any] | None = None,
    *,
    source: str | None = None,
) -> Inventory:
    """Build an inventory from in-memory mappings in the hosts/groups/defaults file format.

    Used for inventories written inline in ``nornflow.yaml``; errors name ``source``.
    """
    file = source or "<inline inventory>"
    with _gc_paused():
        nr_defaults = _build_defaults(defaults or {}, file)
        nr_groups = _build_groups(groups or {}, {}, file, nr_defaults)
        nr_hosts = _build_hosts(hosts, {}, file, nr_groups, nr_defaults)
    return Inventory(hosts=nr_hosts, groups=nr_groups, defaults=nr_defaults)


def _path(value: str | os.PathLike[str] | None) -> pathlib.Path | None:
    """Turn a configured file name into a path with ``~`` expanded (None stays None)."""
    return None if value is None else pathlib.Path(value).expanduser()


class YAMLInventory:
    """Nornir inventory plugin reading SimpleInventory's YAML files, fast, with clear errors."""

    def __init__(
        self,
        host_file: str | os.PathLike[str] = "hosts.yaml",
        group_file: str | os.PathLike[str] | None = "groups.yaml",
        defaults_file: str | os.PathLike[str] | None = "defaults.yaml",
        encoding: str = "utf-8",
    ) -> None:
        """Remember the three files; only the host file must exist, like SimpleInventory."""
        self.host_file = pathlib.Path(host_file).expanduser()
        self.group_file = _path(group_file)
        self.defaults_file = _path(defaults_file)
        self.encoding = encoding

    def load(self) -> Inventory:
        """Read defaults, groups and hosts and return the Nornir Inventory (raises InventoryError)."""
        with _gc_paused():
            defaults = _load_defaults(self.defaults_file, self.encoding)
            groups = _load_groups(self.group_file, self.encoding, defaults)
            hosts = _load_hosts(self.host_file, self.encoding, groups, defaults)
        return Inventory(hosts=hosts, groups=groups, defaults=defaults)


def load_inventory(
    host_file: str | os.PathLike[str],
    group_file: str | os.PathLike[str] | None = None,
    defaults_file: str | os.PathLike[str] | None = None,
    encoding: str = "utf-8",
) -> Inventory:
    """Load an inventory from a hosts file and optional groups and defaults files (None = none)."""
    return YAMLInventory(host_file, group_file, defaults_file, encoding).load()
