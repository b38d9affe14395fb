"""The run journal: ``.nornflow/runs/<run-id>/``, what a run learns, on disk as hosts finish.

The files of a run (``docs/journal.md`` has the whole story):

- ``journal.log``: framed records, one per line: 8 hex digits of the CRC32 of the JSON that follows,
  a space, the JSON, a newline. A header (the resolved workflow, the inputs, the hosts, the format
  version), a record per task start, chunks of host-task outcomes (column-wise: positions, status
  codes and durations as base64 bytes, payloads, errors, diffs, details, the variables they set),
  a record per task end and per resume, and the end of the run. A torn or corrupt line ends the
  readable journal.
- ``state.map``: one byte per host and task, memory-mapped: ``STARTED`` when a host starts a task,
  its status code when it finishes. Stores into a shared mapping survive the process being killed,
  so a resume knows which host-tasks were in flight.
- ``summary.json``: what ``nornflow runs`` lists, written when the run ends.
- ``result.json``: the final ``--json`` document of a run that walked blocks or batches (whose
  outcomes the walk edits after they are journaled); every other run's is rebuilt from the records.

Host-tasks slower than :data:`SLOW_HOST` (anything waiting on a device) are journaled by their worker
before it takes another host; faster ones (pure computation) are journaled in chunks by a background
writer every :data:`FLUSH_INTERVAL` seconds, which keeps the fleet benchmark's cost low. Records are
``fsync``-ed at least once a second and at the end of every task, before the task is reported done.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import mmap
import os
import secrets as _random
import shutil
import threading
import time
import zlib
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress, repeat
from operator import is_not
from pathlib import Path
from typing import Any, Protocol

from nornflow._hotpath import NOT_RUN
from nornflow.exceptions import NornFlowError
from nornflow.plain import plain
from nornflow.run.results import ErrorInfo, TaskResult, WorkflowResult

__all__ = [
    "FORMAT",
    "RUNS_DIR",
    "STARTED",
    "JournalError",
    "JournalMasking",
    "RunJournal",
    "digest",
    "frame",
    "new_run_id",
    "prune_runs",
    "read_records",
    "run_dirs",
]

#: The journal format; a journal of another format is refused (``nornflow runs``, ``--resume``).
FORMAT = 2
#: Where runs are journaled, below the project directory.
RUNS_DIR = Path(".nornflow") / "runs"
#: ``state.map`` byte of a host that started a task and did not finish it.
STARTED = 255
#: A host-task at least this slow (seconds) is journaled by its worker before the worker goes on.
SLOW_HOST = 0.0005
#: How often (seconds) the background writer journals the fast host-tasks that finished (each
#: wake-up takes the GIL from the run: 20 a second cost the fleet benchmark ~10%, one ~0-5%).
FLUSH_INTERVAL = 1.0
#: Records are fsync-ed at least this often (seconds) while a task runs, and at its end.
FSYNC_INTERVAL = 1.0
#: Hosts per outcome record at most (the writer's and a task end's): records stay ~100 kB, so the
#: journal's transient buffers stay small.
CHUNK = 4096
#: Hosts journaled one by one between two judgements of a task's pace (fast or slow).
_PROBE = 8


class JournalError(NornFlowError):
    """A journal that cannot be written, read or resumed (exit 3 on the command line)."""


class JournalMasking(Protocol):
    """How the journal masks secrets as ``--json`` does (the CLI's ``Masker``)."""

    def mask_value(self, value: Any) -> Any:
        """A copy of ``value`` with its secrets masked."""

    def might_mask(self, text: str) -> bool:
        """False when masking cannot change anything in data whose JSON text is ``text``."""

    def learn(self, data: Any) -> None:
        """Remember the values under secret-named keys in ``data``."""


#: The final JSON document of a run that walked blocks or batches, written when it ends (absent after
#: a kill); other runs' documents are rebuilt from the records.
RESULT_FILE = "result.json"


def new_run_id(now: float | None = None) -> str:
    """A run id that sorts by start time: ``20261202T145501123Z-3fa9c1`` (UTC, ms, random)."""
    now = time.time() if now is None else now
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(now))
    return f"{stamp}{int(now * 1000) % 1000:03d}Z-{_random.token_hex(3)}"


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset, tuple)):
        return list(obj)
    if hasattr(obj, "items"):
        with contextlib.suppress(Exception):
            return dict(obj.items())
    return str(obj)


