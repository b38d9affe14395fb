"""Resuming a run from its journal, and reading journals back (``nornflow runs``, ``@run:ID:failed``).

:func:`run_header` describes a run as the journal's header records it (the workflow as resolved, its
inputs, the inventory files' digests); :func:`load_run` reads a journal back into a
:class:`JournaledRun` (every host-task outcome it holds, the host-tasks in flight when it stopped);
:meth:`JournaledRun.changes` names what differs from a new header, so ``--resume`` refuses a run
whose workflow, inputs or inventory changed. During a resumed run the driver asks a
:class:`ResumeState` which hosts still have to run each task and gets their journaled columns and
variables.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nornflow._hotpath import CHANGED, FAILED, NOT_RUN, OK, SKIPPED
from nornflow.freeze import thaw
from nornflow.hooks.builtins.run_once import RunOnceHook
from nornflow.hooks.builtins.set_to import SetToHook
from nornflow.hooks.registry import HOOK_REGISTRY
from nornflow.run.journal import (
    FORMAT,
    RUNS_DIR,
    STARTED,
    JournalError,
    JournalMasking,
    RunJournal,
    digest,
    durations_of,
    error_from_dict,
    file_digest,
    names_digest,
    new_run_id,
    positions_of,
    prune_runs,
    read_records,
    run_dirs,
)
from nornflow.run.prepare import PreparedWorkflow
from nornflow.run.results import TaskResult, WorkflowResult
from nornflow.settings import Settings
from nornflow.workflow import tasks as builtin_tasks

__all__ = [
    "JournaledRun",
    "ResumeState",
    "discard_unstarted",
    "find_run",
    "load_run",
    "run_header",
    "run_once_hook",
    "start_journal",
    "task_var_names",
]


# -- what a run is ------------------------------------------------------------------------------------


def resolved_workflow(prepared: PreparedWorkflow, base: Path | None = None) -> dict[str, Any]:
    """The workflow as it runs (blueprints expanded, hook values as frozen), as plain data; its file
    relative to the project directory ``base`` (a project moved elsewhere is the same project)."""
    wf = prepared.model
    file = prepared.file
    if file is not None and base is not None:
        with contextlib.suppress(ValueError, OSError):
            file = Path(file).resolve().relative_to(base.resolve()).as_posix()
    return {
        "name": wf.name,
        "file": file,
        "vars": thaw(wf.vars),
        "inventory_filters": thaw(wf.inventory_filters),
        "failure_strategy": wf.failure_strategy.value if wf.failure_strategy else None,
        "dry_run": wf.dry_run,
        "tasks": [
            {"name": t.model.name, "args": thaw(t.model.args), "hooks": thaw(dict(t.model.hooks))}
            for t in prepared.tasks
        ],
    }


def inventory_files(settings: Settings) -> list[Path]:
    """The files the project's inventory is read from (what a resume checks for changes)."""
    s = settings
    if s.nornir_config_file:
        config = s.resolve(s.nornir_config_file)
        files = [config]
        try:
            from nornflow.yamlio import load_yaml_file

            data = load_yaml_file(config)
        except Exception:
            return files
        options = (data.get("inventory") or {}).get("options") or {} if isinstance(data, Mapping) else {}
        for key in ("host_file", "group_file", "defaults_file"):
            if isinstance(options.get(key), str):
                path = Path(options[key]).expanduser()
                files.append(path if path.is_absolute() else config.parent / path)
        return files
    inv = s.inventory
    if inv is None:
        base = s.resolve("inventory")
        return [base / "hosts.yaml", base / "groups.yaml", base / "defaults.yaml"]
    if inv.host_file is None:
        return [Path(s.source)] if s.source else []
    return [s.resolve(f) for f in (inv.host_file, inv.group_file, inv.defaults_file) if f]


