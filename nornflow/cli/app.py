"""The ``nornflow`` command line: init, run, validate, show, --version (typer + rich).

User errors (bad YAML, unknown task, invalid hook value, ...) print one line naming the file, task and
key, and exit with the code DESIGN.md gives; a traceback is shown only with ``--debug`` and never with
local variables (they may hold device passwords).
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from nornflow.exceptions import NornFlowError
from nornflow.models.task import TaskModel
from nornflow.models.workflow import WorkflowModel
from nornflow.run.engine import NornFlow, Reporter, parse_assignments
from nornflow.run.results import FAILED, TaskResult, WorkflowResult
from nornflow.secrets import SecretMaskingFilter, SecretRegistry, is_secret_key, mask_data
from nornflow.settings import FailureStrategy, Settings, find_settings

__all__ = ["ConsoleReporter", "app", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INVALID, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130
#: Runs with more host-tasks than this show a progress bar instead of per-host lines.
PER_HOST_LINES_LIMIT = 200
#: At most this many failures are listed per task (all are in --json).
MAX_FAILURES_SHOWN = 25

app = typer.Typer(
    name="nornflow",
    help="Run network-automation workflows written in YAML on Nornir, extended by hooks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
show_app = typer.Typer(help="Show tasks, hooks, workflows or settings.", no_args_is_help=True)
app.add_typer(show_app, name="show")


class _Ctx:
    debug = False


def _version_line() -> str:
    from nornflow._about import version_line

    return version_line()


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(_version_line())
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show version and hot path."
    ),
) -> None:
    """nornflow: YAML workflows with hooks on Nornir."""


# -- helpers -----------------------------------------------------------------------------------------


def _out_console() -> Console:
    """Console for listings: terminal width on a terminal, wide when piped (no truncated paths)."""
    console = Console(highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=200)
    return console


def _err_console() -> Console:
    return Console(stderr=True, highlight=False, soft_wrap=True)


def _fail(error: BaseException, debug: bool, mask: Callable[[str], str] | None = None) -> typer.Exit:
    """Print ``error`` (masked; with its traceback, never its locals, under ``--debug``); the exit."""
    console = _err_console()
    mask = mask or (lambda text: text)
    if isinstance(error, NornFlowError):
        console.print(f"[bold red]error:[/] {escape(mask(str(error)))}")
        if debug:
            console.out(mask("".join(traceback.format_exception(error))), highlight=False)
        return typer.Exit(error.exit_code)
    console.print(f"[bold red]internal error:[/] {escape(type(error).__name__)}: {escape(mask(str(error)))}")
    if debug:
        console.out(mask("".join(traceback.format_exception(error))), highlight=False)
    else:
        console.print("run again with --debug for a traceback")
    return typer.Exit(EXIT_INTERNAL)


def _settings(project: Path | None, settings_file: Path | None) -> Settings:
    if settings_file is not None:
        return Settings.load(settings_file)
    if project is not None:
        path = project / "nornflow.yaml"
        if path.is_file():
            return Settings.load(path)
        if not project.is_dir():
            from nornflow.exceptions import SettingsError

            raise SettingsError("project directory not found", file=str(project))
        return Settings(base_dir=project.resolve())
    found = find_settings()
    return Settings.load(found) if found else Settings(base_dir=Path.cwd())


def _engine(project: Path | None, settings_file: Path | None, workers: int | None = None) -> NornFlow:
    return NornFlow(_settings(project, settings_file), workers=workers)


_PROJECT = typer.Option(None, "--project", "-C", help="Project directory (default: nearest nornflow.yaml).")
_SETTINGS = typer.Option(None, "--settings", help="Settings file (default: PROJECT/nornflow.yaml).")

_STATUS_STYLE = {"ok": "green", "changed": "yellow", "failed": "bold red", "skipped": "dim"}


def _short(value: Any, limit: int = 300) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _hook_label(hook: str | None) -> str:
    """`` [hook NAME]`` for a failure line; the bracket is escaped, or rich would take it for markup
    and drop it, and the operator would not see which hook failed."""
    return escape(f" [hook {hook}]") if hook else ""


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
        title = f"[bold]workflow[/] {escape(workflow.name)}: {n_tasks} task(s) on {len(hosts)} host(s)"
        self.console.print(title)
        if workflow.description:
            self.console.print(f"[dim]{escape(workflow.description)}[/]")

    def task_started(self, task: TaskModel, index: int, hosts: int) -> None:
        """Show the task header (and start its progress bar on large runs)."""
        if self._detail:
            self.console.rule(f"[bold]{index + 1}. {escape(task.name)}[/]", align="left")
            return
        if self._bar_wanted:
            self._progress = _PolledProgress(
                TextColumn(f"{index + 1}. {escape(task.name)}"),
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
                label = "failed (ignored)" if r.ignored else r.status
                line = f"  [{style}]{label:8}[/] {escape(r.host)}"
                if r.status == "skipped" and r.skip_reason:
                    line += f" [dim]({escape(r.skip_reason)})[/]"
                elif r.error is not None:
                    hook = _hook_label(r.error.hook)
                    line += f"{hook}: {escape(self.mask(f'{r.error.type}: {r.error.message}'))}"
                elif result.print_output and r.result is not None:
                    line += f": {escape(_short(self.mask(r.result)))}"
                self.console.print(line)
            return
        summary = ", ".join(f"{v} {k}" for k, v in counts.items() if v)
        self.console.print(
            f"{result.task_index + 1}. [bold]{escape(task.name)}[/]: {summary or 'no hosts'} "
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
                    f"  [bold red]failed[/] {escape(result.hosts[i])}{hook}: {escape(self.mask(msg))}"
                )

    def notice(self, message: str) -> None:
        """Print an operator notice."""
        self.console.print(f"[bold yellow]{escape(message)}[/]")

    def workflow_completed(self, result: WorkflowResult) -> None:
        """The recap table: per task counts and durations, then the host totals."""
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        table = Table(title="recap", title_justify="left", show_edge=False)
        for column in ("task", "ok", "changed", "failed", "skipped", "duration"):
            table.add_column(column, justify="left" if column == "task" else "right")
        for task in result.tasks:
            c = task.counts()
            failed = f"{c['failed']}" + (f" ({c['ignored']} ignored)" if c["ignored"] else "")
            table.add_row(
                f"{task.task_index + 1}. {escape(task.name)}",
                str(c["ok"]),
                str(c["changed"]),
                f"[red]{failed}[/]" if c["failed"] else "0",
                str(c["skipped"]),
                f"{task.duration:.2f}s",
            )
        self.console.print(table)
        failed_hosts = result.failed_hosts
        ok_hosts = len(result.hosts) - len(failed_hosts)
        status = "[bold red]FAILED[/]" if result.failed else "[bold green]OK[/]"
        if result.interrupted:
            status = "[bold yellow]INTERRUPTED[/]"
        extra = f"; {escape(result.stopped)}" if result.stopped else ""
        dry = " [dim](dry run)[/]" if result.dry_run else ""
        self.console.print(
            f"{status} {len(result.hosts)} host(s): {ok_hosts} ok, {len(failed_hosts)} failed "
            f"in {result.duration:.2f}s{dry}{extra}"
        )


# -- commands ----------------------------------------------------------------------------------------


@app.command()
def init(
    directory: Path = typer.Argument(Path("."), help="Where to create the project."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing files."),
) -> None:
    """Create a project that runs at once, offline (inventory, tasks, a sample workflow)."""
    from nornflow.cli.project import create_project

    try:
        written = create_project(directory, force=force)
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    console = Console(highlight=False)
    console.print(f"created a nornflow project in {escape(str(directory))} ({len(written)} files)")
    console.print(f"try: cd {escape(str(directory))} && nornflow run hello")


@app.command()
def run(
    target: str = typer.Argument(..., help="A workflow (name or file) or a task name."),
    vars_: list[str] = typer.Option([], "--vars", "-e", help="Variable key=value (repeatable)."),
    filter_: list[str] = typer.Option([], "--filter", "-f", help="Inventory filter key=value (repeatable)."),
    failure_strategy: FailureStrategy | None = typer.Option(None, "--failure-strategy", help="Override."),
    dry_run: bool | None = typer.Option(None, "--dry-run/--no-dry-run", help="Tasks report, not change."),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1, help="Worker threads."),
    json_out: bool = typer.Option(False, "--json", help="Write the structured result to stdout."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Per-host lines even for large runs."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Do not mask secrets in output."),
    project: Path | None = _PROJECT,
    settings_file: Path | None = _SETTINGS,
) -> None:
    """Run a workflow (or a single task) and print a recap; exit 1 if any host failed."""
    console = Console(stderr=json_out, highlight=False, soft_wrap=True)
    masker = _Masker(SecretRegistry(), not show_secrets)
    with _log_to_stderr(debug, masker):
        try:
            engine = _engine(project, settings_file, workers)
            cli_vars = parse_assignments(vars_, "--vars")
            filters = parse_assignments(filter_, "--filter")
            masker.learn_inventory(engine.inventory)
            prepared = engine.load_workflow(target)
            masker.learn_vars(engine, prepared.model.vars, cli_vars)
            reporter = ConsoleReporter(
                console, verbose=verbose, mask=masker.mask_value, learn=masker.learn_task
            )
            result = engine.run(
                prepared,
                vars=cli_vars,
                filters=filters or None,
                failure_strategy=failure_strategy,
                dry_run=dry_run,
                reporter=reporter,
            )
        except NornFlowError as exc:
            raise _fail(exc, debug, masker.mask_text) from None
        except typer.Exit:
            raise
        except KeyboardInterrupt:
            _err_console().print("[bold yellow]aborted[/]")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            raise _fail(exc, debug, masker.mask_text) from None
    if json_out:
        # a value reaches another task's results only through a variable: knowing the secrets among
        # the variables is enough to mask them everywhere in the document
        masker.learn(result.variables)
        data = masker.mask_value(result.to_dict())
        sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
        sys.stdout.flush()
    raise typer.Exit(result.exit_code)


class _Masker:
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

    def learn_vars(self, engine: NornFlow, workflow_vars: Any, cli_vars: Any) -> None:
        """Secret-named variables of every layer: workflow, --vars, vars/defaults.yaml, environment."""
        if self.enabled:
            from nornflow.vars import env_vars

            self.learn([workflow_vars, cli_vars, engine._defaults_vars(), env_vars()])

    def learn_task(self, task: TaskModel, result: TaskResult, shown: bool) -> None:
        """Before a task's results are printed: all of them are secrets if ``set_to`` stores them in a
        secret-named variable (``set_to: api_token``); when they are ``shown`` (small runs,
        ``--verbose``), so are the values of secret-named keys in them (a ``set`` of ``api_key``)."""
        if not self.enabled:
            return
        target = task.hooks.get("set_to")
        names = [target] if isinstance(target, str) else list(target) if isinstance(target, Mapping) else []
        if any(is_secret_key(name) for name in names):
            self.registry.collect({"secret": list(result.payloads)})
        if shown:
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


@contextlib.contextmanager
def _log_to_stderr(debug: bool, masker: _Masker) -> Iterator[None]:
    """Send log records to stderr (warnings and errors; everything with ``--debug``), secrets masked.

    Without a handler, Python's last-resort handler would print a task's warnings unmasked.
    """
    threshold = logging.DEBUG if debug else logging.WARNING
    handler = logging.StreamHandler(sys.stderr)
    handler.setLevel(threshold)  # also for records of loggers that set a lower level themselves
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
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


@app.command()
def validate(
    target: str = typer.Argument(..., help="A workflow (name or file) or a task name."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    project: Path | None = _PROJECT,
    settings_file: Path | None = _SETTINGS,
) -> None:
    """Check a workflow (tasks, hooks, templates, filters, inventory) without contacting a device."""
    console = Console(highlight=False)
    try:
        engine = _engine(project, settings_file)
        prepared = engine.validate(target)
    except NornFlowError as exc:
        raise _fail(exc, debug) from None
    except Exception as exc:
        raise _fail(exc, debug) from None
    model = prepared.model
    hooks = sum(len(t.model.hooks) for t in prepared.tasks)
    console.print(
        f"[green]valid[/]: workflow {escape(model.name)} ({len(prepared.tasks)} task(s), {hooks} hook(s), "
        f"{len(engine.inventory.hosts)} host(s) in inventory)"
    )


@show_app.command("tasks")
def show_tasks(project: Path | None = _PROJECT, settings_file: Path | None = _SETTINGS) -> None:
    """List every task in the catalog with its source."""
    try:
        engine = _engine(project, settings_file)
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    table = Table("task", "description", "source", show_edge=False)
    for name in engine.catalog:
        info = engine.catalog.tasks[name]
        table.add_row(escape(name), escape(info.description), escape(info.source))
    _out_console().print(table)


@show_app.command("hooks")
def show_hooks(project: Path | None = _PROJECT, settings_file: Path | None = _SETTINGS) -> None:
    """List every registered hook: name, phase, scope, description, source."""
    from nornflow.hooks.registry import HOOK_REGISTRY

    try:
        _engine(project, settings_file)
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    table = Table("hook", "phase", "scope", "description", "source", show_edge=False)
    for name in sorted(HOOK_REGISTRY):
        cls = HOOK_REGISTRY[name]
        scope = "once per task" if cls.run_once_per_task else "per host"
        module = cls.__module__
        source = "nornflow (built-in)" if module.startswith("nornflow.") else _module_file(cls)
        table.add_row(escape(name), cls.phase, scope, escape(cls.describe()), escape(source))
    _out_console().print(table)


def _module_file(cls: type) -> str:
    module = sys.modules.get(cls.__module__)
    return getattr(module, "__file__", None) or cls.__module__


@show_app.command("workflows")
def show_workflows(project: Path | None = _PROJECT, settings_file: Path | None = _SETTINGS) -> None:
    """List the workflows in the project's workflow dirs."""
    from nornflow.workflow.loader import load_workflow_file

    try:
        engine = _engine(project, settings_file)
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    table = Table("workflow", "tasks", "description", "file", show_edge=False)
    for name, path in engine.workflows().items():
        try:
            model = load_workflow_file(path)
            table.add_row(
                escape(name), str(len(model.tasks)), escape(model.description or ""), escape(str(path))
            )
        except NornFlowError as exc:
            table.add_row(escape(name), "-", f"[red]invalid: {escape(exc.message)}[/]", escape(str(path)))
    _out_console().print(table)


@show_app.command("settings")
def show_settings(project: Path | None = _PROJECT, settings_file: Path | None = _SETTINGS) -> None:
    """Print the effective settings."""
    import yaml

    try:
        settings = _settings(project, settings_file)
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    typer.echo(yaml.safe_dump(settings.as_dict(), sort_keys=False).rstrip())


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI (the console script goes through ``nornflow.__main__`` for a fast --version)."""
    app(args=list(sys.argv[1:] if argv is None else argv), prog_name="nornflow")


if __name__ == "__main__":  # pragma: no cover
    main()
