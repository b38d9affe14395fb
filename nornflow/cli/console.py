"""Console output of a run: per-host lines for small runs, a progress bar for large ones, the recap."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nornflow._hotpath import FAILED
from nornflow.cli.text import markup
from nornflow.models.task import TaskModel
from nornflow.models.workflow import WorkflowModel
from nornflow.run.reporter import Reporter
from nornflow.run.results import TaskResult, WorkflowResult

__all__ = ["MAX_FAILURES_SHOWN", "PER_HOST_LINES_LIMIT", "ConsoleReporter"]

#: Runs with more host-tasks than this show a progress bar instead of per-host lines.
PER_HOST_LINES_LIMIT = 200
#: At most this many failures are listed per task (all are in --json).
MAX_FAILURES_SHOWN = 25

_STATUS_STYLE = {
    "ok": "green",
    "changed": "yellow",
    "failed": "bold red",
    "skipped": "dim",
    "not_run": "yellow",
}


def _short(value: Any, limit: int = 300) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hook_label(hook: str | None) -> str:
    """`` [hook NAME]`` for a failure line; the bracket is escaped, or rich would take it for markup
    and drop it, and the operator would not see which hook failed."""
    return markup(f" [hook {hook}]") if hook else ""


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


class _PolledProgress(Progress):
    """A progress bar that reads its count from the running task at each refresh (8 per second, in
    rich's refresh thread), so the hosts themselves never report to it."""

    bar: Any = None
    done: Callable[[], int] | None = None

    def get_renderables(self) -> Iterable[Any]:
        """Update the count, then render as usual."""
        if self.done is not None and self.bar is not None:
            self.update(self.bar, completed=self.done())
        yield from super().get_renderables()


class ConsoleReporter(Reporter):
    """Human output: per-host lines for small runs, a progress bar for large ones, failures always."""

    def __init__(
        self, console: Console, *, verbose: bool = False, mask: Any = None, learn: Any = None
    ) -> None:
        self.console = console
        self.verbose = verbose
        self.mask = mask or (lambda value: value)
        #: called with (task, result, payloads_shown) before a task's results are printed, to learn
        #: the secrets they hold
        self.learn = learn or (lambda task, result, shown: None)
        self._bar_wanted = False
        self._progress: _PolledProgress | None = None
        self._lock = threading.Lock()
        self._detail = True

    def workflow_started(self, workflow: WorkflowModel, hosts: Sequence[str]) -> None:
        """Print the header; choose per-host lines or a progress bar by run size."""
        n_tasks = len(workflow.tasks)
        self._detail = self.verbose or len(hosts) * n_tasks <= PER_HOST_LINES_LIMIT
        self._bar_wanted = not self._detail and self.console.is_terminal
        title = f"[bold]workflow[/] {markup(workflow.name)}: {n_tasks} task(s) on {len(hosts)} host(s)"
        self.console.print(title)
        if workflow.description:
            self.console.print(f"[dim]{markup(workflow.description)}[/]")

    def task_started(self, task: TaskModel, index: int, hosts: int) -> None:
        """Show the task header (and start its progress bar on large runs)."""
        if self._detail:
            self.console.rule(f"[bold]{index + 1}. {markup(task.name)}[/]", align="left")
            return
        if self._bar_wanted:
            self._progress = _PolledProgress(
                TextColumn(f"{index + 1}. {markup(task.name)}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.console,
                transient=True,
                refresh_per_second=8,
            )
            self._progress.bar = self._progress.add_task(task.name, total=hosts)

    def task_running(self, task: TaskModel, result: TaskResult) -> None:
        """Start the progress bar: it counts the finished hosts in ``result`` at each refresh."""
        progress = self._progress
        if progress is not None:
            total = result.pending()
            progress.done = lambda: total - result.pending()
            progress.start()

    def task_completed(self, task: TaskModel, result: TaskResult) -> None:
        """Per-host lines (small runs) or a one-line summary, then every failure."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self.learn(task, result, self._detail)
        counts = result.counts()
        if self._detail:
            for r in result:
                style = _STATUS_STYLE.get(r.status, "")
                label = "failed (ignored)" if r.ignored else r.status.replace("_", " ")
                line = f"  [{style}]{label:8}[/] {markup(r.host)}"
                if r.status in ("skipped", "not_run") and r.skip_reason:
                    line += f" [dim]({markup(r.skip_reason)})[/]"
                elif r.error is not None:
                    hook = _hook_label(r.error.hook)
                    line += f"{hook}: {markup(self.mask(f'{r.error.type}: {r.error.message}'))}"
                elif result.print_output and r.result is not None:
                    line += f": {markup(_short(self.mask(r.result)))}"
                self.console.print(line)
            return
        summary = _summary(counts)
        self.console.print(
            f"{result.task_index + 1}. [bold]{markup(task.name)}[/]: {summary or 'no hosts'} "
            f"[dim]({result.duration:.2f}s)[/]"
        )
        shown = 0
        for i, code in enumerate(result.codes):
            error = result.errors.get(i)
            if code == FAILED or (error is not None and error.ignored):
                if shown == MAX_FAILURES_SHOWN:
                    self.console.print(
                        f"  [dim]... and {counts['failed'] - shown} more failure(s) (see --json)[/]"
                    )
                    break
                shown += 1
                hook = _hook_label(error.hook if error else None)
                msg = f"{error.type}: {error.message}" if error else "failed"
                self.console.print(
                    f"  [bold red]failed[/] {markup(result.hosts[i])}{hook}: {markup(self.mask(msg))}"
                )

    def notice(self, message: str) -> None:
        """Print an operator notice."""
        self.console.print(f"[bold yellow]{markup(message)}[/]")

    def workflow_completed(self, result: WorkflowResult) -> None:
        """The recap table (per task counts and durations), then the hosts' totals, honestly: a host
        that never ran is "not run", not "ok"."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self.console.print(_task_recap(result))
        self.console.print(_final_line(result))


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
        row = [f"{task.task_index + 1}. {markup(task.name)}", str(c["ok"]), str(c["changed"])]
        row.append(f"[red]{failed}[/]" if failed else "0")
        if ignored:
            row.append(f"[yellow]{c['ignored']}[/]" if c["ignored"] else "0")
        row.append(str(c["skipped"]))
        if not_run:
            row.append(f"[yellow]{c['not_run']}[/]" if c["not_run"] else "0")
        row.append(f"{task.duration:.2f}s")
        table.add_row(*row)
    return table


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
    dry = " [dim](dry run)[/]" if result.dry_run else ""
    return f"{status} {c['total']} host(s): {hosts} in {result.duration:.2f}s{dry}{extra}"