def run_header(
    run_id: str,
    prepared: PreparedWorkflow,
    *,
    settings: Settings,
    hosts: Sequence[str],
    cli_vars: Mapping[str, Any] | None,
    filters: Mapping[str, Any] | None,
    strategy: str,
    dry_run: bool,
    workers: int,
) -> dict[str, Any]:
    """The journal's header: the resolved workflow and the run's inputs, with the digests a resume
    compares (of the real values: the header itself is masked like ``--json``)."""
    from nornflow._version import __version__

    inventory: dict[str, str | None] = {}

    def hash_inventory() -> None:  # hashlib lets go of the GIL: the files hash beside the rest
        for path in inventory_files(settings):
            try:
                shown = path.resolve().relative_to(settings.base_dir.resolve()).as_posix()
            except (ValueError, OSError):
                shown = str(path)
            inventory[shown] = file_digest(path)

    hashing = threading.Thread(target=hash_inventory, name="nornflow-journal-digests")
    hashing.start()
    try:
        resolved = resolved_workflow(prepared, settings.base_dir)
        hosts_digest = names_digest(hosts)
    finally:
        hashing.join()
    cli = dict(cli_vars or {})
    return {
        "k": "header",
        "format": FORMAT,
        "nornflow": __version__,
        "run_id": run_id,
        "started": time.time(),
        "workflow": resolved,
        "digests": {
            "workflow": {k: digest(v) for k, v in resolved.items() if k != "tasks"},
            "tasks": [digest(t) for t in resolved["tasks"]],
            "vars": {k: digest(v) for k, v in cli.items()},
            "filters": digest(filters or {}),
            "hosts": hosts_digest,
        },
        "inputs": {
            "vars": cli,
            "filters": dict(filters or {}),
            "failure_strategy": strategy,
            "dry_run": dry_run,
            "workers": workers,
            "inventory": inventory,
        },
        "hosts": list(hosts),
    }


def task_var_names(prepared: PreparedWorkflow) -> list[tuple[str, ...] | None]:
    """Per task, the runtime variables it may set (``set`` args, ``set_to`` names); None when it may
    set any (its function takes ``nornflow_vars``, or a project hook may)."""
    out: list[tuple[str, ...] | None] = []
    for task in prepared.tasks:
        names: list[str] = []
        unknown = task.info.accepts_vars and task.info.func is not builtin_tasks.set
        if task.info.func is builtin_tasks.set:
            names += [k for k in task.model.args if isinstance(k, str)]
        for name, value in task.model.hooks.items():
            cls = HOOK_REGISTRY.get(name)
            if cls is None or not cls.__module__.startswith("nornflow."):
                unknown = True
            elif issubclass(cls, SetToHook):
                names += [value] if isinstance(value, str) else [k for k in value if isinstance(k, str)]
        out.append(None if unknown else tuple(dict.fromkeys(names)))
    return out


# -- reading a journal back ---------------------------------------------------------------------------


@dataclass
class JournaledTask:
    """One task's outcomes as journaled, column-wise like a :class:`TaskResult`."""

    name: str
    codes: bytearray
    payloads: dict[int, Any] = field(default_factory=dict)
    errors: dict[int, Any] = field(default_factory=dict)
    diffs: dict[int, str] = field(default_factory=dict)
    extras: dict[int, dict[str, Any]] = field(default_factory=dict)
    skips: dict[int, str] = field(default_factory=dict)
    durations: dict[int, float] = field(default_factory=dict)
    variables: dict[int, Any] = field(default_factory=dict)
    ended: bool = False
    duration: float = 0.0
    #: the task's change controls (throttle, ...), as its result showed them
    controls: dict[str, Any] = field(default_factory=dict)


