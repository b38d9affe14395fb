"""Secrets out of everything the CLI prints: masking values by key name and by known secret strings."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from nornflow.cli.text import printable
from nornflow.hooks.builtins.set_to import SetToHook
from nornflow.hooks.registry import HOOK_REGISTRY
from nornflow.secrets import SecretMaskingFilter, SecretRegistry, is_secret_key, mask_data, may_name_secret

if TYPE_CHECKING:
    from nornflow.models.task import TaskModel
    from nornflow.run.api import NornFlow
    from nornflow.run.results import TaskResult

__all__ = ["Masker", "log_to_stderr"]


class Masker:
    """Masks secret values (by key name, and known secret strings) unless --show-secrets.

    The known secrets grow during a run: the inventory's, then the variables' (workflow, ``--vars``,
    defaults, environment), then those in each task's results as they are printed, and finally the
    runtime variables before the JSON is written, so a secret set at runtime is masked wherever it
    shows up later.
    """

    def __init__(self, registry: SecretRegistry, enabled: bool) -> None:
        self.registry = registry
        self.enabled = enabled

    def mask_value(self, value: Any) -> Any:
        if not self.enabled:
            return value
        value = mask_data(value)
        return _mask_strings(value, self.registry.mask_text)

    def mask_text(self, text: str) -> str:
        return self.registry.mask_text(text) if self.enabled else text

    def might_mask(self, text: str) -> bool:
        """False when masking data whose JSON text is ``text`` cannot change it (no secret-like key,
        no known secret): the run journal's fast path."""
        return self.enabled and (may_name_secret(text) or self.registry.found_in(text))

    def learn(self, data: Any) -> None:
        """Remember the values under secret-named keys anywhere in ``data``."""
        if self.enabled:
            self.registry.collect(data)

    def learn_inventory(self, inventory: Any) -> None:
        """Host, group and default passwords and secret-named data and connection extras."""
        if not self.enabled:
            return
        # Each object's own attributes (``object.__getattribute__``): Nornir's ``Host`` resolves a
        # missing password through its groups on every read, and the groups and defaults are
        # visited here anyway. One ``collect`` call walks all the data at once.
        own = object.__getattribute__
        passwords: list[Any] = []
        data: list[Any] = []
        for item in [*inventory.hosts.values(), *inventory.groups.values(), inventory.defaults]:
            passwords.append(own(item, "password"))
            data.append(own(item, "data"))
            for options in (own(item, "connection_options") or {}).values():
                passwords.append(options.password)
                data.append(options.extras or {})
        for password in passwords:
            if password:
                self.registry.add(password)
        self.registry.collect(data)

    def learn_vars(self, engine: NornFlow, workflow_vars: Any, cli_vars: Any, file: Any = None) -> None:
        """Secret-named variables of every layer: workflow, --vars, the domain's and the project's
        defaults (of the workflow ``file``), environment."""
        if self.enabled:
            from nornflow.vars import env_vars

            domain = engine.domain_vars(file)
            self.learn([workflow_vars, cli_vars, domain, engine.default_vars(), env_vars()])

    def learn_task(self, task: TaskModel, result: TaskResult, shown: bool) -> None:
        """Before a task's results are printed: all of them are secrets if ``set_to`` (or ``store_as``)
        stores them in a secret-named variable (``set_to: api_token``); the values of secret-named keys
        in them are secrets too when they are ``shown`` (small runs, ``--verbose``) or kept in variables
        (``set_to`` under any name, ``set``), where later tasks' output, errors and logs may repeat
        them, in every run size."""
        if not self.enabled:
            return
        names: list[Any] = []
        stores = task.name == "set"
        for hook, target in task.hooks.items():
            if not issubclass(HOOK_REGISTRY.get(hook, object), SetToHook):  # set_to, store_as, ...
                continue
            stores = True
            if isinstance(target, str):
                names.append(target)
            elif isinstance(target, Mapping):
                names.extend(target)
        if any(is_secret_key(name) for name in names):
            self.registry.collect({"secret": list(result.payloads)})
        if shown or stores:
            self.registry.collect([p for p in result.payloads if p is not None and not isinstance(p, _PLAIN)])


_PLAIN = (str, int, float, bool, bytes)


def _mask_strings(value: Any, mask_text: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, dict):
        return {k: _mask_strings(v, mask_text) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_mask_strings(v, mask_text) for v in value]
    return value


class _PrintableFormatter(logging.Formatter):
    """Log lines with their control characters escaped (a task may log a device's raw output)."""

    def format(self, record: logging.LogRecord) -> str:
        """The formatted record, safe for a terminal (newlines of tracebacks kept)."""
        return printable(super().format(record), multiline=True)


@contextlib.contextmanager
def log_to_stderr(debug: bool, masker: Masker) -> Iterator[None]:
    """Send log records to stderr (warnings and errors; everything with ``--debug``), secrets masked.

    Without a handler, Python's last-resort handler would print a task's warnings unmasked (and
    with their control characters raw).
    """
    threshold = logging.DEBUG if debug else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(threshold)  # also for records of loggers that set a lower level themselves
    handler.setFormatter(_PrintableFormatter("%(levelname)s %(name)s: %(message)s"))
    if masker.enabled:
        handler.addFilter(SecretMaskingFilter(masker.registry))
    root = logging.getLogger()
    level = root.level
    root.setLevel(threshold)
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
