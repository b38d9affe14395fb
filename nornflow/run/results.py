"""Structured results of a workflow run: per task, per host status, result, error and duration.

Results are stored column-wise per task (a status byte, a payload slot and a duration per host, errors
only for hosts that failed), so keeping every result of 100,000 hosts x 10 tasks costs a few bytes per
host-task instead of an object each. :class:`HostTaskResult` is the per-host view built on demand.
"""

from __future__ import annotations

import json
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from nornflow._hotpath import CHANGED, FAILED, NOT_RUN, OK, SKIPPED
from nornflow.plain import plain

__all__ = [
    "CHANGED",
    "FAILED",
    "NOT_RUN",
    "OK",
    "SIGNAL_EXIT_CODES",
    "SKIPPED",
    "STATUS_NAMES",
    "HostTaskResult",
    "TaskResult",
    "WorkflowResult",
]

#: Exit codes of a run a signal interrupted: 128 + the signal's number, as shells report it.
SIGNAL_EXIT_CODES = {"SIGINT": 130, "SIGTERM": 143, "SIGHUP": 129}

#: Status names by code. ``not_run``: the host never started the task (the run was interrupted or
#: stopped by fail-fast first); ``skipped``: a hook or the failure strategy decided not to run it.
STATUS_NAMES = ("not_run", "ok", "changed", "failed", "skipped")


@dataclass(slots=True)
class ErrorInfo:
    """Why a host failed a task: the error type and message, and the hook or variable involved."""

    type: str
    message: str
    hook: str | None = None
    traceback: str | None = None
    ignored: bool = False
    #: the host's block failed here and its rescue succeeded: the failure does not count
    rescued: bool = False

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        data: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.hook:
            data["hook"] = self.hook
        if self.ignored:
            data["ignored"] = True
        if self.rescued:
            data["rescued"] = True
        return data


@dataclass(slots=True)
class HostTaskResult:
    """One host's outcome of one task."""

    host: str
    task: str
    status: str
    result: Any = None
    changed: bool = False
    failed: bool = False
    ignored: bool = False
    error: ErrorInfo | None = None
    duration: float = 0.0
    diff: str = ""
    skip_reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def exception(self) -> str | None:
        """``"Type: message"`` of the failure, or None."""
        return None if self.error is None else f"{self.error.type}: {self.error.message}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form: plain data whatever the task returned (:func:`nornflow.plain.plain`)."""
        data: dict[str, Any] = {
            "status": self.status,
            "changed": self.changed,
            "failed": self.failed,
            "result": plain(self.result),
            "duration": round(self.duration, 6),
        }
        if self.ignored:
            data["ignored"] = True
        if self.error is not None:
            data["error"] = self.error.to_dict()
            data["exception"] = self.exception
        if self.diff:
            data["diff"] = self.diff
        if self.skip_reason:
            data["skip_reason"] = self.skip_reason
        if self.extra:
            data.update(plain(self.extra))
        return data