@dataclass
class JournaledRun:
    """A run's journal, read back: its header, every outcome, how it ended, what was in flight."""

    directory: Path
    header: dict[str, Any]
    tasks: dict[int, JournaledTask]
    end: dict[str, Any] | None
    resumes: list[dict[str, Any]]
    #: (task index, host position, "running" | "finished, not journaled") at the last stop
    in_flight: list[tuple[int, int, str]]
    #: byte offset of a torn or corrupt tail (ignored from there), or None
    torn_at: int | None

    @property
    def run_id(self) -> str:
        """The run's id (its directory's name)."""
        return self.directory.name

    @property
    def hosts(self) -> list[str]:
        """The run's hosts, in inventory order."""
        return list(self.header.get("hosts") or [])

    @property
    def finished(self) -> bool:
        """Whether the run ended on its own (not killed, not interrupted)."""
        return self.end is not None and not self.end.get("interrupted")

    def status(self) -> str:
        """``ok``, ``failed``, ``interrupted`` (a signal stopped it), or ``died`` (killed: no end)."""
        if self.end is None:
            return "died"
        return str(self.end.get("status", "?"))

    def changes(self, current: Mapping[str, Any]) -> list[str]:
        """What differs between this run's header and ``current`` (a new run's), in words."""
        old, new = self.header, current
        out: list[str] = []
        od, nd = old.get("digests", {}), new.get("digests", {})
        if old["workflow"].get("name") != new["workflow"].get("name"):
            was, now = old["workflow"].get("name"), new["workflow"].get("name")
            out.append(f"the workflow is {now!r}, the run's was {was!r}")
        else:
            ow, nw = od.get("workflow", {}), nd.get("workflow", {})
            for key in sorted(k for k in set(ow) | set(nw) if ow.get(k) != nw.get(k)):
                out.append(f"the workflow's {key} changed")
        ot, nt = od.get("tasks", []), nd.get("tasks", [])
        names = [t["name"] for t in new["workflow"]["tasks"]]
        if len(ot) != len(nt):
            out.append(f"the workflow has {len(nt)} task(s), the run had {len(ot)}")
        for i, (a, b) in enumerate(zip(ot, nt, strict=False)):
            if a != b:
                out.append(f"task {i + 1} ({names[i]!r}) changed")
        ov, nv = od.get("vars", {}), nd.get("vars", {})
        changed = sorted(k for k in set(ov) | set(nv) if ov.get(k) != nv.get(k))
        if changed:
            out.append(f"--vars changed: {', '.join(changed)}")
        if od.get("filters") != nd.get("filters"):
            out.append("--filter/--limit changed")
        oi, ni = old["inputs"], new["inputs"]
        for key, label in (("failure_strategy", "the failure strategy"), ("dry_run", "dry run")):
            if oi.get(key) != ni.get(key):
                out.append(f"{label} is {ni.get(key)!r}, the run's was {oi.get(key)!r}")
        oinv, ninv = oi.get("inventory", {}), ni.get("inventory", {})
        for path in sorted(set(oinv) | set(ninv)):
            if oinv.get(path) != ninv.get(path):
                out.append(f"inventory file {path} changed")
        if od.get("hosts") != nd.get("hosts"):
            out.append(
                f"the selected hosts changed ({len(old.get('hosts', []))} -> {len(new.get('hosts', []))})"
            )
        return out

    def result(self) -> WorkflowResult:
        """The run's :class:`WorkflowResult` as journaled (what ``--json`` printed, or would have)."""
        hosts = self.hosts
        index = {h: i for i, h in enumerate(hosts)}
        inputs = self.header.get("inputs", {})
        wf = WorkflowResult(
            workflow=self.header["workflow"]["name"],
            hosts=hosts,
            dry_run=bool(inputs.get("dry_run")),
            failure_strategy=str(inputs.get("failure_strategy", "skip-failed")),
        )
        variables: dict[str, dict[str, Any]] = {}
        for t in sorted(self.tasks):
            jt = self.tasks[t]
            tr = TaskResult(jt.name, t, hosts, index)
            fill(jt, tr)
            tr.duration = jt.duration
            tr.controls = jt.controls or None
            for i in range(len(hosts)):
                if tr.codes[i] == NOT_RUN:
                    tr.skip_reasons.setdefault(i, "run interrupted" if self.end else "run died")
            wf.tasks.append(tr)
            for i, values in sorted(jt.variables.items()):
                if values:
                    apply_vars(variables.setdefault(hosts[i], {}), values, self.names_known(t))
        wf.variables = {h: variables[h] for h in hosts if variables.get(h)}
        end = self.end or {}
        wf.duration = float(end.get("duration") or 0.0)
        wf.interrupted = bool(end.get("interrupted")) if self.end else True
        wf.signal = end.get("signal") if self.end else "SIGKILL"
        wf.stopped = end.get("stopped")
        wf.incomplete = bool(end.get("incomplete")) if self.end else True
        controls = end.get("controls") or {}
        wf.batches = controls.get("batches")
        wf.rescued_hosts = list(controls.get("rescued_hosts") or [])
        wf.selection = controls.get("selection")
        return wf

    def names_known(self, t: int) -> bool:
        """Whether task ``t``'s records hold only the variables it set (else each host's whole set)."""
        names = self.header.get("var_names") or []
        return t >= len(names) or names[t] is not None

    def failed_hosts(self) -> list[str]:
        """Hosts that failed some task (ignored failures excluded), in inventory order."""
        bad: set[int] = set()
        for jt in self.tasks.values():
            bad.update(i for i, c in enumerate(jt.codes) if c == FAILED)
        return [h for i, h in enumerate(self.hosts) if i in bad]


