"""The Jinja2 filters nornflow adds to Jinja2's own, and the loader of a project's filter modules.

Built-ins cover what network engineers reach for in templates: regular expressions, YAML/JSON in and
out, dictionary and list shaping, IP address checks on the standard library's :mod:`ipaddress`,
base64, hashes and (with the ``jmespath`` package) JMESPath queries; and NornFlow 1.0's filters
(``flatten_list``, ``is_set``, ``to_snake_case``, Python's built-ins such as ``enumerate``, ...) so
its projects' templates render unchanged. ``docs/filters.md`` is the
reference: every filter, its arguments, and the exact semantics chosen where Ansible's differ.

Every filter is a pure function (no shared state but thread-safe caches of compiled patterns), so
the worker threads can render templates concurrently. Wrong input raises
:class:`jinja2.exceptions.FilterArgumentError` with a message that starts with the filter's name;
nornflow's templating reports it, for the host and task, without a traceback. An undefined variable
reaching a filter stays an undefined-variable error. The ``ipaddr`` family never raises for a value
that is not an address: it answers ``False`` (and drops such items from lists), as Ansible's does.

This module imports only the standard library, PyYAML, Jinja2 and :mod:`nornflow.exceptions`; the
project loader (:func:`load_j2_filter_dirs`) imports the rest of nornflow when it is called.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import inspect
import ipaddress
import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
import jinja2.filters
import yaml
from jinja2.exceptions import FilterArgumentError

from nornflow.exceptions import FilterImportError
from nornflow.imports import filter_functions

__all__ = [
    "BUILTIN_FILTERS",
    "IP_QUERIES",
    "NORNFLOW1_FILTERS",
    "FilterInfo",
    "b64decode",
    "b64encode",
    "chunk_list",
    "cidr_merge",
    "combine",
    "deep_merge",
    "dict2items",
    "filter_catalog",
    "flatten",
    "flatten_list",
    "from_json",
    "from_yaml",
    "hash_value",
    "ipaddr",
    "ipmath",
    "ipnet",
    "ipv4",
    "ipv6",
    "ipwrap",
    "is_set",
    "items2dict",
    "json_query",
    "load_j2_filter_dirs",
    "network_in_network",
    "nthhost",
    "random_choice",
    "regex_escape",
    "regex_findall",
    "regex_replace",
    "regex_search",
    "to_json",
    "to_kebab_case",
    "to_nice_json",
    "to_nice_yaml",
    "to_snake_case",
    "to_yaml",
    "unique",
    "unique_list",
]

log = logging.getLogger("nornflow.filters")

_IP = ipaddress.IPv4Interface | ipaddress.IPv6Interface
_IP_OBJECTS = (ipaddress.IPv4Address, ipaddress.IPv6Address, ipaddress.IPv4Network, ipaddress.IPv6Network)


# -- shared helpers ----------------------------------------------------------------------------------


def _fail(name: str, message: str) -> FilterArgumentError:
    """The error a filter raises: its name first, so the message says which filter of a template."""
    return FilterArgumentError(f"{name}: {message}")


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    return f"{type(value).__name__} {_short(value)}"


def _defined(value: Any) -> None:
    """An undefined variable reaching a filter raises Jinja2's undefined-variable error, as if used."""
    if isinstance(value, jinja2.Undefined):
        str(value)  # StrictUndefined raises UndefinedError naming the variable
        raise jinja2.UndefinedError("an undefined value was passed to a filter")


def _text(name: str, value: Any) -> str:
    """``value`` as text: strings as they are, numbers in their usual form; anything else is an error."""
    _defined(value)
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)):
        return str(value)
    raise _fail(name, f"expects a string, got {_kind(value)}")


