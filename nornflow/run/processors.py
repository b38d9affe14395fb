"""Nornir processors in a run: loading ``{class, args}`` specs, and keeping a broken one from ending it.

A processor gets Nornir's calls for every task and host, in the order Nornir documents
(``task_started``; per host ``task_instance_started``, ``subtask_instance_*`` for its subtasks,
``task_instance_completed``; then ``task_completed``). Processors observe: one that raises is
reported once per method and skipped, and never changes a host's result or ends the run.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any

from nornir.core.processor import Processors

from nornflow.exceptions import SettingsError
from nornflow.settings import ProcessorSpec

__all__ = ["PROCESSOR_METHODS", "GuardedProcessors", "load_processor_class", "make_processors"]

log = logging.getLogger(__name__)

#: Nornir's Processor protocol: a processor implements all of them.
PROCESSOR_METHODS = (
    "task_started",
    "task_completed",
    "task_instance_started",
    "task_instance_completed",
    "subtask_instance_started",
    "subtask_instance_completed",
)


def load_processor_class(spec: ProcessorSpec, *, file: str | None = None, key: str = "processors") -> type:
    """Import the class a spec names; an error names the file and key when it cannot be a processor."""
    module_name, _, name = spec.class_.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise SettingsError(
            f"cannot import processor module {module_name!r}: {type(exc).__name__}: {exc}", file=file, key=key
        ) from None
    cls = getattr(module, name, None)
    if not isinstance(cls, type):
        raise SettingsError(f"{spec.class_!r} is not a class", file=file, key=key)
    missing = [m for m in PROCESSOR_METHODS if not callable(getattr(cls, m, None))]
    if missing:
        raise SettingsError(
            f"{spec.class_} is not a Nornir processor: it lacks {', '.join(missing)}", file=file, key=key
        )
    return cls


def make_processors(
    specs: Sequence[tuple[type, dict[str, Any], str]], objects: Sequence[Any] = ()
) -> list[Any]:
    """Instantiate ``(class, args, label)`` specs (one fresh instance per run) after ``objects``."""
    made = list(objects)
    for cls, args, label in specs:
        try:
            made.append(cls(**args))
        except Exception as exc:
            raise SettingsError(f"cannot create processor {label}: {type(exc).__name__}: {exc}") from None
    return made


class GuardedProcessors(Processors):
    """Nornir's ``Processors`` list, with every call guarded: a processor that raises is reported
    once per method (``notice``) and logged, and the run and the host's result go on unchanged."""

    def __init__(self, processors: Sequence[Any], notice: Callable[[str], None] | None = None) -> None:
        super().__init__(processors)
        self._notice = notice
        self._reported: set[tuple[int, str]] = set()
        self._lock = threading.Lock()

    def _call(self, method: str, *args: Any) -> None:
        for processor in self:
            try:
                getattr(processor, method)(*args)
            except Exception as exc:
                self._report(processor, method, exc)

    def _report(self, processor: Any, method: str, exc: Exception) -> None:
        key = (id(processor), method)
        with self._lock:
            if key in self._reported:
                return
            self._reported.add(key)
        message = (
            f"processor {type(processor).__name__}.{method} raised {type(exc).__name__}: {exc} (ignored)"
        )
        log.warning(message, exc_info=exc)
        if self._notice is not None:
            self._notice(message)

    def task_started(self, task: Any) -> None:
        """Nornir: a task starts (before any host)."""
        self._call("task_started", task)

    def task_completed(self, task: Any, result: Any) -> None:
        """Nornir: a task finished on every host (``result`` is its ``AggregatedResult``)."""
        self._call("task_completed", task, result)

    def task_instance_started(self, task: Any, host: Any) -> None:
        """Nornir: a task starts on ``host``."""
        self._call("task_instance_started", task, host)

    def task_instance_completed(self, task: Any, host: Any, result: Any) -> None:
        """Nornir: a task finished on ``host`` (``result`` is its ``MultiResult``)."""
        self._call("task_instance_completed", task, host, result)

    def subtask_instance_started(self, task: Any, host: Any) -> None:
        """Nornir: a subtask (``task.run``) starts on ``host``."""
        self._call("subtask_instance_started", task, host)

    def subtask_instance_completed(self, task: Any, host: Any, result: Any) -> None:
        """Nornir: a subtask finished on ``host``."""
        self._call("subtask_instance_completed", task, host, result)