def fill(jt: JournaledTask, tr: TaskResult) -> bytearray:
    """Copy a journaled task's outcomes into ``tr``'s columns; returns the positions filled (1)."""
    done = bytearray(len(tr.hosts))
    for i, code in enumerate(jt.codes):
        if code != NOT_RUN:
            done[i] = 1
            tr.codes[i] = code
    for i, value in jt.payloads.items():
        tr.payloads[i] = value
    for i, d in jt.durations.items():
        tr.durations[i] = d
    for i, e in jt.errors.items():
        tr.errors[i] = error_from_dict(e)
    tr.diffs.update(jt.diffs)
    tr.extras.update(jt.extras)
    tr.skip_reasons.update(jt.skips)
    return done


def apply_vars(target: dict[str, Any], values: Mapping[str, Any], names_known: bool) -> None:
    """A record's variables onto a host's: the ones it set, or (``names_known`` false) all of them."""
    if not names_known:
        target.clear()
    target.update(values)


def load_run(directory: Path) -> JournaledRun:
    """Read the journal of ``directory``; a journal of another format is a :class:`JournalError`."""
    log = directory / "journal.log"
    if not log.is_file():
        raise JournalError("no journal in this run directory", file=str(directory))
    records, torn = read_records(log)
    if not records or records[0].get("k") != "header":
        raise JournalError("the journal has no readable header", file=str(log))
    header = records[0]
    if header.get("format") != FORMAT:
        raise JournalError(
            f"the journal is of format {header.get('format')!r} (nornflow {header.get('nornflow', '?')}); "
            f"this nornflow reads format {FORMAT} only",
            file=str(log),
        )
    hosts = header.get("hosts") or []
    n = len(hosts)
    tasks: dict[int, JournaledTask] = {}
    end = None
    resumes: list[dict[str, Any]] = []
    for rec in records[1:]:
        kind = rec.get("k")
        try:
            if kind == "task":
                t = int(rec["t"])
                started = tasks.setdefault(t, JournaledTask(str(rec.get("name", "")), bytearray(n)))
                started.controls = dict(rec.get("controls") or {})
                end = None
            elif kind == "hosts":
                _apply_hosts(tasks, rec, n)
            elif kind == "task_end":
                jt = tasks.get(int(rec["t"]))
                if jt is not None:
                    jt.ended, jt.duration = True, float(rec.get("duration") or 0.0)
            elif kind == "resume":
                resumes.append(rec)
                end = None
            elif kind == "end":
                end = rec
        except (KeyError, TypeError, ValueError, IndexError):
            torn = torn if torn is not None else -1
            break
    in_flight = _in_flight(directory / "state.map", tasks, n)
    return JournaledRun(directory, header, tasks, end, resumes, in_flight, torn)


def _apply_hosts(tasks: dict[int, JournaledTask], rec: Mapping[str, Any], n: int) -> None:
    jt = tasks[int(rec["t"])]
    positions = positions_of(rec)
    codes = base64.b64decode(rec["c"])
    payloads = rec["p"] if "p" in rec else [None] * len(positions)
    durations = durations_of(rec["u"]) if "u" in rec else None
    values = rec.get("v")
    columns = rec.get("vc")
    if "vr" in rec:  # variables whose values are the hosts' results
        columns = {**(columns or {}), **dict.fromkeys(rec["vr"], payloads)}
    if columns is not None:
        gaps = rec.get("vm") or {}
        holes = {n: set(gaps.get(n, ())) for n in columns}
        if any(len(c) != len(positions) for c in columns.values()):
            raise ValueError("variable columns of another length")
    if len(codes) != len(positions) or len(payloads) != len(positions):
        raise ValueError("columns of different lengths")
    errors, diffs, extras, skips = (rec.get(k) or {} for k in ("e", "d", "x", "s"))
    for k, i in enumerate(positions):
        if not 0 <= i < n:
            raise IndexError(i)
        jt.codes[i] = codes[k]
        jt.payloads[i] = payloads[k]
        if durations is not None:
            jt.durations[i] = durations[k]
        key = str(i)
        for column, src in ((jt.errors, errors), (jt.diffs, diffs), (jt.extras, extras), (jt.skips, skips)):
            if key in src:
                column[i] = src[key]
            else:
                column.pop(i, None)
        if values is not None:
            jt.variables[i] = values[k]
        elif columns is not None:
            jt.variables[i] = {n: c[k] for n, c in columns.items() if k not in holes[n]} or None


