"""Console output of a run: per-host lines for small runs, live progress for large ones, the recap.

Runs of at most :data:`PER_HOST_LINES_LIMIT` host-tasks (or ``--verbose``) print a line per host and
task, multi-line results as indented blocks. Larger runs show, per task, a progress display polled from
the task's live result (task i/N, hosts done/total, hosts per second, ETA, failed so far): a bar on a
terminal, a plain line every few seconds elsewhere (CI logs, ``| tee``); then a one-line summary and
the failures grouped by message. Every run ends with a recap (per task, per host, or both) and a last
line that counts the hosts honestly. Everything printed goes through :mod:`nornflow.cli.text`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from nornflow._hotpath import CHANGED, FAILED, NOT_RUN, OK, SKIPPED
from nornflow.cli.text import markup, printable
from nornflow.models.task import TaskModel
from nornflow.models.workflow import WorkflowModel
from nornflow.plain import plain, safe_text
from nornflow.run.reporter import Reporter
from nornflow.run.results import TaskResult, WorkflowResult

__all__ = [
    "BLOCK_LINES",
    "FAILURE_GROUPS_SHOWN",
    "HOSTS_PER_GROUP",
    "PER_HOST_LINES_LIMIT",
    "PROGRESS_INTERVAL",
    "ConsoleReporter",
    "LoadingNotice",
    "Recap",
]

#: Runs with more host-tasks than this show progress and summaries instead of per-host lines.
PER_HOST_LINES_LIMIT = 200
#: Seconds between two plain progress lines when the console is not a terminal.
PROGRESS_INTERVAL = 5.0
#: At most this many groups of failures (hosts failing with the same message) per task; --json has all.
FAILURE_GROUPS_SHOWN = 10
#: Host names listed per group of failures before "and N more".
HOSTS_PER_GROUP = 5
#: Lines of a multi-line result or error shown per host (the rest is in --json).
BLOCK_LINES = 40
#: Seconds an inventory may take to load before the console says it is loading.
LOADING_NOTICE_AFTER = 1.0

_BLOCK_INDENT = " " * 6
_STATUS_STYLE = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "skipped": "dim",
    "not_run": "yellow",
}


class Recap(StrEnum):
    """What the recap at the end of a run shows (``--recap``)."""

    #: a row per task: ok, changed, failed, skipped, ... (default)
    TASKS = "tasks"
    #: a row per host: how many tasks were ok, changed, failed, skipped on it
    HOSTS = "hosts"
    #: both tables
    BOTH = "both"


# -- small formatting helpers ------------------------------------------------------------------------


def _text_of(value: Any) -> str:
    """A result (plain data) as text: strings as they are, anything else as one line of JSON."""
    return value if isinstance(value, str) else json.dumps(value, allow_nan=False)


def _short(text: str, limit: int = 300) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hook_label(hook: str | None) -> str:
    """`` [hook NAME]`` for a failure line; the bracket is escaped, or rich would take it for markup
    and drop it, and the operator would not see which hook failed."""
    return markup(f" [hook {hook}]") if hook else ""


def _one_line(text: str) -> str:
    """The first line of ``text``, with ``...`` when there is more."""
    first, _, rest = text.strip().partition("\n")
    return first.rstrip() + (" ..." if rest.strip() else "")


def _title(index: int, task: TaskModel) -> str:
    """``2. build_config - Render the configuration`` (the description collapsed to one line)."""
    title = f"[bold]{index + 1}. {markup(task.name)}[/]"
    if task.description:
        title += f" [dim]- {markup(' '.join(task.description.split()))}[/]"
    return title


def _summary(counts: dict[str, int]) -> str:
    """``95 ok, 3 failed, 2 failed (ignored), 10 not run``: a task's non-zero counts."""
    parts = [
        (counts["ok"], "ok"),
        (counts["changed"], "changed"),
        (counts["failed"] - counts["ignored"], "failed"),
        (counts["ignored"], "failed (ignored)"),
        (counts["skipped"], "skipped"),
        (counts["not_run"], "not run"),
    ]
    return ", ".join(f"{n} {label}" for n, label in parts if n)