class TaskResult:
    """Every host's outcome of one task, stored column-wise; index by host name for a view."""

    __slots__ = (
        "codes",
        "controls",
        "diffs",
        "duration",
        "durations",
        "errors",
        "extras",
        "hosts",
        "index",
        "name",
        "payloads",
        "print_output",
        "skip_reasons",
        "task_index",
    )

    def __init__(
        self, name: str, task_index: int, hosts: Sequence[str], index: dict[str, int] | None = None
    ) -> None:
        n = len(hosts)
        self.name = name
        self.task_index = task_index
        self.hosts = hosts
        #: host name -> position; one dict shared by every task of a run (it is never mutated)
        self.index: dict[str, int] = index if index is not None else {h: i for i, h in enumerate(hosts)}
        self.codes = bytearray(n)
        self.payloads: list[Any] = [None] * n
        self.durations = array("d", bytes(8 * n))
        self.errors: dict[int, ErrorInfo] = {}
        self.diffs: dict[int, str] = {}
        self.skip_reasons: dict[int, str] = {}
        self.extras: dict[int, dict[str, Any]] = {}
        self.duration = 0.0
        self.print_output = True
        #: the task's change controls (throttle, tags, check_mode), when it has any
        self.controls: dict[str, Any] | None = None

    def __getitem__(self, host: str) -> HostTaskResult:
        return self.host_result(self.index[host])

    def pending(self) -> int:
        """How many hosts have no outcome yet (while the task runs: those still to finish)."""
        return self.codes.count(NOT_RUN)

    def __iter__(self) -> Iterator[HostTaskResult]:
        return (self.host_result(i) for i in range(len(self.hosts)))

    def __len__(self) -> int:
        return len(self.hosts)

    def host_result(self, i: int) -> HostTaskResult:
        """The view of host number ``i``."""
        code = self.codes[i]
        error = self.errors.get(i)
        ignored = error is not None and error.ignored
        failed = code == FAILED or ignored
        return HostTaskResult(
            host=self.hosts[i],
            task=self.name,
            status="failed" if ignored else STATUS_NAMES[code],
            result=self.payloads[i],
            changed=code == CHANGED,
            failed=failed,
            ignored=ignored,
            error=error,
            duration=self.durations[i],
            diff=self.diffs.get(i, ""),
            skip_reason=self.skip_reasons.get(i) or ("not run" if code == NOT_RUN else None),
            extra=self.extras.get(i, {}),
        )

    def counts(self) -> dict[str, int]:
        """Hosts per status: ``ran`` = ``ok`` + ``changed`` + ``failed`` (the hosts that started the
        task), ``skipped`` (a hook or the failure strategy left them out) and ``not_run`` (never
        started: the run stopped first) complete the total. ``failed`` counts ignored failures too;
        ``ignored`` counts them apart."""
        c = self.codes
        ignored = sum(1 for e in self.errors.values() if e.ignored)
        ok, changed, failed = c.count(OK) - ignored, c.count(CHANGED), c.count(FAILED) + ignored
        return {
            "ok": ok,
            "changed": changed,
            "failed": failed,
            "skipped": c.count(SKIPPED),
            "ignored": ignored,
            "not_run": c.count(NOT_RUN),
            "ran": ok + changed + failed,
        }

    @property
    def failed_hosts(self) -> list[str]:
        """Hosts that failed this task and whose failure counts (ignored failures excluded)."""
        return [self.hosts[i] for i, code in enumerate(self.codes) if code == FAILED]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form."""
        data = {
            "name": self.name,
            "index": self.task_index,
            "duration": round(self.duration, 6),
            "counts": self.counts(),
            "hosts": {r.host: r.to_dict() for r in self},
        }
        if self.controls:
            data["controls"] = self.controls
        return data


@dataclass
class WorkflowResult:
    """The outcome of a workflow run."""

    workflow: str
    hosts: list[str]
    tasks: list[TaskResult] = field(default_factory=list)
    duration: float = 0.0
    interrupted: bool = False
    #: the signal that interrupted the run (SIGINT, SIGTERM, SIGHUP), when one did
    signal: str | None = None
    #: the run was aborted (a second signal) before its hosts in flight finished: what is here is
    #: what was known then
    incomplete: bool = False
    stopped: str | None = None
    dry_run: bool = False
    failure_strategy: str = "skip-failed"
    variables: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: with ``serial``: the hosts of each batch, in the order they ran
    batches: list[list[str]] | None = None
    #: hosts whose block failed and whose rescue succeeded (not failed for the workflow)
    rescued_hosts: list[str] = field(default_factory=list)
    #: with --tags/--skip-tags/--start-at-task: what selected the tasks
    selection: dict[str, Any] | None = None
    #: the id of the run's journal (``.nornflow/runs/<run_id>``), when it was journaled
    run_id: str | None = None
    #: the run walked blocks or batches (``nornflow.run.flow``): outcomes were edited after the
    #: hosts reported them (rescues, skips of hosts left out); not part of the document
    walked: bool = False

    @property
    def failed(self) -> bool:
        """Whether any host failed any task (ignored failures do not count)."""
        return any(FAILED in t.codes for t in self.tasks)

    @property
    def exit_code(self) -> int:
        """0 all hosts ok, 1 some host failed; interrupted: 128 + the signal (130 SIGINT, 143 SIGTERM,
        129 SIGHUP), as shells report a process a signal ended."""
        if self.interrupted:
            return SIGNAL_EXIT_CODES.get(self.signal or "SIGINT", 130)
        return 1 if self.failed else 0

    @property
    def failed_hosts(self) -> list[str]:
        """Hosts that failed at least one task, in inventory order."""
        bad = set()
        for task in self.tasks:
            bad.update(task.failed_hosts)
        return [h for h in self.hosts if h in bad]

    def _host_masks(self) -> tuple[int, int, int]:
        """Three bitmaps of the hosts, one byte per host (1: yes): failed some task, did not start
        some task, started no task at all. Column-wise, so 100,000 hosts x 10 tasks cost milliseconds."""
        n = len(self.hosts)
        failed_any = not_run_any = 0
        not_run_all = int.from_bytes(b"\x01" * n, "little") if self.tasks else 0
        for task in self.tasks:
            failed = int.from_bytes(task.codes.translate(_IS_FAILED), "little")
            not_run = int.from_bytes(task.codes.translate(_IS_NOT_RUN), "little")
            failed_any |= failed
            not_run_any |= not_run
            not_run_all &= not_run
        return failed_any, not_run_any, not_run_all

    def host_counts(self) -> dict[str, int]:
        """Hosts of the run by what happened to them, adding up to ``total``: ``failed`` (a counted
        failure in some task), ``not_run`` (started no task: the run stopped before), ``unfinished``
        (ran some tasks without failing, then the run stopped before the others) and ``ok`` (every
        task ran or was skipped, none failed); ``ran`` = ``total`` - ``not_run``."""
        failed_any, not_run_any, not_run_all = self._host_masks()
        total = len(self.hosts)
        failed = failed_any.bit_count()
        not_run = not_run_all.bit_count()
        unfinished = (not_run_any & ~failed_any & ~not_run_all).bit_count()
        return {
            "total": total,
            "ran": total - not_run,
            "ok": total - failed - not_run - unfinished,
            "failed": failed,
            "unfinished": unfinished,
            "not_run": not_run,
        }

    @property
    def not_run_hosts(self) -> list[str]:
        """Hosts that started no task (the run was interrupted or stopped before them)."""
        _, _, not_run_all = self._host_masks()
        flags = not_run_all.to_bytes(len(self.hosts), "little") if self.hosts else b""
        return [h for h, flag in zip(self.hosts, flags, strict=True) if flag]

    def task(self, name: str) -> TaskResult:
        """The first task result called ``name``."""
        for task in self.tasks:
            if task.name == name:
                return task
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form, what ``nornflow run --json`` prints."""
        return {
            "workflow": self.workflow,
            "status": "interrupted" if self.interrupted else ("failed" if self.failed else "ok"),
            "exit_code": self.exit_code,
            "duration": round(self.duration, 6),
            "dry_run": self.dry_run,
            "failure_strategy": self.failure_strategy,
            "stopped": self.stopped,
            "interrupted": self.interrupted,
            "signal": self.signal,
            "incomplete": self.incomplete,
            "hosts": self.hosts,
            "failed_hosts": self.failed_hosts,
            "not_run_hosts": self.not_run_hosts,
            "host_counts": self.host_counts(),
            "tasks": [t.to_dict() for t in self.tasks],
            "variables": plain(self.variables),
            **plain(self.control_dict()),
        }

    def control_dict(self) -> dict[str, Any]:
        """The keys of the change controls, present only when a control was used."""
        data: dict[str, Any] = {}
        if self.batches is not None:
            data["batches"] = self.batches
        if self.rescued_hosts:
            data["rescued_hosts"] = self.rescued_hosts
        if self.selection is not None:
            data["selection"] = self.selection
        return data

    def to_json(self, *, indent: int | None = 2) -> str:
        """The JSON document of :meth:`to_dict`: valid JSON whatever the results hold (what JSON
        cannot hold became marked strings)."""
        return json.dumps(self.to_dict(), indent=indent, allow_nan=False)


_IS_FAILED = bytes(1 if code == FAILED else 0 for code in range(256))
_IS_NOT_RUN = bytes(1 if code == NOT_RUN else 0 for code in range(256))
