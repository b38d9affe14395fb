"""Nornir's connection plugins (netmiko, napalm, scrapli, ...), registered without importing them.

nornflow builds its ``Nornir`` object itself, so it registers the connection plugins ``InitNornir``
would. Nornir's ``auto_register`` imports every installed plugin to do so (netmiko alone takes
~0.25 s), a cost paid by runs that never open a connection. Each plugin is registered here as a
:class:`LazyConnection` that imports it when the first connection of its kind opens, and then puts
the real class in its place.
"""

from __future__ import annotations

import threading
from importlib import metadata

from nornir.core.plugins.connections import ConnectionPlugin, ConnectionPluginRegister

__all__ = ["LazyConnection", "register_connection_plugins"]

_LOAD_LOCK = threading.Lock()


class LazyConnection:
    """A connection plugin's place in Nornir's register until it is first used.

    Nornir calls the registered class to make a connection (``plugin()``): this imports the plugin
    (once, under a lock: many hosts open their first connection together), replaces itself in the
    register with the real class, and returns the real class's instance. It compares equal to the
    real class, so a later ``InitNornir`` (``auto_register``) in the same process does not see a
    conflicting plugin.
    """

    __slots__ = ("_entry_point", "_plugin", "name")

    def __init__(self, name: str, entry_point: metadata.EntryPoint) -> None:
        """``entry_point`` is the plugin's ``nornir.plugins.connections`` entry point."""
        self.name = name
        self._entry_point = entry_point
        self._plugin: type[ConnectionPlugin] | None = None

    def load(self) -> type[ConnectionPlugin]:
        """The plugin's class, imported on the first call; the register holds it from then on."""
        plugin = self._plugin
        if plugin is None:
            with _LOAD_LOCK:
                plugin = self._plugin
                if plugin is None:
                    plugin = self._entry_point.load()
                    self._plugin = plugin
                    available: dict[str, object] = ConnectionPluginRegister.available  # type: ignore[assignment]
                    if available.get(self.name) is self:
                        available[self.name] = plugin
        return plugin

    def __call__(self) -> ConnectionPlugin:
        return self.load()()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyConnection):
            return self._entry_point == other._entry_point
        return other is self.load()

    def __hash__(self) -> int:
        return hash(self._entry_point)

    def __repr__(self) -> str:
        return f"<connection plugin {self.name!r} from {self._entry_point.value} (not imported yet)>"


_SCANNED: list[bool] = []


def register_connection_plugins() -> None:
    """Register every installed connection plugin that is not registered yet, lazily. The entry
    points are scanned once per process, or again when the register was emptied (tests do)."""
    available = ConnectionPluginRegister.available
    if _SCANNED and available:
        return
    _SCANNED.append(True)
    for entry_point in metadata.entry_points(group="nornir.plugins.connections"):
        if entry_point.name not in available:
            available[entry_point.name] = LazyConnection(entry_point.name, entry_point)  # type: ignore[assignment]