def _duration(seconds: float) -> str:
    """``7s``, ``3m05s``, ``1h02m``: an ETA as an operator reads it."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


# -- progress of a running task ----------------------------------------------------------------------


@dataclass
class _Running:
    """What a progress display reads of the running task, polled from its live result: nothing is
    reported per host (``codes.count`` over a bytearray is a memchr-speed scan)."""

    result: TaskResult
    position: str
    name: str
    total: int
    started: float = field(default_factory=time.monotonic)

    def done(self) -> int:
        """Hosts finished so far."""
        return self.total - self.result.pending()

    def failed(self) -> int:
        """Hosts failed so far (ignored failures excluded)."""
        return self.result.codes.count(FAILED)

    def line(self) -> str:
        """``task 2/10 build_config: 41000/100000 hosts (41%), 8213 hosts/s, ETA 7s, 12 failed``."""
        done, elapsed = self.done(), time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0.0
        percent = 100 * done // self.total if self.total else 100
        eta = _duration((self.total - done) / rate) if rate > 0 else "unknown"
        return (
            f"task {self.position} {self.name}: {done}/{self.total} hosts ({percent}%), "
            f"{rate:.0f} hosts/s, ETA {eta}, {self.failed()} failed"
        )


class _HostsColumn(ProgressColumn):
    """``41000/100000 hosts``."""

    def render(self, task: Any) -> Text:
        """The count of finished hosts."""
        return Text(f"{int(task.completed)}/{int(task.total or 0)} hosts")


class _RateColumn(ProgressColumn):
    """``8213 hosts/s`` (rich's speed estimate over the recent samples)."""

    def render(self, task: Any) -> Text:
        """The recent speed."""
        speed = task.finished_speed or task.speed
        return Text(f"{speed:.0f} hosts/s" if speed else "- hosts/s", style="progress.data.speed")


class _FailedColumn(ProgressColumn):
    """``12 failed``, red as soon as one host failed."""

    def render(self, task: Any) -> Text:
        """The live failure count."""
        failed = int(task.fields.get("failed", 0))
        return Text(f"{failed} failed", style="bold red" if failed else "dim")


class _PolledProgress(Progress):
    """A progress bar that reads its counts from the running task at each refresh (8 per second, in
    rich's refresh thread), so the hosts themselves never report to it."""

    bar: Any = None
    done: Callable[[], int] | None = None
    failed: Callable[[], int] | None = None

    def get_renderables(self) -> Iterable[Any]:
        """Update the counts, then render as usual."""
        if self.done is not None and self.bar is not None:
            failed = self.failed() if self.failed is not None else 0
            self.update(self.bar, completed=self.done(), failed=failed)
        yield from super().get_renderables()


class _Ticker:
    """Plain progress lines every ``interval`` seconds, for consoles that are not terminals (a bar
    would print nothing there until the task ends)."""

    def __init__(self, console: Console, running: _Running, interval: float) -> None:
        self.console = console
        self.running = running
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nornflow-progress", daemon=True)

    def start(self) -> None:
        """Start printing (the first line comes after one interval)."""
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.console.print(f"[dim]progress:[/] {markup(self.running.line())}")

    def stop(self) -> None:
        """Stop printing; returns once the thread is gone."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()


# -- the reporter ------------------------------------------------------------------------------------


class ConsoleReporter(Reporter):
    """Human output: per-host lines for small runs, progress and summaries for large ones, failures
    always, a recap at the end."""

    def __init__(
        self,
        console: Console,
        *,
        verbose: bool = False,
        mask: Any = None,
        learn: Any = None,
        recap: Recap | str = Recap.TASKS,
        progress_interval: float = PROGRESS_INTERVAL,
        show_diff: bool = False,
    ) -> None:
        """``mask`` masks secrets in a value before it is printed; ``learn`` is called with (task,
        result, payloads_shown) before a task's results are printed, to learn the secrets they hold;
        ``recap`` picks the recap tables; ``progress_interval`` is the period of plain progress lines."""
        self.console = console
        self.verbose = verbose
        self.mask = mask or (lambda value: value)
        self.learn = learn or (lambda task, result, shown: None)
        self.recap = Recap(recap)
        self.progress_interval = progress_interval
        self.show_diff = show_diff
        #: per task index, the hosts already printed (a task runs once per batch with serial)
        self._shown: dict[int, set[int]] = {}
        self._detail = True
        self._n_tasks = 0
        self._progress: _PolledProgress | None = None
        self._ticker: _Ticker | None = None
        self._pending: tuple[TaskModel, int] | None = None

    # -- events ------------------------------------------------------------------------------------

    def workflow_started(self, workflow: WorkflowModel, hosts: Sequence[str]) -> None:
        """Print the header; choose per-host lines or progress by run size."""
        self._n_tasks = len(workflow.tasks)
        self._shown = {}
        self._detail = self.verbose or len(hosts) * self._n_tasks <= PER_HOST_LINES_LIMIT
        title = f"[bold]workflow[/] {markup(workflow.name)}: {self._n_tasks} task(s) on {len(hosts)} host(s)"
        self.console.print(title)
        if workflow.description:
            self.console.print(f"[dim]{markup(workflow.description, multiline=True)}[/]")

    def task_started(self, task: TaskModel, index: int, hosts: int) -> None:
        """Show the task header (small runs); large runs show progress once the task runs."""
        if self._detail:
            self.console.rule(_title(index, task), align="left")
        else:
            self._pending = (task, index)

    def task_running(self, task: TaskModel, result: TaskResult) -> None:
        """Start the progress display: it polls the finished and failed hosts in ``result``."""
        if self._detail or self._pending is None:
            return
        _, index = self._pending
        running = _Running(result, f"{index + 1}/{self._n_tasks}", printable(task.name), result.pending())
        if self.console.is_terminal:
            progress = _PolledProgress(
                TextColumn(f"task {running.position} {markup(task.name)}"),
                BarColumn(),
                _HostsColumn(),
                _RateColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                _FailedColumn(),
                console=self.console,
                transient=True,
                refresh_per_second=8,
            )
            progress.bar = progress.add_task(running.name, total=running.total, failed=0)
            progress.done = running.done
            progress.failed = running.failed
            self._progress = progress
            progress.start()
        else:
            self._ticker = _Ticker(self.console, running, self.progress_interval)
            self._ticker.start()

    def task_completed(self, task: TaskModel, result: TaskResult) -> None:
        """Per-host lines (small runs) or a one-line summary and the failures grouped by message."""
        self._stop_progress()
        self.learn(task, result, self._detail)
        if self._detail:
            shown = self._shown.setdefault(result.task_index, set())
            for i in range(len(result.hosts)):
                if i in shown or (result.codes[i] == NOT_RUN and i not in result.skip_reasons):
                    continue  # printed with an earlier batch, or in a batch still to come
                shown.add(i)
                self._print_host(result.host_result(i), result.print_output)
            self._print_diffs(result)
            return
        counts = result.counts()
        self.console.print(
            f"{_title(result.task_index, task)}: {_summary(counts) or 'no hosts'} "
            f"[dim]({result.duration:.2f}s)[/]"
        )
        self._print_failure_groups(result)
        self._print_diffs(result)

    def _print_diffs(self, result: TaskResult) -> None:
        """``--diff``: each host's unified diff, coloured on a terminal (plain text otherwise)."""
        if not self.show_diff:
            return
        for i in sorted(result.diffs):
            text = str(self.mask(result.diffs[i]))
            if not text:
                continue
            self.console.print(f"  [bold]diff[/] {markup(result.hosts[i])}")
            for line in text.splitlines():
                style = _DIFF_STYLE.get(line[:3]) or _DIFF_STYLE.get(line[:1], "")
                shown = markup(printable(line))
                self.console.print(f"    [{style}]{shown}[/]" if style else f"    {shown}")

    def notice(self, message: str) -> None:
        """Print an operator notice."""
        self.console.print(f"[bold yellow]{markup(message, multiline=True)}[/]")

    def workflow_completed(self, result: WorkflowResult) -> None:
        """The recap (per task, per host or both), then the hosts' totals, honestly: a host that
        never ran is "not run", not "ok"."""
        self._stop_progress()
        if self.recap in (Recap.HOSTS, Recap.BOTH):
            _print_host_recap(self.console, result)
        if self.recap in (Recap.TASKS, Recap.BOTH):
            self.console.print(_task_recap(result))
        self.console.print(_final_line(result))

    # -- helpers -----------------------------------------------------------------------------------

    def _stop_progress(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._ticker is not None:
            self._ticker.stop()
            self._ticker = None

    def _print_host(self, r: Any, print_output: bool) -> None:
        """One host's line; the further lines of a multi-line result or error follow as an indented
        block (not lines starting at the left margin, where they read as other hosts' lines)."""
        style = _STATUS_STYLE.get(r.status, "")
        label = "failed (ignored)" if r.ignored else r.status.replace("_", " ")
        if r.error is not None and r.error.rescued:
            label = "failed (rescued)"
        line = f"  [{style}]{label:8}[/] {markup(r.host)}"
        block: str | None = None
        if r.status in ("skipped", "not_run") and r.skip_reason:
            line += f" [dim]({markup(r.skip_reason)})[/]"
        elif r.error is not None:
            first, block = _first_and_rest(safe_text(self.mask(r.error.message)))
            line += f"{_hook_label(r.error.hook)}: {markup(r.error.type)}: {markup(first)}"
        elif print_output and r.result is not None:
            text = _text_of(self.mask(plain(r.result)))
            if isinstance(r.result, str):
                first, block = _first_and_rest(text)
                line += f": {markup(_short(first))}" if first else ""
            elif text.strip():
                line += f": {markup(_short(text))}"
        self.console.print(line)
        if block is not None:
            self.console.print(_block(block))

    def _print_failure_groups(self, result: TaskResult) -> None:
        """Failures grouped by (ignored, hook, message): the largest groups first, each with its count
        and the first host names (``412 hosts: ... r0001, r0007, ... and 407 more``)."""
        groups = _failure_groups(result)
        for group in groups[:FAILURE_GROUPS_SHOWN]:
            label = "[yellow]failed (ignored)[/]" if group.ignored else "[bold red]failed[/]"
            message = markup(_one_line(str(self.mask(group.message))))
            names = [result.hosts[i] for i in group.positions]
            if len(names) == 1:
                who = markup(names[0])
                self.console.print(f"  {label} {who}{_hook_label(group.hook)}: {message}")
                continue
            shown = ", ".join(markup(n) for n in names[:HOSTS_PER_GROUP])
            more = f" and {len(names) - HOSTS_PER_GROUP} more" if len(names) > HOSTS_PER_GROUP else ""
            self.console.print(
                f"  {label} {len(names)} hosts{_hook_label(group.hook)}: {message}: {shown}{more}"
            )
        rest = groups[FAILURE_GROUPS_SHOWN:]
        if rest:
            hosts = sum(len(g.positions) for g in rest)
            self.console.print(
                f"  [dim]... and {len(rest)} more kind(s) of failure on {hosts} host(s) (all in --json)[/]"
            )


def _first_and_rest(text: str) -> tuple[str, str | None]:
    """A text's first line (on the host's line) and the rest, if any (an indented block below it)."""
    text = printable(text, multiline=True).strip("\n")
    first, newline, rest = text.partition("\n")
    return first.rstrip(), (rest if newline and rest.strip() else None)


def _block(text: str) -> str:
    """``text`` as an indented block of at most :data:`BLOCK_LINES` lines (markup-safe)."""
    lines = printable(text, multiline=True).strip("\n").split("\n")
    shown = [_BLOCK_INDENT + markup(line) for line in lines[:BLOCK_LINES]]
    if len(lines) > BLOCK_LINES:
        shown.append(f"{_BLOCK_INDENT}[dim]... {len(lines) - BLOCK_LINES} more line(s) (all in --json)[/]")
    return "\n".join(shown)


# -- failures, grouped -------------------------------------------------------------------------------


@dataclass
class _FailureGroup:
    ignored: bool
    hook: str | None
    message: str
    positions: list[int]


def _generalized(message: str, host: str) -> str:
    """``message`` with the host's own name (as a whole word) replaced by ``<host>``, so that
    "connection to r0001 timed out" and "connection to r0002 timed out" make one group."""
    if len(host) < 2 or host not in message:
        return message
    out, start = [], 0
    while True:
        at = message.find(host, start)
        if at < 0:
            break
        end = at + len(host)
        before = message[at - 1] if at else " "
        after = message[end] if end < len(message) else " "
        if not (before.isalnum() or before in "_-.") and not (after.isalnum() or after in "_-"):
            out.append(message[start:at] + "<host>")
        else:
            out.append(message[start:end])
        start = end
    out.append(message[start:])
    return "".join(out)


def _failure_groups(result: TaskResult) -> list[_FailureGroup]:
    """The task's failures (counted and ignored) grouped by message, largest group first, hosts in
    inventory order."""
    groups: dict[tuple[bool, str | None, str], _FailureGroup] = {}
    codes, errors, hosts = result.codes, result.errors, result.hosts
    positions = [i for i, e in errors.items() if e.ignored or codes[i] == FAILED]
    if FAILED in codes and len(positions) < codes.count(FAILED):  # a failure with no recorded error
        positions = sorted({*positions, *(i for i, c in enumerate(codes) if c == FAILED)})
    for i in sorted(positions):
        error = errors.get(i)
        if error is None:
            key: tuple[bool, str | None, str] = (False, None, "failed")
        else:
            key = (error.ignored, error.hook, _generalized(f"{error.type}: {error.message}", hosts[i]))
        group = groups.get(key)
        if group is None:
            groups[key] = group = _FailureGroup(key[0], key[1], key[2], [])
        group.positions.append(i)
    return sorted(groups.values(), key=lambda g: (g.ignored, -len(g.positions), g.positions[0]))


# -- the recap ---------------------------------------------------------------------------------------


def _task_recap(result: WorkflowResult) -> Table:
    """Per task: ok, changed, failed (counted), skipped, and the ignored failures and hosts that never
    started when there are any (those columns only appear then)."""
    counts = [task.counts() for task in result.tasks]
    ignored = any(c["ignored"] for c in counts)
    not_run = any(c["not_run"] for c in counts)
    columns = ["task", "ok", "changed", "failed"]
    columns += ["ignored"] if ignored else []
    columns += ["skipped"] + (["not run"] if not_run else []) + ["duration"]
    table = Table(title="recap", title_justify="left", show_edge=False)
    for column in columns:
        table.add_column(column, justify="left" if column == "task" else "right")
    for task, c in zip(result.tasks, counts, strict=True):
        failed = c["failed"] - c["ignored"]
        row = [
            f"{task.task_index + 1}. {markup(task.name)}{_controls(task)}",
            str(c["ok"]),
            str(c["changed"]),
        ]
        row.append(f"[red]{failed}[/]" if failed else "0")
        if ignored:
            row.append(f"[yellow]{c['ignored']}[/]" if c["ignored"] else "0")
        row.append(str(c["skipped"]))
        if not_run:
            row.append(f"[yellow]{c['not_run']}[/]" if c["not_run"] else "0")
        row.append(f"{task.duration:.2f}s")
        table.add_row(*row)
    return table


def _controls(task: TaskResult) -> str:
    """`` [throttle 2, tags a,b]``: a task's change controls in the recap (nothing when none)."""
    c = task.controls
    if not c:
        return ""
    parts = [f"throttle {c['throttle']}"] if "throttle" in c else []
    parts += [f"tags {','.join(c['tags'])}"] if "tags" in c else []
    parts += [f"check_mode {str(c['check_mode']).lower()}"] if "check_mode" in c else []
    return f" [dim]({markup(', '.join(parts))})[/]"


def _per_host_counts(result: WorkflowResult) -> dict[str, list[int]]:
    """For each status, how many of the run's tasks each host had in it (a list per status, in host
    order). Each task's codes become one 0/1 byte per host and the tasks are added as big integers,
    one byte lane per host: 100,000 hosts x 10 tasks in milliseconds."""
    n = len(result.hosts)
    if len(result.tasks) > 255:  # a lane would overflow: count host by host
        slow = {name: [0] * n for name in ("ok", "changed", "failed", "skipped", "not_run")}
        names = {OK: "ok", CHANGED: "changed", FAILED: "failed", SKIPPED: "skipped", NOT_RUN: "not_run"}
        for task in result.tasks:
            for i, code in enumerate(task.codes):
                slow[names[code]][i] += 1
        totals = slow
    else:
        totals = {}
        for name, code in (("ok", OK), ("changed", CHANGED), ("failed", FAILED), ("skipped", SKIPPED)):
            table = bytes(1 if c == code else 0 for c in range(256))
            lanes = sum(int.from_bytes(t.codes.translate(table), "little") for t in result.tasks)
            totals[name] = list(lanes.to_bytes(n, "little")) if n else []
        table = bytes(1 if c == NOT_RUN else 0 for c in range(256))
        lanes = sum(int.from_bytes(t.codes.translate(table), "little") for t in result.tasks)
        totals["not_run"] = list(lanes.to_bytes(n, "little")) if n else []
    ignored = [0] * n
    for task in result.tasks:
        for i, error in task.errors.items():
            if error.ignored:  # recorded as ok: an excused failure
                ignored[i] += 1
                totals["ok"][i] -= 1
    totals["ignored"] = ignored
    return totals


def _print_host_recap(console: Console, result: WorkflowResult) -> None:
    """A row per host: in how many tasks it was ok, changed, failed, skipped (and failed-but-ignored,
    not run, when any host has those); hosts that failed in red.

    Plain aligned lines written in chunks rather than a rich table: a table measures every cell, and
    100,000 rows took minutes; these take a few seconds.
    """
    counts = _per_host_counts(result)
    columns = ["ok", "changed", "failed"]
    columns += ["ignored"] if any(counts["ignored"]) else []
    columns += ["skipped"] + (["not_run"] if any(counts["not_run"]) else [])
    names = [printable(host) for host in result.hosts]
    width = max([len("host"), *map(len, names)])
    widths = [max(len(c), 3) for c in columns]
    header = (
        " "
        + "host".ljust(width)
        + "".join(f"  {c.replace('_', ' '):>{w}}" for c, w in zip(columns, widths, strict=True))
    )
    console.print("[italic]host recap[/]")
    console.out(header, style="bold", highlight=False)
    chunk: list[str] = []
    for i, name in enumerate(names):
        line = (
            " "
            + name.ljust(width)
            + "".join(f"  {counts[c][i]:>{w}}" for c, w in zip(columns, widths, strict=True))
        )
        if counts["failed"][i]:
            if chunk:
                console.out("\n".join(chunk), highlight=False)
                chunk = []
            console.out(line, style="red", highlight=False)
        else:
            chunk.append(line)
            if len(chunk) == 1000:
                console.out("\n".join(chunk), highlight=False)
                chunk = []
    if chunk:
        console.out("\n".join(chunk), highlight=False)


#: Styles of unified-diff lines, by their first characters.
_DIFF_STYLE = {"+++": "bold", "---": "bold", "@@ ": "cyan", "+": "green", "-": "red"}


def _final_line(result: WorkflowResult) -> str:
    """``OK 4 host(s): 4 ok, 0 failed in 0.12s``; when some hosts never started, how many ran and
    how many did not (``958 ran (0 ok, 3 failed, 955 unfinished), 4042 not run``)."""
    c = result.host_counts()
    status = "[bold red]FAILED[/]" if result.failed else "[bold green]OK[/]"
    if result.interrupted:
        status = "[bold yellow]INTERRUPTED[/]"
    done = [f"{c['ok']} ok", f"{c['failed']} failed"] + (
        [f"{c['unfinished']} unfinished"] if c["unfinished"] else []
    )
    if c["not_run"] or c["unfinished"]:
        hosts = f"{c['ran']} ran ({', '.join(done)}), {c['not_run']} not run"
    else:
        hosts = ", ".join(done)
    extra = f"; {markup(result.stopped)}" if result.stopped else ""
    if result.rescued_hosts:
        extra += f"; {len(result.rescued_hosts)} rescued"
    dry = " [dim](dry run)[/]" if result.dry_run else ""
    return f"{status} {c['total']} host(s): {hosts} in {result.duration:.2f}s{dry}{extra}"


# -- loading -----------------------------------------------------------------------------------------


class LoadingNotice:
    """Says that the inventory is loading when that takes longer than ``delay`` seconds (a spinner on
    a terminal, one line elsewhere), and afterwards how many hosts loaded in how long, so a 100,000-host
    inventory's first seconds are not a silent terminal. ``hosts`` is set by the caller once loaded."""

    def __init__(self, console: Console, delay: float | None = None) -> None:
        self.console = console
        self.delay = LOADING_NOTICE_AFTER if delay is None else delay
        self.hosts: int | None = None
        self._lock = threading.Lock()
        self._shown = False
        self._over = False
        self._status: Any = None
        self._timer: threading.Timer | None = None
        self._started = 0.0

    def __enter__(self) -> LoadingNotice:
        self._started = time.monotonic()
        if self.delay <= 0:
            self._show()
        else:
            self._timer = threading.Timer(self.delay, self._show)
            self._timer.daemon = True
            self._timer.start()
        return self

    def _show(self) -> None:
        with self._lock:
            if self._over:
                return
            self._shown = True
            if self.console.is_terminal:
                self._status = self.console.status("loading the inventory ...")
                self._status.start()
            else:
                self.console.print("loading the inventory ...")

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._over = True
            if self._timer is not None:
                self._timer.cancel()
            if self._status is not None:
                self._status.stop()
            shown = self._shown
        if shown and self.hosts is not None:
            elapsed = time.monotonic() - self._started
            self.console.print(f"[dim]inventory: {self.hosts} host(s) loaded in {elapsed:.1f}s[/]")