_FAST_ENCODE = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, default=_json_default).encode


def _encode(record: dict[str, Any]) -> str:
    """A record as compact JSON; results JSON cannot hold as they are (tuple keys, cycles, deep
    nesting) go through :func:`nornflow.plain.plain` first, as ``--json`` does."""
    try:
        return _FAST_ENCODE(record)
    except Exception:  # a task's object can raise anything from its str(): plain() marks it
        return _FAST_ENCODE(plain(record))


def frame(text: str) -> bytes:
    """One journal line: the CRC32 of ``text`` (8 hex digits), a space, ``text``, a newline."""
    data = text.encode("utf-8", "surrogatepass")
    return b"%08x %s\n" % (zlib.crc32(data), data)


def read_records(path: Path) -> tuple[list[dict[str, Any]], int | None]:
    """The records of ``path`` up to the first torn or corrupt line, and that line's byte offset
    (None when every line is whole)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise JournalError(f"cannot read the journal: {exc.strerror or exc}", file=str(path)) from None
    records: list[dict[str, Any]] = []
    offset = 0
    size = len(data)
    while offset < size:
        end = data.find(b"\n", offset)
        if end < 0:
            return records, offset
        line = data[offset:end]
        try:
            crc, body = int(line[:8], 16), line[9:]
            if len(line) < 10 or line[8:9] != b" " or zlib.crc32(body) != crc:
                return records, offset
            record = json.loads(body)
        except ValueError:
            return records, offset
        if not isinstance(record, dict):
            return records, offset
        records.append(record)
        offset = end + 1
    return records, None


def read_header(path: Path) -> dict[str, Any] | None:
    """The first record of a journal (its header) without reading the rest, or None."""
    try:
        with open(path, "rb") as f:
            line = f.readline()
    except OSError:
        return None
    if not line.endswith(b"\n") or len(line) < 10:
        return None
    body = line[9:-1]
    try:
        if zlib.crc32(body) != int(line[:8], 16):
            return None
        record = json.loads(body)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def digest(value: Any) -> str:
    """A short, stable digest of JSON-able ``value`` (what a resume compares)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def names_digest(names: Sequence[str]) -> str:
    """A short, stable digest of a list of names (the run's hosts, in order)."""
    return hashlib.sha256("\0".join(names).encode("utf-8", "surrogatepass")).hexdigest()[:16]