def _in_flight(path: Path, tasks: Mapping[int, JournaledTask], n: int) -> list[tuple[int, int, str]]:
    """Host-tasks ``state.map`` shows started (or finished) that the journal holds no outcome of."""
    try:
        marks = path.read_bytes()
    except OSError:
        return []
    out = []
    for t, jt in sorted(tasks.items()):
        row = marks[t * n : (t + 1) * n]
        for i, mark in enumerate(row):
            if mark and jt.codes[i] == NOT_RUN:
                out.append((t, i, "running" if mark == STARTED else "finished, not journaled"))
    return out


def find_run(base: Path, run_id: str | None, *, resumable: bool = False) -> Path:
    """The directory of run ``run_id`` (a unique prefix will do), or the latest run (the latest
    unfinished one with ``resumable``); a :class:`JournalError` naming what is there otherwise."""
    runs = run_dirs(base)
    where = str(base / RUNS_DIR)
    if run_id:
        found = [r for r in runs if r.name == run_id] or [r for r in runs if r.name.startswith(run_id)]
        if len(found) != 1:
            what = "no journaled run" if not found else f"{len(found)} runs"
            raise JournalError(f"{what} matches {run_id!r} (`nornflow runs` lists them)", file=where)
        return found[0]
    if not runs:
        raise JournalError("no journaled run in this project", file=where)
    if not resumable:
        return runs[-1]
    for run in reversed(runs):
        summary = run / "summary.json"
        try:
            status = json.loads(summary.read_text(encoding="utf-8")).get("status")
        except (OSError, ValueError):
            return run  # no summary: the run died
        if status == "interrupted":
            return run
    raise JournalError("no unfinished run to resume (every journaled run finished)", file=where)


# -- resuming -----------------------------------------------------------------------------------------


class ResumeState:
    """What a resumed run takes from its journal, task by task (the driver asks)."""

    def __init__(
        self, run: JournaledRun, prepared: PreparedWorkflow, names: Sequence[tuple[str, ...] | None]
    ):
        """``run`` is the journal read back; ``prepared`` the workflow that resumes it; ``names`` the
        variables each task may set (:func:`task_var_names`)."""
        self.run = run
        self.prepared = prepared
        self.names = list(names)
        self._done: dict[int, bytearray] = {}

    def fill(self, index: int, result: TaskResult) -> None:
        """Put task ``index``'s journaled outcomes into ``result`` before the task runs."""
        jt = self.run.tasks.get(index)
        if jt is not None:
            self._done[index] = fill(jt, result)

    def journaled(self, index: int) -> bytearray | None:
        """The positions of task ``index`` the journal held (1), once :meth:`fill` ran for it."""
        return self._done.get(index)

    def remaining(self, index: int, result: TaskResult, positions: list[int] | None) -> list[int] | None:
        """The positions that still run task ``index`` (journaled hosts are left out). A ``run_once``
        task that already ran on a journaled host runs on no other: they are skipped as it skips them."""
        done = self._done.get(index)
        if done is None or not any(done):
            return positions
        candidates = range(len(result.hosts)) if positions is None else positions
        left = [i for i in candidates if not done[i]]
        once = run_once_hook(self.prepared.tasks[index].model)
        if once is not None and any(
            c in (OK, CHANGED, FAILED) for c, d in zip(result.codes, done, strict=True) if d
        ):
            for i in left:
                result.codes[i] = SKIPPED
                result.skip_reasons[i] = f"{once}: ran on another host"
            return []
        return left

    def restore(self, index: int, executor: Any) -> None:
        """Give the executor the variables task ``index`` set on the journaled hosts."""
        jt = self.run.tasks.get(index)
        restore = getattr(executor, "restore_variables", None)
        if jt is None or restore is None or not jt.variables:
            return
        hosts = self.run.hosts
        values = {hosts[i]: v for i, v in jt.variables.items() if v}
        known = index < len(self.names) and self.names[index] is not None
        if values:
            restore(values, replace=not known)