def _plain(value: Any, _depth: int = 0) -> Any:
    """Mappings as dicts, sequences and sets as lists, addresses as strings (what YAML/JSON can write)."""
    if _depth > 200:
        raise ValueError("value is nested too deeply")
    _defined(value)
    if isinstance(value, (str, bytes, bool, int, float)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {_plain(k, _depth + 1): _plain(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, _depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [_plain(v, _depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return items
    if isinstance(value, _IP_OBJECTS):
        return str(value)
    return value


# -- regular expressions -----------------------------------------------------------------------------


@lru_cache(maxsize=512)
def _compiled(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _regex(name: str, pattern: Any, ignorecase: Any, multiline: Any) -> re.Pattern[str]:
    pattern = _text(name, pattern)
    if isinstance(ignorecase, bool) or ignorecase is None:
        flags = re.IGNORECASE if ignorecase else 0
    elif isinstance(ignorecase, int):  # ``re`` flags as a number (NornFlow 1.0's fourth argument)
        flags = ignorecase
    else:
        raise _fail(name, f"ignorecase must be true or false, got {_kind(ignorecase)}")
    if multiline:
        flags |= re.MULTILINE
    try:
        return _compiled(pattern, flags)
    except (re.error, ValueError, OverflowError) as exc:
        raise _fail(name, f"invalid regular expression {pattern!r}: {exc}") from None


def regex_replace(
    value: Any,
    pattern: str = "",
    replacement: str = "",
    ignorecase: bool | int = False,
    multiline: bool = False,
    count: int = 0,
) -> str:
    """Replace every match of a regular expression (``\\1``, ``\\g<name>`` in the replacement)."""
    text = _text("regex_replace", value)
    regex = _regex("regex_replace", pattern, ignorecase, multiline)
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise _fail("regex_replace", f"count must be a whole number >= 0, got {_kind(count)}")
    replacement = _text("regex_replace", replacement)
    try:
        return regex.sub(replacement, text, count=count)
    except (re.error, IndexError) as exc:
        raise _fail("regex_replace", f"invalid replacement {replacement!r}: {exc}") from None


def regex_search(
    value: Any, pattern: str, *groups: Any, ignorecase: bool | int = False, multiline: bool = False
) -> Any:
    """The first match (or the given groups of it); None when nothing matches.

    Groups are numbers or names (one gives a string, several a list), or Ansible-style ``'\\1'`` and
    ``'\\g<name>'`` strings, which always give a list.
    """
    text = _text("regex_search", value)
    regex = _regex("regex_search", pattern, ignorecase, multiline)
    match = regex.search(text)
    if match is None:
        return None
    if not groups:
        return match.group(0)
    wanted: list[int | str] = []
    as_list = len(groups) > 1
    for group in groups:
        if isinstance(group, str) and group.startswith("\\"):
            as_list = True
            ref = re.fullmatch(r"\\(?:(\d+)|g<(\w+)>)", group)
            if ref is None:
                raise _fail("regex_search", f"bad group reference {group!r} (use '\\\\1' or '\\\\g<name>')")
            wanted.append(int(ref.group(1)) if ref.group(1) else ref.group(2))
        elif isinstance(group, (int, str)) and not isinstance(group, bool):
            wanted.append(group)
        else:
            raise _fail("regex_search", f"a group is a number or a name, got {_kind(group)}")
    try:
        found = [match.group(g) for g in wanted]
    except IndexError:
        raise _fail("regex_search", f"pattern {regex.pattern!r} has no group {wanted}") from None
    return found if as_list else found[0]


def regex_findall(value: Any, pattern: str, ignorecase: bool | int = False, multiline: bool = False) -> list:
    """Every match as a list (with groups in the pattern: a list of the groups per match)."""
    text = _text("regex_findall", value)
    regex = _regex("regex_findall", pattern, ignorecase, multiline)
    return [list(m) if isinstance(m, tuple) else m for m in regex.findall(text)]


def regex_escape(value: Any) -> str:
    """Escape a string so it matches literally inside a regular expression."""
    return re.escape(_text("regex_escape", value))


# -- YAML and JSON -----------------------------------------------------------------------------------


def _dump_yaml(name: str, value: Any, indent: int) -> str:
    if isinstance(indent, bool) or not isinstance(indent, int) or not 1 < indent < 10:
        raise _fail(name, f"indent must be a number from 2 to 9, got {_kind(indent)}")
    try:
        return yaml.safe_dump(
            _plain(value), default_flow_style=False, sort_keys=False, indent=indent, allow_unicode=True
        )
    except (yaml.YAMLError, ValueError) as exc:
        raise _fail(name, f"cannot write {type(value).__name__} as YAML: {exc}") from None


def to_yaml(value: Any, indent: int = 2) -> str:
    """Write a value as block-style YAML (keys in their order, non-ASCII text as is)."""
    return _dump_yaml("to_yaml", value, indent)


def to_nice_yaml(value: Any, indent: int = 4) -> str:
    """Write a value as block-style YAML indented by 4 (Ansible's ``to_nice_yaml`` layout)."""
    return _dump_yaml("to_nice_yaml", value, indent)


def from_yaml(value: Any) -> Any:
    """Read a YAML document (safe types only); a mapping or list is returned as it is."""
    _defined(value)
    if isinstance(value, (Mapping, list, tuple)):
        return value
    text = _text("from_yaml", value)
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise _fail("from_yaml", f"invalid YAML{where}: {problem}") from None


def _json_default(value: Any) -> Any:
    """What JSON cannot encode natively: sets become lists, anything else its string form."""
    if isinstance(value, (set, frozenset)):
        return _plain(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _dump_json(name: str, value: Any, indent: int | None, sort_keys: bool, ensure_ascii: bool) -> str:
    if indent is not None and (isinstance(indent, bool) or not isinstance(indent, int) or indent < 0):
        raise _fail(name, f"indent must be a number >= 0 or none, got {_kind(indent)}")
    try:
        return json.dumps(
            _plain(value),
            indent=indent,
            sort_keys=sort_keys,
            ensure_ascii=ensure_ascii,
            default=_json_default,
        )
    except (TypeError, ValueError) as exc:  # mixed key types with sort_keys, circular values
        raise _fail(name, f"cannot write {type(value).__name__} as JSON: {exc}") from None


def to_json(value: Any, indent: int | None = None, sort_keys: bool = False, ensure_ascii: bool = True) -> str:
    """Write a value as JSON (compact unless ``indent``; sets become lists, other objects strings)."""
    return _dump_json("to_json", value, indent, sort_keys, ensure_ascii)


def to_nice_json(value: Any, indent: int = 4, sort_keys: bool = True, ensure_ascii: bool = True) -> str:
    """Write a value as JSON indented by 4 with sorted keys (Ansible's ``to_nice_json`` layout)."""
    return _dump_json("to_nice_json", value, indent, sort_keys, ensure_ascii)


def from_json(value: Any) -> Any:
    """Read a JSON document; a mapping or list is returned as it is."""
    _defined(value)
    if isinstance(value, (Mapping, list, tuple)):
        return value
    text = _text("from_json", value)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise _fail(
            "from_json", f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None


# -- dictionaries and lists --------------------------------------------------------------------------

_LIST_MERGE = ("replace", "keep", "append", "prepend", "append_rp", "prepend_rp")


def _merge_lists(old: list, new: list, how: str) -> list:
    if how == "replace":
        return list(new)
    if how == "keep":
        return list(old)
    if how == "append":
        return [*old, *new]
    if how == "prepend":
        return [*new, *old]
    if how == "append_rp":
        return [*(x for x in old if x not in new), *new]
    return [*new, *(x for x in old if x not in new)]  # prepend_rp


def _merge(base: dict, extra: Mapping, recursive: bool, list_merge: str) -> dict:
    out = dict(base)
    for key, value in extra.items():
        current = out.get(key)
        if recursive and isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = _merge(dict(current), value, recursive, list_merge)
        elif isinstance(current, (list, tuple)) and isinstance(value, (list, tuple)) and key in out:
            out[key] = _merge_lists(list(current), list(value), list_merge)
        else:
            out[key] = value
    return out


def combine(value: Any, *others: Any, recursive: bool = False, list_merge: str = "replace") -> dict:
    """Merge mappings left to right (later keys win); ``recursive`` merges nested mappings too.

    Any argument may be a list of mappings. ``list_merge`` says what happens when both sides hold a
    list: ``replace`` (default), ``keep``, ``append``, ``prepend``, ``append_rp``, ``prepend_rp``
    (``_rp``: items of the old list that the new one has are removed first).
    """
    if list_merge not in _LIST_MERGE:
        raise _fail("combine", f"list_merge must be one of {', '.join(_LIST_MERGE)}, got {_kind(list_merge)}")
    mappings: list[Mapping] = []
    for position, arg in enumerate((value, *others)):
        _defined(arg)
        items = arg if isinstance(arg, (list, tuple)) else [arg]
        for item in items:
            _defined(item)
            if not isinstance(item, Mapping):
                raise _fail("combine", f"argument {position + 1} must be a mapping, got {_kind(item)}")
            mappings.append(item)
    out: dict = {}
    for mapping in mappings:
        out = _merge(out, mapping, bool(recursive), list_merge)
    return out


def dict2items(value: Any, key_name: str = "key", value_name: str = "value") -> list[dict]:
    """A mapping as a list of ``{key: ..., value: ...}`` items, in the mapping's order."""
    _defined(value)
    if not isinstance(value, Mapping):
        raise _fail("dict2items", f"expects a mapping, got {_kind(value)}")
    return [{key_name: k, value_name: v} for k, v in value.items()]


def items2dict(value: Any, key_name: str = "key", value_name: str = "value") -> dict:
    """A list of ``{key: ..., value: ...}`` items as a mapping (the reverse of ``dict2items``)."""
    _defined(value)
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise _fail("items2dict", f"expects a list of mappings, got {_kind(value)}")
    out: dict = {}
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise _fail("items2dict", f"item {index} is not a mapping: {_kind(item)}")
        for name in (key_name, value_name):
            if name not in item:
                raise _fail("items2dict", f"item {index} has no key {name!r}: {_short(item)}")
        try:
            out[item[key_name]] = item[value_name]
        except TypeError:
            raise _fail("items2dict", f"item {index}: key {_short(item[key_name])} is not hashable") from None
    return out


def flatten(value: Any, levels: int | None = None, skip_nulls: bool = True) -> list:
    """Flatten nested lists (all the way, or ``levels`` deep); None items are dropped unless told."""
    return _flatten("flatten", value, levels, skip_nulls)


def _flatten(name: str, value: Any, levels: int | None, skip_nulls: bool) -> list:
    _defined(value)
    if not isinstance(value, (list, tuple)):
        raise _fail(name, f"expects a list, got {_kind(value)}")
    if levels is not None and (isinstance(levels, bool) or not isinstance(levels, int) or levels < 0):
        raise _fail(name, f"levels must be a number >= 0 or none, got {_kind(levels)}")
    out: list = []
    # an explicit stack instead of recursion: a list nested thousands deep cannot overflow it
    stack: list[tuple[Iterable, int]] = [(iter(value), 0)]
    while stack:
        items, depth = stack[-1]
        for item in items:
            if isinstance(item, (list, tuple)) and (levels is None or depth < levels):
                stack.append((iter(item), depth + 1))
                break
            if item is None and skip_nulls:
                continue
            out.append(item)
        else:
            stack.pop()
    return out


def _attribute(item: Any, path: str, name: str = "unique") -> Any:
    current = item
    for part in str(path).split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, (list, tuple)) and part.lstrip("-").isdigit():
            try:
                current = current[int(part)]
            except IndexError:
                raise _fail(name, f"attribute {path!r}: index {part} out of range") from None
        elif not isinstance(current, Mapping) and not part.startswith("_") and hasattr(current, part):
            current = getattr(current, part)
        else:
            raise _fail(name, f"item {_short(item)} has no attribute {path!r}")
    return current


def unique(value: Any, case_sensitive: bool = True, attribute: str | None = None) -> list:
    """Items without repeats, first occurrence kept, in order; works on unhashable items too.

    Unlike Jinja2's own ``unique`` (which it replaces), strings are compared case-sensitively unless
    ``case_sensitive=false``: ``Gi0/1`` and ``gi0/1`` stay two items by default.
    """
    return _unique("unique", value, case_sensitive, attribute)


def _unique(name: str, value: Any, case_sensitive: bool, attribute: str | None) -> list:
    _defined(value)
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise _fail(name, f"expects a list, got {_kind(value)}")
    seen: set = set()
    seen_unhashable: list = []
    out: list = []
    for item in value:
        key = _attribute(item, attribute, name) if attribute is not None else item
        if not case_sensitive and isinstance(key, str):
            key = key.casefold()
        try:
            if key in seen:
                continue
            seen.add(key)
        except TypeError:  # a dict or a list: compared by equality
            if key in seen_unhashable:
                continue
            seen_unhashable.append(key)
        out.append(item)
    return out


# -- IP addresses ------------------------------------------------------------------------------------


def _parse_ip(value: Any) -> tuple[_IP, bool] | None:
    """``(interface, has_prefix)`` for an address value, None for anything else (never raises).

    Accepted: ``'192.0.2.1'``, ``'192.0.2.1/24'``, ``'192.0.2.0/255.255.255.0'``, IPv6 the same way,
    :mod:`ipaddress` objects, and whole numbers from 0 to 2**128 - 1 (IPv4 below 2**32). Surrounding
    whitespace is ignored; booleans, other types and other strings are not addresses.
    """
    _defined(value)
    try:
        if isinstance(value, str):
            text = value.strip()
            if not text or len(text) > 100:
                return None
            return ipaddress.ip_interface(text), "/" in text
        if isinstance(value, bool):
            return None
        if isinstance(value, int):
            return (ipaddress.ip_interface(value), False) if 0 <= value < 2**128 else None
        if isinstance(value, (ipaddress.IPv4Interface, ipaddress.IPv6Interface)):
            return value, True
        if isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
            return ipaddress.ip_interface(value), False
        if isinstance(value, (ipaddress.IPv4Network, ipaddress.IPv6Network)):
            return ipaddress.ip_interface(value.with_prefixlen), True
    except ValueError:
        return None
    return None


def _usable(i: _IP) -> tuple[Any, Any]:
    """First and last usable address (as ``ipaddress.hosts()`` counts them, /31 and /127 included)."""
    net = i.network
    if net.prefixlen == net.max_prefixlen:
        return i.ip, i.ip
    if net.prefixlen == net.max_prefixlen - 1:
        return net.network_address, net.broadcast_address
    if net.version == 4:
        return net.network_address + 1, net.broadcast_address - 1
    return net.network_address + 1, net.broadcast_address


def _is_net(i: _IP, has_prefix: bool) -> bool:
    return has_prefix and i.ip == i.network.network_address


def _same_if(i: _IP, has_prefix: bool, ok: bool) -> Any:
    return (i.with_prefixlen if has_prefix else str(i.ip)) if ok else False


def _wrap(i: _IP, has_prefix: bool) -> str:
    text = f"[{i.ip}]" if i.version == 6 else str(i.ip)
    return f"{text}/{i.network.prefixlen}" if has_prefix else text


#: The queries of ``ipaddr``/``ipv4``/``ipv6``: name -> (interface, has_prefix) -> answer.
IP_QUERIES: dict[str, Callable[[_IP, bool], Any]] = {
    "": lambda i, p: _same_if(i, p, True),
    "address": lambda i, p: str(i.ip),
    "host": lambda i, p: (
        f"{i.ip}/{i.network.prefixlen if p else i.max_prefixlen}"
        if not _is_net(i, p) or i.network.prefixlen >= i.max_prefixlen - 1
        else False
    ),
    "network": lambda i, p: str(i.network.network_address),
    "net": lambda i, p: str(i.network) if _is_net(i, p) else False,
    "subnet": lambda i, p: str(i.network),
    "cidr": lambda i, p: str(i.network),
    "prefix": lambda i, p: i.network.prefixlen,
    "netmask": lambda i, p: str(i.netmask),
    "hostmask": lambda i, p: str(i.hostmask),
    "broadcast": lambda i, p: (
        str(i.network.broadcast_address) if i.version == 4 and i.network.prefixlen < 31 else False
    ),
    "size": lambda i, p: i.network.num_addresses,
    "size_usable": lambda i, p: int(_usable(i)[1]) - int(_usable(i)[0]) + 1,
    "first_usable": lambda i, p: str(_usable(i)[0]),
    "last_usable": lambda i, p: str(_usable(i)[1]),
    "range_usable": lambda i, p: f"{_usable(i)[0]}-{_usable(i)[1]}",
    "version": lambda i, p: i.version,
    "int": lambda i, p: int(i.ip),
    "revdns": lambda i, p: i.ip.reverse_pointer + ".",
    "wrap": _wrap,
    "ipv4": lambda i, p: _same_if(i, p, i.version == 4),
    "ipv6": lambda i, p: _same_if(i, p, i.version == 6),
    "public": lambda i, p: _same_if(i, p, i.ip.is_global),
    "private": lambda i, p: _same_if(i, p, i.ip.is_private),
    "loopback": lambda i, p: _same_if(i, p, i.ip.is_loopback),
    "multicast": lambda i, p: _same_if(i, p, i.ip.is_multicast),
    "unicast": lambda i, p: _same_if(i, p, not i.ip.is_multicast),
    "link-local": lambda i, p: _same_if(i, p, i.ip.is_link_local),
    "link_local": lambda i, p: _same_if(i, p, i.ip.is_link_local),
    "reserved": lambda i, p: _same_if(i, p, i.ip.is_reserved),
    "unspecified": lambda i, p: _same_if(i, p, i.ip.is_unspecified),
}


def _ip_query(name: str, query: Any) -> Callable[[_IP, bool], Any]:
    """The function answering ``query``: a name from :data:`IP_QUERIES`, a number (the n-th address
    of the value's network) or a network (is the value inside it?)."""
    _defined(query)
    if isinstance(query, str) and query.strip().lower() in IP_QUERIES:
        return IP_QUERIES[query.strip().lower()]
    if isinstance(query, int) and not isinstance(query, bool):
        n = query

        def nth(i: _IP, p: bool) -> Any:
            net = i.network
            if not -net.num_addresses <= n < net.num_addresses:
                return False
            return f"{net[n]}/{net.prefixlen}"

        return nth
    if isinstance(query, str):
        try:
            container = ipaddress.ip_network(query.strip(), strict=False)
        except ValueError:
            pass
        else:

            def inside(i: _IP, p: bool) -> Any:
                if i.version != container.version:
                    return False
                ok = i.network.subnet_of(container) if _is_net(i, p) else i.ip in container  # type: ignore[arg-type]
                return _same_if(i, p, ok)

            return inside
    names = ", ".join(repr(q) for q in IP_QUERIES if q)
    raise _fail(name, f"unknown query {_short(query)} (queries: {names}, a number or a network)")


def _ip_filter(name: str, value: Any, query: Any, version: int | None) -> Any:
    answer = _ip_query(name, query)

    def one(item: Any) -> Any:
        parsed = _parse_ip(item)
        if parsed is None or (version is not None and parsed[0].version != version):
            return False
        return answer(*parsed)

    _defined(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [r for r in (one(item) for item in value) if r is not False]
    return one(value)


def ipaddr(value: Any, query: Any = "") -> Any:
    """Check or convert an IP address or network: the answer to ``query``, False for a non-address.

    Without a query the normalised value comes back; a list keeps only its addresses' answers.
    """
    return _ip_filter("ipaddr", value, query, None)


def ipv4(value: Any, query: Any = "") -> Any:
    """``ipaddr`` for IPv4 only: IPv6 values and non-addresses give False."""
    return _ip_filter("ipv4", value, query, 4)


def ipv6(value: Any, query: Any = "") -> Any:
    """``ipaddr`` for IPv6 only: IPv4 values and non-addresses give False."""
    return _ip_filter("ipv6", value, query, 6)


def ipnet(value: Any) -> Any:
    """The network an address belongs to, in CIDR form (``192.0.2.5/24`` -> ``192.0.2.0/24``)."""
    return _ip_filter("ipnet", value, "subnet", None)


def ipwrap(value: Any) -> Any:
    """IPv6 addresses in brackets (for URLs and ``host:port``); anything else unchanged."""
    _defined(value)
    if isinstance(value, (list, tuple, set, frozenset)):
        return [ipwrap(item) for item in value]
    parsed = _parse_ip(value)
    return _wrap(*parsed) if parsed is not None else value


def _need_ip(name: str, value: Any) -> tuple[_IP, bool]:
    parsed = _parse_ip(value)
    if parsed is None:
        raise _fail(name, f"{_short(value)} is not an IP address")
    return parsed


def ipmath(value: Any, amount: int) -> str:
    """The address ``amount`` after (or before, if negative) the given one, its prefix kept."""
    i, has_prefix = _need_ip("ipmath", value)
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise _fail("ipmath", f"amount must be a whole number, got {_kind(amount)}")
    try:
        address = i.ip + amount
    except ipaddress.AddressValueError:
        raise _fail("ipmath", f"{i.ip} {'+' if amount >= 0 else '-'} {abs(amount)} is out of range") from None
    return f"{address}/{i.network.prefixlen}" if has_prefix else str(address)


def nthhost(value: Any, n: int) -> Any:
    """The n-th address of a network (negative: from the end), without prefix; False if out of range."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise _fail("nthhost", f"n must be a whole number, got {_kind(n)}")
    parsed = _parse_ip(value)
    if parsed is None:
        return False
    net = parsed[0].network
    return str(net[n]) if -net.num_addresses <= n < net.num_addresses else False


def network_in_network(value: Any, test: Any) -> bool:
    """Whether ``test`` (an address or a network) lies inside the network ``value``."""
    outer, inner = _parse_ip(value), _parse_ip(test)
    if outer is None or inner is None or outer[0].version != inner[0].version:
        return False
    if _is_net(*inner) or inner[1]:
        return inner[0].network.subnet_of(outer[0].network)  # type: ignore[arg-type]
    return inner[0].ip in outer[0].network


def cidr_merge(value: Any, action: str = "merge") -> Any:
    """Merge networks into the fewest CIDRs (``merge``) or the one network spanning them (``span``).

    ``merge`` lists IPv4 networks, then IPv6; ``span`` of an empty list is None.
    """
    _defined(value)
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise _fail("cidr_merge", f"expects a list of networks, got {_kind(value)}")
    if action not in ("merge", "span"):
        raise _fail("cidr_merge", f"action must be 'merge' or 'span', got {_kind(action)}")
    networks = []
    for item in value:
        parsed = _parse_ip(item)
        if parsed is None:
            raise _fail("cidr_merge", f"{_short(item)} is not an IP address or network")
        networks.append(parsed[0].network)
    if action == "merge":
        out: list[str] = []
        for version in (4, 6):
            nets = [n for n in networks if n.version == version]
            out.extend(str(n) for n in ipaddress.collapse_addresses(nets))  # type: ignore[type-var]  # one version
        return out
    if not networks:
        return None
    if len({n.version for n in networks}) > 1:
        raise _fail("cidr_merge", "cannot span IPv4 and IPv6 networks together")
    low = min(int(n.network_address) for n in networks)
    high = max(int(n.broadcast_address) for n in networks)
    bits = networks[0].max_prefixlen
    prefix = bits - (low ^ high).bit_length()
    network_class = ipaddress.IPv4Network if bits == 32 else ipaddress.IPv6Network
    return str(network_class((low, prefix), strict=False))


# -- encodings, hashes and queries -------------------------------------------------------------------


def _bytes(name: str, value: Any, encoding: str) -> bytes:
    _defined(value)
    if isinstance(value, bytes):
        return value
    try:
        return _text(name, value).encode(encoding)
    except LookupError:
        raise _fail(name, f"unknown encoding {encoding!r}") from None
    except UnicodeEncodeError as exc:
        raise _fail(name, f"text cannot be encoded as {encoding}: {exc.reason}") from None


def b64encode(value: Any, encoding: str = "utf-8") -> str:
    """Base64 of a string (encoded as ``encoding`` first) or of bytes."""
    return base64.b64encode(_bytes("b64encode", value, encoding)).decode("ascii")


def b64decode(value: Any, encoding: str = "utf-8") -> str:
    """The text a base64 string holds (whitespace and line breaks in it are ignored)."""
    data = _bytes("b64decode", value, "ascii") if not isinstance(value, bytes) else value
    try:
        raw = base64.b64decode(b"".join(data.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _fail("b64decode", f"not valid base64: {exc}") from None
    try:
        return raw.decode(encoding)
    except LookupError:
        raise _fail("b64decode", f"unknown encoding {encoding!r}") from None
    except UnicodeDecodeError:
        raise _fail("b64decode", f"the decoded bytes are not {encoding} text") from None


def hash_value(value: Any, algorithm: str = "sha1") -> str:
    """The hex digest of a string's UTF-8 bytes; ``algorithm`` is any :mod:`hashlib` name (default
    ``sha1``, as in Ansible; prefer ``sha256`` for anything new)."""
    if not isinstance(algorithm, str):
        raise _fail("hash", f"algorithm must be a name such as 'sha256', got {_kind(algorithm)}")
    name = algorithm.strip().lower()
    if name.startswith("shake"):
        raise _fail("hash", f"{algorithm!r} needs a digest length; use a fixed-size algorithm like 'sha256'")
    data = _bytes("hash", value, "utf-8")
    try:
        digest = hashlib.new(name, data)
    except (ValueError, TypeError):
        known = ", ".join(sorted(a for a in hashlib.algorithms_available if not a.startswith("shake")))
        raise _fail("hash", f"unknown or unavailable algorithm {algorithm!r} (available: {known})") from None
    return digest.hexdigest()


@lru_cache(maxsize=256)
def _jmespath(expression: str) -> Any:
    import jmespath

    return jmespath.compile(expression)


def json_query(value: Any, expression: str) -> Any:
    """A JMESPath query on a value (``interfaces | json_query('[?enabled].name')``).

    Needs the ``jmespath`` package: ``pip install 'nornflow[jmespath]'``.
    """
    _defined(value)
    expression = _text("json_query", expression)
    try:
        import jmespath.exceptions
    except ImportError:
        raise _fail(
            "json_query", "needs the 'jmespath' package: pip install 'nornflow[jmespath]' (or jmespath)"
        ) from None
    try:
        compiled = _jmespath(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise _fail("json_query", f"invalid JMESPath expression {expression!r}: {exc}") from None
    try:
        return compiled.search(_plain(value))
    except jmespath.exceptions.JMESPathError as exc:
        raise _fail("json_query", f"{expression!r}: {exc}") from None


# -- NornFlow 1.0's list, string and dictionary filters ----------------------------------------------


def flatten_list(value: Any) -> list:
    """Flatten nested lists all the way, keeping None items (NornFlow 1.0's ``flatten_list``)."""
    return _flatten("flatten_list", value, None, False)


def unique_list(value: Any) -> list:
    """Items without repeats, first occurrence kept, in order (NornFlow 1.0's ``unique_list``)."""
    return _unique("unique_list", value, True, None)


def chunk_list(value: Any, size: int) -> list[list]:
    """The list cut into lists of ``size`` items, the last one shorter: ``[1, 2, 3] | chunk_list(2)``."""
    _defined(value)
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise _fail("chunk_list", f"expects a list, got {_kind(value)}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise _fail("chunk_list", f"size must be a number >= 1, got {_kind(size)}")
    items = list(value)
    return [items[i : i + size] for i in range(0, len(items), size)]


def deep_merge(value: Any, other: Any) -> dict:
    """``value`` merged with ``other`` recursively: nested mappings merge, anything else from ``other``
    wins (lists are replaced). ``combine(other, recursive=true)`` under NornFlow 1.0's name."""
    for position, arg in enumerate((value, other)):
        _defined(arg)
        if not isinstance(arg, Mapping):
            raise _fail("deep_merge", f"argument {position + 1} must be a mapping, got {_kind(arg)}")
    return _merge(dict(value), other, True, "replace")


_WORD_BREAK = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z0-9]+|[A-Z]+[0-9]*|[0-9]+")


def _words(name: str, value: Any) -> list[str]:
    """The words of an identifier-ish string: camel humps and any separator split it (digits stay
    with the word before them: ``VLAN100``, ``Gi0``)."""
    return [w.lower() for w in _WORD_BREAK.findall(_text(name, value))]


def to_snake_case(value: Any) -> str:
    """``MyVariableName``, ``VLAN-Management`` and ``vlan mgmt`` as ``my_variable_name``, ..."""
    return "_".join(_words("to_snake_case", value))


def to_kebab_case(value: Any) -> str:
    """``MyVariableName`` and ``VLAN_Management`` as ``my-variable-name``, ``vlan-management``."""
    return "-".join(_words("to_kebab_case", value))


def random_choice(value: Any) -> Any:
    """A random item of the list (None for an empty list); unlike Jinja2's ``random``, not for strings."""
    import random

    _defined(value)
    if isinstance(value, (str, Mapping)) or not isinstance(value, Iterable):
        raise _fail("random_choice", f"expects a list, got {_kind(value)}")
    items = list(value)
    return random.choice(items) if items else None


_NOT_SET = object()


def _step(current: Any, part: str, env: jinja2.Environment) -> Any:
    """One ``.part`` of an ``is_set`` path: a mapping's key, else what Jinja2's ``x.part`` gives."""
    if isinstance(current, Mapping):
        if part in current:
            return current[part]
        if part.isdigit() and int(part) in current:
            return current[int(part)]
        return _NOT_SET
    if isinstance(current, (list, tuple)) and part.lstrip("-").isdigit():
        try:
            return current[int(part)]
        except IndexError:
            return _NOT_SET
    found = env.getattr(current, part)
    return _NOT_SET if isinstance(found, jinja2.Undefined) else found


@jinja2.pass_context
def is_set(context: Any, name: Any) -> bool:
    """Whether the variable (or path) named by the string is defined and not None: ``'facts' | is_set``,
    ``'facts.version' | is_set``, ``'host.data.site' | is_set`` (empty values count as set)."""
    if isinstance(name, jinja2.Undefined) or not isinstance(name, str) or not name.strip():
        raise _fail("is_set", f"expects the name of a variable as a string, got {_kind(name)}")
    first, *rest = name.strip().split(".")
    current = context.resolve_or_missing(first)
    if current is jinja2.utils.missing or isinstance(current, jinja2.Undefined):
        return False
    for part in rest:
        if current is None:
            return False
        current = _step(current, part, context.environment)
        if current is _NOT_SET:
            return False
    return current is not None


# -- Python's built-ins as filters (NornFlow 1.0's names) --------------------------------------------


def _python(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A filter wrapping a Python built-in: an undefined value stays an undefined-variable error, and
    a wrong argument is a filter error naming the filter."""

    def wrap(func: Callable[..., Any]) -> Callable[..., Any]:
        def filter_(value: Any, *args: Any, **kwargs: Any) -> Any:
            _defined(value)
            try:
                return func(value, *args, **kwargs)
            except (TypeError, ValueError, AttributeError) as exc:
                raise _fail(name, f"{exc} (value: {_kind(value)})") from None

        filter_.__name__ = filter_.__qualname__ = func.__name__
        filter_.__doc__ = func.__doc__
        return filter_

    return wrap


@_python("enumerate")
def py_enumerate(value: Any, start: int = 0) -> list[tuple[int, Any]]:
    """``(index, item)`` pairs of the list, counting from ``start`` (Python's ``enumerate``)."""
    return list(enumerate(value, start))


@_python("zip")
def py_zip(value: Any, *others: Any) -> list[tuple]:
    """Items of the lists side by side, as tuples, as long as the shortest (Python's ``zip``)."""
    return list(zip(value, *others))  # noqa: B905 (zip's own semantics)


@_python("range")
def py_range(value: Any, *args: int) -> list[int]:
    """Python's ``range`` as a list: ``5 | range`` is 0..4, ``2 | range(10, 2)`` is 2, 4, 6, 8."""
    return list(range(value, *args))


@_python("divmod")
def py_divmod(value: Any, divisor: Any) -> tuple[Any, Any]:
    """Quotient and remainder (Python's ``divmod``): ``10 | divmod(3)`` is ``(3, 1)``."""
    return divmod(value, divisor)


@_python("splitx")
def splitx(value: Any, sep: str | None = None, maxsplit: int = -1) -> list[str]:
    """Python's ``str.split`` with ``maxsplit``: ``'a b c' | splitx(' ', 1)`` is ``['a', 'b c']``."""
    return value.split(sep, maxsplit)


@_python("type")
def type_name(value: Any) -> str:
    """The name of the value's type: ``str``, ``int``, ``list``, ``dict``, ..."""
    return type(value).__name__


@_python("any")
def py_any(value: Any) -> bool:
    """Whether any item of the list is true (Python's ``any``)."""
    return any(value)


@_python("all")
def py_all(value: Any) -> bool:
    """Whether every item of the list is true (Python's ``all``; true for an empty list)."""
    return all(value)


@_python("len")
def py_len(value: Any) -> int:
    """The number of items (or characters): Jinja2's ``length`` under Python's name."""
    return len(value)


@_python("sorted")
def py_sorted(value: Any, key: str | None = None, reverse: bool = False) -> list:
    """The items sorted, by the ``key`` attribute or path of each (``'name'``, ``'facts.rank'``) if
    given; ``reverse`` sorts descending."""
    if key is None:
        return sorted(value, reverse=bool(reverse))
    return sorted(value, key=lambda item: _attribute(item, key, "sorted"), reverse=bool(reverse))


@_python("reversed")
def py_reversed(value: Any) -> list:
    """The items in reverse order, as a list."""
    return list(reversed(list(value)))


@_python("strip")
def strip(value: Any, chars: str | None = None) -> str:
    """The string without leading and trailing whitespace (or ``chars``): Python's ``str.strip``."""
    return value.strip(chars)


@_python("joinx")
def joinx(value: Any, sep: str = "") -> str:
    """The items as text joined by ``sep``: ``[1, 2, 3] | joinx('-')`` is ``1-2-3``."""
    return str(sep).join(str(item) for item in value)


@_python("startswith")
def startswith(value: Any, prefix: Any, start: int = 0, end: int | None = None) -> bool:
    """Whether the string starts with ``prefix`` (or one of a list of prefixes), from ``start``."""
    prefixes = tuple(prefix) if isinstance(prefix, (list, tuple)) else prefix
    return value.startswith(prefixes, start, end)


#: NornFlow 1.0's filters, as nornflow implements them (``docs/filters.md``).
NORNFLOW1_FILTERS: dict[str, Callable[..., Any]] = {
    "flatten_list": flatten_list,
    "unique_list": unique_list,
    "chunk_list": chunk_list,
    "deep_merge": deep_merge,
    "to_snake_case": to_snake_case,
    "to_kebab_case": to_kebab_case,
    "random_choice": random_choice,
    "is_set": is_set,
    "enumerate": py_enumerate,
    "zip": py_zip,
    "range": py_range,
    "divmod": py_divmod,
    "splitx": splitx,
    "type": type_name,
    "any": py_any,
    "all": py_all,
    "len": py_len,
    "sorted": py_sorted,
    "reversed": py_reversed,
    "strip": strip,
    "joinx": joinx,
    "startswith": startswith,
}


#: nornflow's own filters (Jinja2's built-ins stay available; ``unique`` is replaced by nornflow's).
BUILTIN_FILTERS: dict[str, Callable[..., Any]] = {
    "regex_replace": regex_replace,
    "regex_search": regex_search,
    "regex_findall": regex_findall,
    "regex_escape": regex_escape,
    "to_yaml": to_yaml,
    "to_nice_yaml": to_nice_yaml,
    "from_yaml": from_yaml,
    "to_json": to_json,
    "to_nice_json": to_nice_json,
    "from_json": from_json,
    "combine": combine,
    "dict2items": dict2items,
    "items2dict": items2dict,
    "flatten": flatten,
    "unique": unique,
    "ipaddr": ipaddr,
    "ipv4": ipv4,
    "ipv6": ipv6,
    "ipnet": ipnet,
    "ipwrap": ipwrap,
    "ipmath": ipmath,
    "nthhost": nthhost,
    "network_in_network": network_in_network,
    "cidr_merge": cidr_merge,
    "b64encode": b64encode,
    "b64decode": b64decode,
    "hash": hash_value,
    "json_query": json_query,
    **NORNFLOW1_FILTERS,
}


# -- the project's filter modules --------------------------------------------------------------------


@dataclass(frozen=True)
class FilterInfo:
    """A Jinja2 filter as ``nornflow show filters`` lists it."""

    name: str
    func: Callable[..., Any]
    source: str
    description: str
    #: what a project filter replaced: ``"nornflow built-in"``, ``"jinja2 built-in"`` or a file
    overrides: str | None = None


def _describe(func: Callable[..., Any]) -> str:
    """The first sentence of a function's docstring (Jinja2's wrap their first sentence over lines)."""
    paragraph = (inspect.getdoc(func) or "").strip().split("\n\n")[0]
    text = " ".join(paragraph.split())
    end = text.find(". ")
    return text[: end + 1] if end != -1 else text


#: The project filters registered so far in this process: name -> info (the last load wins).
_PROJECT: dict[str, FilterInfo] = {}


def _module_filters(path: Path) -> dict[str, Callable[..., Any]]:
    return filter_functions(path, "nornflow_project_j2_filters", "Jinja2 filter module")


def _python_files(directory: Path) -> list[Path]:
    """The public ``.py`` files under ``directory`` (not ``_private.py``, not in hidden folders)."""
    if not directory.is_dir():
        return []
    return [
        path
        for path in sorted(directory.rglob("*.py"))
        if not path.name.startswith("_")
        and not any(p.startswith(".") for p in path.relative_to(directory).parts)
    ]


def load_j2_filter_dirs(
    directories: Iterable[str | Path], environment: jinja2.Environment
) -> list[FilterInfo]:
    """Register every public function of the ``.py`` files in ``directories`` as a Jinja2 filter.

    A project filter named like a built-in one replaces it (with a warning), so a project keeps the
    behaviour it was written for; the same name in two of the project's files is an error naming
    both. Import failures are errors naming the file. Returns the filters loaded by this call.
    """
    loaded: dict[str, FilterInfo] = {}
    for directory in directories:
        for path in _python_files(Path(directory)):
            for name, func in _module_filters(path).items():
                if name in loaded:
                    raise FilterImportError(
                        f"Jinja2 filter {name!r} is defined twice: in {loaded[name].source} and in {path}",
                        file=str(path),
                    )
                loaded[name] = FilterInfo(name, func, str(path), _describe(func))
    for name, info in loaded.items():
        previous = _PROJECT.get(name)
        if previous is not None and previous.source == info.source:
            overrides = previous.overrides
        elif name in BUILTIN_FILTERS:
            overrides = "nornflow built-in"
        elif name in jinja2.filters.FILTERS:
            overrides = "jinja2 built-in"
        else:
            overrides = None
        if overrides is not None and (previous is None or previous.source != info.source):
            log.warning("Jinja2 filter %r from %s replaces the %s filter", name, info.source, overrides)
        info = FilterInfo(name, info.func, info.source, info.description, overrides)
        _PROJECT[name] = info
        environment.filters[name] = info.func
    return list(loaded.values())


def filter_catalog(environment: jinja2.Environment) -> list[FilterInfo]:
    """Every filter of ``environment`` (nornflow's: ``nornflow.templating.environment``), with its
    source, sorted by name."""
    out = []
    for name, func in sorted(environment.filters.items()):
        project = _PROJECT.get(name)
        if project is not None and project.func is func:
            out.append(project)
            continue
        if BUILTIN_FILTERS.get(name) is func:
            source = "nornflow (built-in)"
        elif jinja2.filters.FILTERS.get(name) is func:
            source = "jinja2 (built-in)"
        else:
            source = getattr(func, "__module__", None) or "?"
        out.append(FilterInfo(name, func, source, _describe(func)))
    return out