def file_digest(path: Path) -> str | None:
    """The SHA-256 of a file's bytes (short), or None when it cannot be read. Read in blocks: a
    16 MB inventory read whole (on the hashing thread) raised the run's peak RSS by ~15 MB."""
    try:
        with open(path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()[:16]
    except OSError:
        return None


def run_dirs(base: Path) -> list[Path]:
    """The journaled runs of the project at ``base``, oldest first (run ids sort by time)."""
    root = base / RUNS_DIR
    try:
        return sorted(p for p in root.iterdir() if p.is_dir() and (p / "journal.log").is_file())
    except OSError:
        return []


def prune_runs(base: Path, keep: int, max_age_days: float, *, spare: str | None = None) -> list[str]:
    """Delete the oldest runs beyond ``keep`` and those older than ``max_age_days`` (0: no limit),
    never the run ``spare``; returns the ids deleted."""
    runs = run_dirs(base)
    now = time.time()
    doomed = set(runs[: max(0, len(runs) - keep)]) if keep > 0 else set()
    if max_age_days > 0:
        for run in runs:
            with contextlib.suppress(OSError):
                if now - (run / "journal.log").stat().st_mtime > max_age_days * 86400:
                    doomed.add(run)
    deleted = []
    for run in sorted(doomed):
        if run.name != spare:
            shutil.rmtree(run, ignore_errors=True)
            deleted.append(run.name)
    return deleted


@dataclass
class _TaskLog:
    """What the journal knows of the task that runs."""

    index: int
    result: TaskResult
    view: memoryview
    written: bytearray
    #: the runtime variables this task may set: names, or None (any: journal the host's whole dict)
    names: tuple[str, ...] | None
    vars_mgr: Any = None
    step: Any = None
    fast: Any = None
    slow: Any = None
    probe: list[float] = field(default_factory=list)
    #: the hosts are fast: the background writer journals them in chunks (else their workers do)
    batched: bool = False
    #: per host, whether the variables it set are its result (the step's ``track_results``), or None
    held: bytearray | None = None
    #: every host before it is journaled or not finished (the writer reads on from here)
    cursor: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: group commit of slow hosts: the queue, its lock, the event of the record being gathered
    pending: list[int] = field(default_factory=list)
    gate: threading.Lock = field(default_factory=threading.Lock)
    batch: threading.Event = field(default_factory=threading.Event)
    leading: bool = False


class RunJournal:
    """Writes one run's journal (an :class:`~nornflow.run.observer.OutcomeObserver`)."""

    def __init__(
        self,
        directory: Path,
        *,
        mask: JournalMasking | None = None,
        var_names: Sequence[tuple[str, ...] | None] = (),
        resumed: bool = False,
    ) -> None:
        """``directory`` is the run's (``.nornflow/runs/<run-id>``); ``mask`` masks secrets (None:
        ``--show-secrets``); ``var_names[t]`` are the variables task ``t`` may set (None: any);
        ``resumed``: append to an existing journal (``--resume``)."""
        self.directory = directory
        self.run_id = directory.name
        self.mask = mask
        self.var_names = list(var_names)
        self.resumed = resumed
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._views: list[memoryview] = []
        self._hosts: list[str] = []
        self._task: _TaskLog | None = None
        self._written: dict[int, bytearray] = {}  #: task index -> its positions journaled (1)
        self._synced = time.monotonic()
        self._dirty = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._write_lock = threading.Lock()
        self.error: str | None = None
        #: resumed: task index -> the positions the journal already holds (1), or None
        self.journaled: Callable[[int], bytearray | None] | None = None

    # -- opening and closing ----------------------------------------------------------------------

    def open(
        self,
        header: dict[str, Any],
        hosts: Sequence[str],
        tasks: int,
        *,
        housekeeping: Callable[[], object] | None = None,
    ) -> None:
        """Create the journal (or reopen it to resume) and write ``header`` (a new run only).
        ``housekeeping`` (pruning old runs) runs on the background writer, off the run's path."""
        self._hosts = list(hosts)
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            log = self.directory / "journal.log"
            self._fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            size = max(1, len(self._hosts) * tasks)
            flags = os.O_RDWR | os.O_CREAT | (0 if self.resumed else os.O_TRUNC)
            fd = os.open(self.directory / "state.map", flags, 0o600)
            try:
                if os.fstat(fd).st_size != size:
                    os.ftruncate(fd, size)
                self._map = mmap.mmap(fd, size)
            finally:
                os.close(fd)
        except OSError as exc:
            self.close()
            raise JournalError(
                f"cannot write the run journal: {exc.strerror or exc} (--no-journal runs without it)",
                file=str(self.directory),
            ) from None
        n = len(self._hosts)
        whole = memoryview(self._map)
        self._views = [whole[t * n : (t + 1) * n] for t in range(tasks)]
        whole.release()
        if not self.resumed:
            self._append(header, mask=True)
        self._sync()
        _fsync_dir(self.directory)
        self._thread = threading.Thread(
            target=self._writer, args=(housekeeping,), name="nornflow-journal", daemon=True
        )
        self._thread.start()

    def record(self, record: dict[str, Any], *, mask: bool = False, sync: bool = True) -> None:
        """Append one record (a resume's, the end of the run) and make it durable."""
        self._append(record, mask=mask)
        if sync:
            self._sync()

    def close(self) -> None:
        """Stop the background writer and release the files (idempotent)."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        task, self._task = self._task, None
        abandoned = task is not None and task.step is not None
        if abandoned:  # an aborted run: hosts still running may store into the view until they end
            _unbind(task)  # type: ignore[arg-type]
        else:
            for view in self._views:
                view.release()
        self._views = []
        if self._map is not None:
            with contextlib.suppress(OSError, ValueError, BufferError):
                self._map.flush()
                if not abandoned:
                    self._map.close()  # else the mapping closes when the last view is gone
            self._map = None
        if self._fd >= 0:
            if self._dirty:
                with contextlib.suppress(OSError):
                    os.fsync(self._fd)
            os.close(self._fd)
            self._fd = -1

    # -- the observer -----------------------------------------------------------------------------

    def task_started(self, index: int, result: TaskResult, positions: Sequence[int] | None) -> None:
        """Journal the task's start; its hosts' outcomes follow as they finish."""
        names = self.var_names[index] if index < len(self.var_names) else None
        view = self._views[index]
        count = len(result.hosts) if positions is None else len(positions)
        # one set of journaled positions per task for the whole run: a task runs once per batch,
        # and a batch must not journal again (without their variables) the hosts of the last one
        written = self._written.get(index)
        if written is None:
            journaled = self.journaled(index) if self.journaled is not None else None
            # resumed: the hosts journaled before are not written again
            written = bytearray(journaled) if journaled is not None else bytearray(len(result.hosts))
            self._written[index] = written
        task = _TaskLog(index, result, view, written, names)
        record: dict[str, Any] = {"k": "task", "t": index, "name": result.name, "hosts": count}
        if result.controls:
            record["controls"] = result.controls
        self._append(record)
        self._task = task

    def bind_step(self, index: int, result: TaskResult, step: Any) -> None:
        """Give the step the task's ``state.map`` bytes (it marks hosts started and finished, one
        byte store each) and journal the first hosts one by one: while they are slow (waiting on
        devices) every host is journaled by its worker before the worker goes on."""
        task = self._task
        if task is None or task.index != index or not hasattr(step, "marks"):
            return  # not the hot path's step: the task is journaled at its end
        task.vars_mgr = step.vars_mgr
        task.step = step
        task.fast = step.on_done  # fast hosts: the step's own callback only (the writer journals)
        step.marks = task.view
        if task.names and hasattr(step, "track_results"):
            with contextlib.suppress(TypeError):  # not the hot path's variables: read them cold
                held = bytearray(len(result.hosts))
                step.track_results(task.names, held)
                task.held = held
        step.on_done = self._slow_done(task, task.fast)

    def _slow_done(self, task: _TaskLog, other: Any) -> Any:
        """The step's ``on_done`` for slow hosts: the host is journaled before its worker goes on
        (the step marks it done after). Workers that finish together share one record (group
        commit): the first becomes the leader and writes every host that queued up meanwhile; the
        others wait for the record that holds theirs. So at most the worker count of hosts is ever
        finished and not journaled, and 1,000 workers do not write 1,000 records one by one."""

        def done(i: int, code: int) -> None:
            with task.gate:
                task.pending.append(i)
                batch = task.batch
                lead = not task.leading
                task.leading = True
            if lead:
                self._lead(task, other)
            else:
                batch.wait()
            if other is not None:
                other(i, code)

        task.slow = done
        return done

    def _lead(self, task: _TaskLog, other: Any) -> None:
        """Write the queued hosts, batch after batch, until none is left; then judge the pace every
        :data:`_PROBE` hosts by their median duration (a first host that pays one-time costs does
        not decide): when the hosts are fast the step switches to ``other`` and the writer's chunks."""
        durations = task.result.durations
        while True:
            with task.gate:
                positions, task.pending = task.pending, []
                batch, task.batch = task.batch, threading.Event()
                if not positions:
                    task.leading = False
                    batch.set()
                    return
            try:
                with task.lock:
                    self._write_hosts(task, sorted(positions))
            except Exception as exc:  # the journal must never end the run (nor leave hosts waiting)
                self.error = f"journal: {type(exc).__name__}: {exc}"
            finally:
                batch.set()
            probe = task.probe
            probe.extend(durations[i] for i in positions[:_PROBE])
            if len(probe) >= _PROBE:
                fast = _median(probe) < SLOW_HOST
                probe.clear()
                if fast and task.step is not None:
                    task.step.on_done = other
                    task.batched = True

    def hosts_done(
        self,
        index: int,
        result: TaskResult,
        positions: Sequence[int],
        variables: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Journal ``positions`` at once (an executor merged them); ``variables`` by host name."""
        task = self._task
        if task is None or task.index != index:
            return
        with task.lock:
            self._write_hosts(task, [i for i in positions if not task.written[i]], variables)
            for i in positions:
                task.view[i] = result.codes[i] or STARTED

    def task_completed(self, index: int, result: TaskResult) -> None:
        """Journal every host not journaled yet, the end of the task, and fsync them all."""
        task = self._task
        if task is None or task.index != index:
            return
        with task.lock:
            _unbind(task)
            # once-per-task post-hooks (run_once) ran after the first host: its outcome and
            # variables may have changed since it was checked or journaled
            keep = getattr(task.step, "keep", None) if task.step is not None else None
            first = next((i for i, o in enumerate(keep) if o is not None), None) if keep else None
            if first is not None and task.held is not None:
                task.held[first] = 2  # read its variables as they are now
            again = first is not None and task.written[first]
            cursor = task.cursor  # every host before it is journaled
            left = _new_positions(result.codes[cursor:].translate(_IS_SET), task.written[cursor:], cursor)
            for start in range(0, len(left), CHUNK):
                self._write_hosts(task, left[start : start + CHUNK])
            if again:
                self._write_hosts(task, [first])  # type: ignore[list-item]
            _settle(task.view, result.codes)
            self._append({"k": "task_end", "t": index, "duration": result.duration})
            self._task = None
        self._sync(state=False)

    def run_completed(self, result: WorkflowResult) -> None:
        """Journal the end of the run and write ``summary.json``; then close. A run that walked
        blocks or batches also gets ``result.json``, its whole ``--json`` document: the walk edits
        outcomes after they were journaled (a rescue turns failures into rescued ones, hosts left out
        get skip reasons), so the records alone cannot rebuild it."""
        try:
            end = {
                "k": "end",
                "status": "interrupted" if result.interrupted else ("failed" if result.failed else "ok"),
                "exit_code": result.exit_code,
                "duration": result.duration,
                "interrupted": result.interrupted,
                "signal": result.signal,
                "stopped": result.stopped,
                "incomplete": result.incomplete,
                "finished": time.time(),
            }
            controls = result.control_dict()
            self.record({**end, "controls": controls} if controls else end)
            summary = {
                "run_id": self.run_id,
                "format": FORMAT,
                **end,
                "resumed": self.resumed,
                "host_counts": result.host_counts(),
            }
            from nornflow.fileio import atomic_write

            atomic_write(self.directory / "summary.json", json.dumps(summary, indent=2) + "\n")
            if result.walked:
                document = result.to_dict()
                if self.mask is not None:
                    document = self.mask.mask_value(document)
                # compact: the C encoder (indent selects the pure-Python one, ~10x slower)
                text = json.dumps(document, separators=(",", ":"), default=str)
                atomic_write(self.directory / RESULT_FILE, text + "\n", mode=0o600)
        except (OSError, JournalError) as exc:
            self.error = f"cannot finish the run journal: {exc}"
        finally:
            self.close()

    # -- writing ----------------------------------------------------------------------------------

    def _writer(self, housekeeping: Callable[[], object] | None = None) -> None:
        """The background writer: journal the fast hosts that finished, fsync once a second."""
        if housekeeping is not None:
            try:
                housekeeping()
            except Exception as exc:  # pruning old runs must never end this one
                self.error = f"journal housekeeping: {type(exc).__name__}: {exc}"
        while not self._stop.wait(FLUSH_INTERVAL):
            try:
                task = self._task
                due = time.monotonic() - self._synced >= FSYNC_INTERVAL
                if task is not None and task.batched:
                    self._flush_done(task, everywhere=due)
                if due and self._dirty:
                    self._sync()
            except Exception as exc:  # the journal must never end the run
                self.error = f"journal writer: {type(exc).__name__}: {exc}"

    def _flush_done(self, task: _TaskLog, *, everywhere: bool = False) -> None:
        """Journal the hosts ``state.map`` shows finished and that are not journaled yet: those
        from the task's cursor up to the first host not finished (hosts finish about in order), or
        (``everywhere``, before each once-a-second fsync) all of them."""
        with task.lock:
            if self._task is not task:
                return
            if everywhere:
                positions = _new_positions(bytes(task.view).translate(_IS_DONE), task.written)
            else:
                positions = _done_from(task)
            if not positions:
                return
            for start in range(0, len(positions), CHUNK):  # small records: small transient buffers
                self._write_hosts(task, positions[start : start + CHUNK])
            durations = task.result.durations
            step = task.step
            if step is not None and task.batched:
                pace = _median([durations[i] for i in positions[-256:]])
                if pace >= SLOW_HOST:  # the hosts became slow: their workers journal them again
                    task.batched = False
                    step.on_done = task.slow

    def _write_hosts(
        self,
        task: _TaskLog,
        positions: Sequence[int],
        variables: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """One outcome record for ``positions`` of the task (column-wise), then mark them written.
        A run of consecutive positions (the usual case) is sliced, not gathered host by host."""
        if not positions:
            return
        r = task.result
        first, n = positions[0], len(positions)
        if positions[-1] - first + 1 == n and n > 1:
            stop = first + n
            span: Any = range(first, stop)
            rec: dict[str, Any] = {
                "k": "hosts",
                "t": task.index,
                "r": [first, stop],
                "p": r.payloads[first:stop],
            }
            codes: bytes | bytearray = r.codes[first:stop]
            durations = r.durations[first:stop].tobytes()
            chunk = r.hosts[first:stop]
        else:
            span = positions = list(positions)
            rec = {"k": "hosts", "t": task.index, "i": positions, "p": [r.payloads[i] for i in positions]}
            codes = bytes(r.codes[i] for i in positions)
            durations = array("d", [r.durations[i] for i in positions]).tobytes()
            chunk = [r.hosts[i] for i in positions]
        for key, column in (("e", r.errors), ("d", r.diffs), ("x", r.extras), ("s", r.skip_reasons)):
            if column:
                part = {str(i): column[i] for i in _within(column, span)}
                if part:
                    rec[key] = {k: _error_dict(v) for k, v in part.items()} if key == "e" else part
        self._variables(task, chunk, variables, rec, span)
        if not any(map(is_not, rec["p"], repeat(None))):  # no host returned anything: no nulls
            del rec["p"]
        # base64 needs no JSON escaping: spliced in as it is, not scanned by the encoder
        blobs = f'"c":"{base64.b64encode(codes).decode()}","u":"{base64.b64encode(durations).decode()}"'
        self._append(rec, mask=True, raw=blobs)
        written = task.written
        if isinstance(span, range):
            written[span.start : span.stop] = b"\x01" * n
        else:
            for i in positions:
                written[i] = 1

    def _variables(
        self,
        task: _TaskLog,
        chunk: Sequence[str],
        given: Mapping[str, Mapping[str, Any]] | None,
        rec: dict[str, Any],
        span: Any = None,
    ) -> None:
        """Add the variables the task set on the hosts ``chunk`` to ``rec``: a column per name
        (``vc``, with the positions in the chunk where the host has none in ``vm``; names whose values
        are the hosts' results, as ``set_to`` stores them, in ``vr`` without a column), or (a task
        that may set any) each host's whole set (``v``)."""
        names = task.names
        if names == ():
            return
        held = task.held
        if given is None and held is not None and names is not None:
            marks = held[span.start : span.stop] if isinstance(span, range) else bytes(held[i] for i in span)
            if b"\x02" not in marks:  # checked by the step while the data was hot: no column read
                rec["vr"] = list(names)
                if b"\x00" in marks:
                    holes = list(compress(range(len(marks)), marks.translate(_IS_ZERO)))
                    rec["vm"] = dict.fromkeys(names, holes)
                return
        if given is None and names is not None and task.vars_mgr is not None:
            columns, missing, results = task.vars_mgr.runtime_columns(chunk, names, rec["p"])
            if results:  # their values are the hosts' results (``p``): not journaled twice
                rec["vr"] = results
            if not columns:
                if missing:
                    rec["vm"] = missing
                return
        else:
            if given is not None:
                snap: Mapping[str, Mapping[str, Any]] = given
            elif task.vars_mgr is not None:
                snap = task.vars_mgr.runtime_snapshot(chunk, copy=False)
            else:
                return
            dicts = list(map(snap.get, chunk, repeat(_EMPTY)))
            if names is None:
                rec["v"] = [dict(d) if d else None for d in dicts]
                return
            columns = {name: [d.get(name) for d in dicts] for name in names}
            missing = {}
            for name in names:
                holes = [k for k, d in enumerate(dicts) if name not in d]
                if holes:
                    missing[name] = holes
        rec["vc"] = columns
        if missing:
            rec["vm"] = missing

    def _append(self, record: dict[str, Any], *, mask: bool = True, raw: str = "") -> None:
        """Encode, mask (as ``--json`` does) and append one record. Only the record's data (not its
        structure: positions, base64 codes and durations) is screened for secrets, so a random
        base64 run that spells ``psk`` does not send a chunk down the slow masking path. ``raw``:
        more members, already JSON (``"c":"...","u":"..."``), added as they are."""
        masking = self.mask
        if not mask or masking is None:
            text = _encode(record)
        else:
            frame_part = {k: v for k, v in record.items() if k in _STRUCTURE}
            data = {k: v for k, v in record.items() if k not in _STRUCTURE}
            data_text = _encode(data)
            if masking.might_mask(data_text):
                data_text = _encode(_masked(masking, data))
            text = _join(_encode(frame_part), data_text)
        if raw:
            text = _join(text, "{" + raw + "}")
        if self._fd < 0:
            return
        line = frame(text)
        try:
            os.write(self._fd, line)
        except OSError as exc:
            self.error = f"cannot write the run journal: {exc.strerror or exc}"
            return
        self._dirty = True

    def _sync(self, *, state: bool = True) -> None:
        """fsync the journal (the records written so far survive a crash) and, with ``state``, flush
        the state map to disk. The map's stores survive the process being killed without it (a
        shared mapping); flushing it only matters when the machine itself goes down, so a task's
        end skips it and the once-a-second sync and the run's end do it."""
        with self._write_lock:
            self._synced = time.monotonic()
            self._dirty = False
            with contextlib.suppress(OSError, ValueError):
                if self._fd >= 0:
                    os.fsync(self._fd)
                if state and self._map is not None:
                    self._map.flush()


#: Record fields that are the journal's own structure (positions, codes, durations, digests, host
#: names): never masked, so masking cannot garble what a resume reads.
_STRUCTURE = frozenset(
    {"k", "t", "i", "r", "c", "u", "vm", "format", "run_id", "started", "digests", "hosts", "var_names"}
)


def _join(head: str, tail: str) -> str:
    """Two JSON objects' texts as one object's (``{"a":1}`` + ``{"b":2}``: ``{"a":1,"b":2}``)."""
    if tail == "{}":
        return head
    if head == "{}":
        return tail
    return f"{head[:-1]},{tail[1:]}"


def _masked(masking: JournalMasking, data: dict[str, Any]) -> dict[str, Any]:
    """``data`` (a record's data fields) masked as ``--json`` masks: the secrets under secret-named
    variables are learnt first; a variable column is masked value by value (masking a secret-named
    key's whole column would replace the list itself)."""
    for key in ("v", "vc"):
        if key in data:
            masking.learn(data[key])
    for name in data.get("vr", ()):  # variables whose values are the results: learn them as such
        masking.learn({name: data.get("p")})
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key == "vc":
            out[key] = {
                name: [masking.mask_value({name: v})[name] for v in column] for name, column in value.items()
            }
        else:
            out[key] = masking.mask_value(value)
    return out


#: state.map bytes -> 1 for a finished host (a status code), 0 for not started or running
_IS_DONE = bytes(0 if b in (NOT_RUN, STARTED) else 1 for b in range(256))


#: bytes -> 1 for 0, 0 otherwise
_IS_ZERO = bytes(1 if b == 0 else 0 for b in range(256))
#: result codes -> 1 for a host with an outcome, 0 for one not run
_IS_SET = bytes(0 if b == NOT_RUN else 1 for b in range(256))
#: result codes -> 0xFF for a host with an outcome (its state byte becomes the code), 0 otherwise
_SET_MASK = bytes(0 if b == NOT_RUN else 255 for b in range(256))

_EMPTY: Mapping[str, Any] = {}


def _unbind(task: _TaskLog) -> None:
    """Take the journal's state bytes and checks off the task's step (hosts store nothing more)."""
    step = task.step
    if step is None:
        return
    step.on_done = task.fast
    step.marks = None
    if task.held is not None:
        step.track_results(None, None)


def _done_from(task: _TaskLog) -> Sequence[int]:
    """The hosts not journaled yet from ``task.cursor`` up to the first one not finished; the
    cursor moves there. Only the bytes past the cursor are read: a flush costs what finished
    since the last one, not the whole task."""
    start = task.cursor
    done = bytes(task.view[start:]).translate(_IS_DONE)
    stop = done.find(0)
    if stop < 0:
        stop = len(done)
    task.cursor = start + stop
    return _new_positions(done[:stop], task.written[start : start + stop], start)


def _median(values: list[float]) -> float:
    """The median of ``values`` (not empty)."""
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


def _new_positions(done: bytes | bytearray, written: bytearray, offset: int = 0) -> Sequence[int]:
    """The positions (plus ``offset``) where ``done`` is 1 and ``written`` is 0 (both 0/1 bytes,
    one per host), in order: a range when they all are (the usual case), else whole-buffer
    integer operations, not a Python loop over the hosts."""
    n = len(done)
    if 0 not in done and 1 not in written:
        return range(offset, offset + n)
    if offset:
        return [offset + k for k in _new_positions(done, written)]
    new = (int.from_bytes(done, "little") & ~int.from_bytes(written, "little")).to_bytes(n, "little")
    return list(compress(range(n), new))


def _settle(view: memoryview, codes: bytearray) -> None:
    """Store every host's code in its state byte, but for hosts without an outcome (a host that
    started and did not finish stays ``STARTED``)."""
    n = len(codes)
    mask = int.from_bytes(codes.translate(_SET_MASK), "little")
    merged = (int.from_bytes(view, "little") & ~mask) | (int.from_bytes(codes, "little") & mask)
    view[:] = merged.to_bytes(n, "little")


def _within(column: Mapping[int, Any], span: Any) -> list[int]:
    """The keys of ``column`` (positions) that are in ``span`` (a range or a list), in order."""
    if isinstance(span, range):
        if len(column) < len(span):
            return sorted(i for i in column if span.start <= i < span.stop)
        return [i for i in span if i in column]
    return [i for i in span if i in column]


def _error_dict(error: Any) -> dict[str, Any]:
    data = {"type": error.type, "message": error.message}
    if error.hook:
        data["hook"] = error.hook
    if error.traceback:
        data["traceback"] = error.traceback
    if error.ignored:
        data["ignored"] = True
    return data


def error_from_dict(data: Mapping[str, Any]) -> ErrorInfo:
    """The :class:`ErrorInfo` a journal record holds."""
    return ErrorInfo(
        str(data.get("type", "Error")),
        str(data.get("message", "")),
        data.get("hook"),
        data.get("traceback"),
        bool(data.get("ignored", False)),
    )


def durations_of(text: str) -> array:
    """The durations column of an outcome record."""
    out = array("d")
    out.frombytes(base64.b64decode(text))
    return out


def _fsync_dir(directory: Path) -> None:
    """Make a new file's directory entry durable (POSIX; a no-op elsewhere)."""
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def positions_of(record: Mapping[str, Any]) -> Sequence[int]:
    """The host positions of an outcome record (a list, or a ``[start, stop]`` run)."""
    if "r" in record:
        start, stop = record["r"]
        return range(int(start), int(stop))
    return record["i"]