def run_once_hook(model: Any) -> str | None:
    """The task's ``run_once``/``single`` hook name when it is on."""
    for name, value in model.hooks.items():
        cls = HOOK_REGISTRY.get(name)
        if (
            cls is not None
            and issubclass(cls, RunOnceHook)
            and value not in (False, None, "false", "no", "off")
        ):
            return name
    return None


def discard_unstarted(journal: RunJournal) -> bool:
    """Delete the journal of a new run that never started a task (its executor could not start:
    an unreachable Dask scheduler, a refused setting), so ``nornflow runs`` and ``--resume`` do not
    take it for a run that died. Returns whether it was deleted."""
    if journal.resumed:
        return False
    journal.close()
    try:
        records, _torn = read_records(journal.directory / "journal.log")
    except JournalError:
        return False
    if any(r.get("k") != "header" for r in records):
        return False
    shutil.rmtree(journal.directory, ignore_errors=True)
    return True


# -- opening a run's journal --------------------------------------------------------------------------


def start_journal(
    settings: Settings,
    prepared: PreparedWorkflow,
    *,
    hosts: Sequence[str],
    cli_vars: Mapping[str, Any] | None,
    filters: Mapping[str, Any] | None,
    strategy: str,
    dry_run: bool,
    workers: int,
    mask: JournalMasking | None = None,
    resume: str | None = None,
    force: bool = False,
    notice: Callable[[str], None] | None = None,
) -> tuple[RunJournal, ResumeState | None]:
    """Open the journal of a new run (pruning old runs), or, with ``resume`` (a run id, or ``""``
    for the latest unfinished run), reopen that run's after checking that nothing changed."""
    base = settings.base_dir
    names = task_var_names(prepared)
    say = notice or (lambda message: None)
    if resume is None:
        run_id = new_run_id()
        header = run_header(
            run_id,
            prepared,
            settings=settings,
            hosts=hosts,
            cli_vars=cli_vars,
            filters=filters,
            strategy=strategy,
            dry_run=dry_run,
            workers=workers,
        )
        header["var_names"] = [None if n is None else list(n) for n in names]
        journal = RunJournal(base / RUNS_DIR / run_id, mask=mask, var_names=names)
        keep, age = settings.journal_keep, settings.journal_max_age_days
        journal.open(
            header,
            hosts,
            len(prepared.tasks),
            housekeeping=lambda: prune_runs(base, keep, age, spare=run_id),
        )
        return journal, None
    directory = find_run(base, resume or None, resumable=True)
    run = load_run(directory)
    if run.finished:
        raise JournalError(
            f"run {run.run_id} finished (status {run.status()}); there is nothing to resume",
            file=str(directory),
        )
    header = run_header(
        run.run_id,
        prepared,
        settings=settings,
        hosts=hosts,
        cli_vars=cli_vars,
        filters=filters,
        strategy=strategy,
        dry_run=dry_run,
        workers=workers,
    )
    changes = run.changes(header)
    fixed = [c for c in changes if c.startswith(("the selected hosts", "the workflow has"))]
    if fixed or (changes and not force):
        hint = "" if fixed else "; --force resumes anyway"
        raise JournalError(
            f"cannot resume run {run.run_id}: {'; '.join(changes)}"
            + (" (a run resumes on the same hosts and tasks, even with --force)" if fixed else hint),
            file=str(directory),
        )
    if run.torn_at is not None and run.torn_at >= 0:
        say(
            f"resume: the journal of run {run.run_id} was torn at byte {run.torn_at} (the process died "
            "while writing); what follows is ignored"
        )
        with open(directory / "journal.log", "r+b") as f:
            f.truncate(run.torn_at)
    hosts_list = run.hosts
    rerun = [(t, hosts_list[i], state) for t, i, state in run.in_flight]
    if rerun:
        shown = ", ".join(f"{h} (task {t + 1} {run.tasks[t].name!r}, {state})" for t, h, state in rerun[:20])
        more = f" and {len(rerun) - 20} more" if len(rerun) > 20 else ""
        say(
            f"resume: {len(rerun)} host-task(s) of run {run.run_id} had started when it stopped and "
            f"run again: {shown}{more}"
        )
    journal = RunJournal(directory, mask=mask, var_names=names, resumed=True)
    journal.open(header, hosts, len(prepared.tasks))
    journal.record({"k": "resume", "at": time.time(), "rerun": rerun, "forced": changes})
    state = ResumeState(run, prepared, names)
    journal.journaled = state.journaled
    return journal, state
