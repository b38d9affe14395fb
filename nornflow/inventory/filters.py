"""Inventory filters for workflows (``inventory_filters:``), the CLI (``--filter``) and the ``if`` hook.

Named filters: ``hosts`` (names), ``groups`` (member of any), ``platform`` (one or several), ``data``
(a mapping of data keys to values, with group inheritance), ``name_pattern`` (a glob). Any other key
is compared with the host attribute or inventory data of that name; a key no host has is an error.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping
from typing import Any

from nornir.core.inventory import Host, Inventory

from nornflow.exceptions import FilterError

__all__ = ["FILTERS", "apply_filters", "host_matches", "validate_filters"]


def _names(value: Any, key: str) -> frozenset[str]:
    if isinstance(value, str):
        return frozenset(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, (list, tuple, set, frozenset)) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise FilterError(f"filter {key!r} takes a name or a list of names, got {value!r}", key=key)


def _hosts(host: Host, value: Any) -> bool:
    return host.name in _names(value, "hosts")


def _groups(host: Host, value: Any) -> bool:
    wanted = _names(value, "groups")
    return any(g.name in wanted for g in _all_groups(host))


def _all_groups(host: Any) -> list[Any]:
    seen: list[Any] = []
    stack = list(host.groups)
    while stack:
        g = stack.pop(0)
        if g not in seen:
            seen.append(g)
            stack.extend(g.groups)
    return seen


def _platform(host: Host, value: Any) -> bool:
    return host.platform in _names(value, "platform")


def _data(host: Host, value: Any) -> bool:
    if not isinstance(value, Mapping):
        raise FilterError(f"filter 'data' takes a mapping of data keys to values, got {value!r}", key="data")
    for key, expected in value.items():
        try:
            actual = host[key]
        except KeyError:
            return False
        if actual != expected:
            return False
    return True


def _name_pattern(host: Host, value: Any) -> bool:
    if not isinstance(value, str):
        raise FilterError(
            f"filter 'name_pattern' takes a glob such as 'r*', got {value!r}", key="name_pattern"
        )
    return fnmatch.fnmatchcase(host.name, value)


#: The named filters: name -> predicate(host, argument).
FILTERS: dict[str, Callable[[Host, Any], bool]] = {
    "hosts": _hosts,
    "groups": _groups,
    "platform": _platform,
    "data": _data,
    "name_pattern": _name_pattern,
}

_ATTRS = ("hostname", "port", "username", "platform")


def _attribute(host: Host, key: str, value: Any) -> bool:
    if key in _ATTRS:
        actual = getattr(host, key)
    else:
        try:
            actual = host[key]
        except KeyError:
            return False
    if isinstance(value, (list, tuple)):
        return actual in value
    return actual == value


def validate_filters(filters: Mapping[str, Any]) -> None:
    """Check the shape of every named filter's argument (without an inventory)."""
    if not isinstance(filters, Mapping):
        raise FilterError(f"inventory filters must be a mapping, got {type(filters).__name__}")
    for key, value in filters.items():
        if key in ("hosts", "groups", "platform"):
            _names(value, key)
        elif key == "data" and not isinstance(value, Mapping):
            raise FilterError("filter 'data' takes a mapping of data keys to values", key="data")
        elif key == "name_pattern" and not isinstance(value, str):
            raise FilterError("filter 'name_pattern' takes a glob such as 'r*'", key="name_pattern")


def _known_keys(inventory: Inventory) -> set[str]:
    keys: set[str] = set(_ATTRS)
    for host in inventory.hosts.values():
        keys.update(host.keys())
        if len(keys) > 10_000:
            break
    return keys


def host_matches(host: Host, filters: Mapping[str, Any]) -> bool:
    """Whether ``host`` passes every filter (named filters, or attribute/data equality)."""
    for key, value in filters.items():
        named = FILTERS.get(key)
        if named is not None:
            if not named(host, value):
                return False
        elif not _attribute(host, key, value):
            return False
    return True


def apply_filters(inventory: Inventory, filters: Mapping[str, Any]) -> Inventory:
    """A new inventory holding the hosts that pass ``filters``; unknown filter keys are errors."""
    validate_filters(filters)
    unknown = [k for k in filters if k not in FILTERS]
    if unknown:
        known = _known_keys(inventory)
        for key in unknown:
            if key not in known:
                raise FilterError(
                    f"unknown filter {key!r}: not a named filter ({', '.join(FILTERS)}) and no host "
                    f"has an attribute or data key of that name",
                    key=key,
                )
    hosts = type(inventory.hosts)(
        (name, host) for name, host in inventory.hosts.items() if host_matches(host, filters)
    )
    return Inventory(
        hosts=hosts,
        groups=inventory.groups,
        defaults=inventory.defaults,
        transform_function=None,
    )
