"""The ``nornflow`` command line: init, run, validate, show, --version (typer + rich).

User errors (bad YAML, unknown task, invalid hook value, ...) print one line naming the file, task and
key, and exit with the code DESIGN.md gives; a traceback is shown only with ``--debug`` and never with
local variables (they may hold device passwords).
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from nornflow.cli.console import PROGRESS_INTERVAL, ConsoleReporter, LoadingNotice, Recap
from nornflow.cli.logfile import RunLog, log_to_file
from nornflow.cli.masking import Masker, log_to_stderr
from nornflow.cli.runs import resume_args, runs_app, use_run_journals
from nornflow.cli.text import markup, printable
from nornflow.exceptions import NornFlowError, UsageError
from nornflow.inventory.filters import parse_filters, parse_limit
from nornflow.run.api import NornFlow
from nornflow.run.driver import RunAborted
from nornflow.secrets import SecretRegistry
from nornflow.settings import ExecutorSettings, FailureStrategy, Settings, find_settings, settings_path

__all__ = ["ConsoleReporter", "app", "main"]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INVALID, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 4, 130

app = typer.Typer(
    name="nornflow",
    help="Run network-automation workflows written in YAML on Nornir, extended by hooks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode=None,
)
show_app = typer.Typer(
    help="Show tasks, hooks, filters, workflows, blueprints or settings.", no_args_is_help=True
)
app.add_typer(show_app, name="show")
app.add_typer(runs_app, name="runs")


class _Ctx:
    debug = False


def _parse_cli_value(text: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text) if text.strip() else ""
    except yaml.YAMLError:
        return text


_NEXT_KEY = re.compile(r"\s*[A-Za-z_][\w.-]*\s*=")


def _split_pairs(item: str) -> list[str]:
    """``"a=1, b='x, y'"`` as ``["a=1", " b='x, y'"]``: NornFlow 1.0's several assignments in one
    value. Only a comma outside quotes and brackets that is followed by ``key=`` separates two; any
    other comma belongs to the value (``msg=a,b`` is one assignment)."""
    parts: list[str] = []
    depth, quote, start = 0, "", 0
    for i, ch in enumerate(item):
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0 and _NEXT_KEY.match(item, i + 1):
            parts.append(item[start:i])
            start = i + 1
    parts.append(item[start:])
    return parts


def parse_assignments(items: Sequence[str], what: str = "--vars") -> dict[str, Any]:
    """Parse ``key=value`` pairs (values read as YAML, so ``n=3`` is an int and ``'x'`` a string); one
    item may hold several, NornFlow 1.0's way (``"a=1, b='two'"``)."""
    out: dict[str, Any] = {}
    for item in items:
        for pair in _split_pairs(item):
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise UsageError(f"{what} takes key=value, got {item!r}", key=what)
            out[key] = _parse_cli_value(value.strip())
    return out


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


def _fail(
    error: BaseException, debug: bool, mask: Callable[[str], str] | None = None, *, hint: bool = False
) -> typer.Exit:
    """Print ``error`` (masked; with its traceback, never its locals, under ``--debug``); the exit.

    ``hint``: the command ran outside any project, which is likely why a workflow, a task or the
    inventory was not found; the error says so and how to make one.
    """
    console = _err_console()
    mask = mask or (lambda text: text)
    if isinstance(error, NornFlowError):
        console.print(f"[bold red]error:[/] {markup(mask(str(error)), multiline=True)}")
        if hint and not isinstance(error, UsageError):
            console.print(
                f"[yellow]hint:[/] no nornflow.yaml in {markup(Path.cwd())} or its parents: this is not a "
                "nornflow project; `nornflow init DIR` creates one, --project DIR names one"
            )
        if debug:
            console.out(
                printable(mask("".join(traceback.format_exception(error))), multiline=True), highlight=False
            )
        return typer.Exit(error.exit_code)
    message = markup(mask(str(error)), multiline=True)
    console.print(f"[bold red]internal error:[/] {markup(type(error).__name__)}: {message}")
    if debug:
        console.out(
            printable(mask("".join(traceback.format_exception(error))), multiline=True), highlight=False
        )
    else:
        console.print("run again with --debug for a traceback")
    return typer.Exit(EXIT_INTERNAL)


def _outside_project(project: Path | None, settings_file: Path | None) -> bool:
    """Whether the command runs outside any project: no --project, no --settings, and no
    nornflow.yaml in the working directory or its parents."""
    if project is not None or settings_file is not None:
        return False
    try:
        return find_settings() is None
    except NornFlowError:
        return False


def _settings(project: Path | None, settings_file: Path | None) -> Settings:
    """``$NORNFLOW_SETTINGS``, else ``--settings``, else PROJECT/nornflow.yaml, else the nearest one."""
    path = settings_path(settings_file)
    if path is not None:
        return Settings.load(path)
    if project is not None:
        from nornflow.exceptions import SettingsError

        path = project / "nornflow.yaml"
        try:
            if path.is_file():
                return Settings.load(path)
            found = project.is_dir()
        except OSError as exc:  # a name the OS refuses to look up (too long, ...)
            shown = (
                str(project)
                if len(str(project)) <= 80
                else f"{str(project)[:60]}... ({len(str(project))} chars)"
            )
            raise SettingsError(
                f"project directory cannot be looked up: {exc.strerror or exc}", file=shown
            ) from None
        if not found:
            raise SettingsError("project directory not found", file=str(project))
        return Settings(base_dir=project.resolve())
    nearest = find_settings()
    return Settings.load(nearest) if nearest else Settings(base_dir=Path.cwd())


def _warn_if_also_a_task(engine: NornFlow, target: str) -> None:
    """A bare name that is a workflow and a task runs the workflow; NornFlow 1.0 ran the task (it
    told them apart by the extension), so say which one runs and how to run the other."""
    if target.endswith((".yaml", ".yml")) or target not in engine.catalog.tasks:
        return
    path = engine.find_workflow(target)
    if path is not None:
        info = engine.catalog.tasks[target]
        qualified = next((q for q, i in engine.catalog.qualified.items() if i is info), target)
        _err_console().print(
            f"[yellow]note:[/] {markup(repr(target))} is a workflow ({markup(str(path))}) and a task; "
            f"running the workflow (run the task as {markup(qualified)})"
        )


def _task_with_args(engine: NornFlow, target: str, args: dict[str, Any]) -> dict[str, Any]:
    """The one-task workflow of ``nornflow run TASK --args k=v``; ``--args`` is a usage error (exit 2)
    for a workflow, whose tasks take their args in the file."""
    if engine.find_workflow(target) is not None:
        raise UsageError(
            f"--args gives the arguments of a task run by name; {target!r} is a workflow (its tasks take "
            "their args in the workflow file; use --vars for variables)",
            key="--args",
        )
    engine.catalog.get(target)  # an unknown task: the catalog's error, naming the closest task
    return {"workflow": {"name": target, "tasks": [{"name": target, "args": args}]}}


def _engine(
    project: Path | None, settings_file: Path | None, workers: int | None = None, tune_gc: bool = False
) -> NornFlow:
    return NornFlow(_settings(project, settings_file), workers=workers, tune_gc=tune_gc)


_PROJECT = typer.Option(None, "--project", "-C", help="Project directory (default: nearest nornflow.yaml).")
_SETTINGS = typer.Option(
    None, "--settings", help="Settings file (default: $NORNFLOW_SETTINGS, else PROJECT/nornflow.yaml)."
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
    console.print(f"created a nornflow project in {markup(str(directory))} ({len(written)} files)")
    console.print(f"try: cd {markup(str(directory))} && nornflow run hello")


@app.command()
def schema(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write it to this file (default: stdout)."
    ),
    settings_schema: bool = typer.Option(
        False, "--settings-schema", help="The schema of nornflow.yaml instead of a workflow file's."
    ),
    project: Path | None = _PROJECT,
    settings_file: Path | None = _SETTINGS,
) -> None:
    """Write the JSON Schema of this project's workflow files (every hook, its own too) or nornflow.yaml."""
    from nornflow.workflow.schema import settings_schema as settings_doc
    from nornflow.workflow.schema import workflow_schema

    try:
        if not _outside_project(project, settings_file):
            _engine(project, settings_file)  # loads the project's hook dirs: their hooks are in the schema
        document = json.dumps(settings_doc() if settings_schema else workflow_schema(), indent=2) + "\n"
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    if output is None:
        sys.stdout.write(document)
        return
    _write_output_file(output, document, "--output", False)
    Console(stderr=True, highlight=False).print(f"wrote {markup(str(output))}")


@app.command()
def run(
    target: str = typer.Argument(..., help="A workflow (name or file) or a task name."),
    vars_: list[str] = typer.Option([], "--vars", "-e", help="Variable key=value (repeatable)."),
    args_: list[str] = typer.Option(
        [], "--args", "-a", help="Argument key=value of a task run by name (repeatable)."
    ),
    filter_: list[str] = typer.Option(
        [], "--filter", "-f", help="Inventory filter key=value; commas or a repeated key mean any of."
    ),
    limit: list[str] = typer.Option(
        [], "--limit", "-l", help="Only these hosts: names or @FILE (same as --filter hosts=...)."
    ),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="Run (on no host) when the filters select none, instead of exit 2."
    ),
    failure_strategy: FailureStrategy | None = typer.Option(None, "--failure-strategy", help="Override."),
    dry_run: bool | None = typer.Option(
        None,
        "--dry-run/--no-dry-run",
        "--check/--no-check",
        help="Check mode: tasks report, not change; tasks not check-mode safe are skipped.",
    ),
    diff: bool = typer.Option(
        False, "--diff", help="Show each host's diff (write_file, ...) on the console."
    ),
    tags: list[str] = typer.Option(
        [], "--tags", "-t", help="Only tasks with one of these tags (a,b; repeatable)."
    ),
    skip_tags: list[str] = typer.Option([], "--skip-tags", help="Leave out tasks with one of these tags."),
    start_at_task: str | None = typer.Option(
        None, "--start-at-task", help="Start at the first task with this description or name."
    ),
    list_tasks: bool = typer.Option(
        False, "--list-tasks", help="List the tasks that would run, with tags; run none."
    ),
    serial: str | None = typer.Option(
        None, "--serial", help="Rolling batches: hosts per batch, a percentage, or a list (1,10%,100%)."
    ),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1, help="Worker threads (per shard)."),
    executor: str | None = typer.Option(
        None, "--executor", help="Where hosts run: local (this process) or dask (shards, docs/scale-out.md)."
    ),
    shards: int | None = typer.Option(
        None, "--shards", min=1, max=1024, help="Dask shards (worker processes); implies --executor dask."
    ),
    scheduler: str | None = typer.Option(
        None, "--scheduler", help="An existing Dask scheduler (tcp://... or tls://...); implies dask."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Write the structured result to stdout (and the console to stderr)."
    ),
    json_file: Path | None = typer.Option(
        None, "--json-file", help="Write the structured result to this file; the console stays on stdout."
    ),
    failed_hosts: Path | None = typer.Option(
        None, "--failed-hosts", help="Write the names of the hosts that failed to this file (--limit @FILE)."
    ),
    recap: Recap = typer.Option(
        Recap.TASKS, "--recap", help="The recap at the end: a row per task, per host, or both."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Per-host lines even for large runs."),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Do not mask secrets in output."),
    no_journal: bool = typer.Option(False, "--no-journal", help="Do not journal this run (.nornflow/runs)."),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the latest unfinished run (--resume RUN_ID: that run)."
    ),
    resume_id: str | None = typer.Option(None, "--resume-run", hidden=True),
    force: bool = typer.Option(
        False, "--force", help="With --resume: resume although the workflow, inputs or inventory changed."
    ),
    project: Path | None = _PROJECT,
    settings_file: Path | None = _SETTINGS,
) -> None:
    """Run a workflow (or a single task) and print a recap; exit 1 if any host failed."""
    # With --json, stdout carries the JSON document and nothing else: the console goes to stderr, and
    # so does whatever a task prints (print() in any thread writes to the redirected sys.stdout).
    stdout = sys.stdout
    console = Console(stderr=json_out, highlight=False, soft_wrap=True)
    masker = Masker(SecretRegistry(), not show_secrets)
    run_log = RunLog()
    quiet_stdout = contextlib.redirect_stdout(sys.stderr) if json_out else contextlib.nullcontext()
    with log_to_stderr(debug, masker), quiet_stdout, contextlib.ExitStack() as stack:
        try:
            _check_output_file(json_file, "--json-file")
            _check_output_file(failed_hosts, "--failed-hosts")
            resumed = resume_id if resume_id is not None else ("" if resume else None)
            if resumed is not None and no_journal:
                raise UsageError("--resume continues a journaled run: leave out --no-journal", key="--resume")
            if force and resumed is None:
                raise UsageError("--force only applies to --resume", key="--force")
            cli_vars = parse_assignments(vars_, "--vars")
            task_args = parse_assignments(args_, "--args")
            use_run_journals(project, settings_file)
            filters = _cli_filters(filter_, limit)
            interval = _progress_interval()
            engine = _engine(project, settings_file, workers, tune_gc=True)  # a CLI run owns its process
            if masker.enabled and not engine.settings.mask_secrets:
                masker.enabled = False
                _err_console().print(
                    "[yellow]warning:[/] secrets are not masked in output, logs or JSON "
                    f"(mask_secrets: false in {markup(engine.settings.source or 'the settings')})"
                )
            run_log = stack.enter_context(log_to_file(engine.settings, target, masker))
            with LoadingNotice(console) as loading:
                inventory = engine.inventory
                masker.learn_inventory(inventory)
                loading.hosts = len(inventory.hosts)
            if args_:
                masker.learn(task_args)
                prepared = engine.load_workflow(_task_with_args(engine, target, task_args), vars=cli_vars)
            else:
                _warn_if_also_a_task(engine, target)
                prepared = engine.load_workflow(target, vars=cli_vars)
            masker.learn_vars(engine, prepared.model.vars, cli_vars, prepared.file)
            only, skip = _tag_list(tags), _tag_list(skip_tags)
            if list_tasks:
                _print_task_list(console, prepared, only, skip, start_at_task)
                raise typer.Exit(EXIT_OK)
            reporter = ConsoleReporter(
                console,
                verbose=verbose,
                mask=masker.mask_value,
                learn=masker.learn_task,
                recap=recap,
                progress_interval=interval,
                show_diff=diff,
            )
            run_log.started(target, len(engine.inventory.hosts))
            result = engine.run(
                prepared,
                vars=cli_vars,
                filters=filters or None,
                failure_strategy=failure_strategy,
                dry_run=dry_run,
                reporter=reporter,
                allow_empty=allow_empty,
                serial=serial,
                tags=only,
                skip_tags=skip,
                start_at_task=start_at_task,
                executor=_executor_spec(engine, executor, shards, scheduler),
                journal=not no_journal and engine.settings.journal,
                resume=resumed,
                force=force,
                mask=masker if masker.enabled else None,
            )
            run_log.finished(result)
        except NornFlowError as exc:
            run_log.failed(exc)
            raise _fail(exc, debug, masker.mask_text, hint=_outside_project(project, settings_file)) from None
        except typer.Exit:
            raise
        except RunAborted as aborted:  # a second signal: what is known, marked incomplete
            run_log.failed(KeyboardInterrupt("aborted"))
            result = aborted.result
            _err_console().print(
                "[bold yellow]aborted[/]: hosts still running were abandoned; the result is incomplete"
            )
        except KeyboardInterrupt:  # before the run started
            run_log.failed(KeyboardInterrupt("aborted"))
            _err_console().print("[bold yellow]aborted[/]")
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except Exception as exc:
            run_log.failed(exc)
            raise _fail(exc, debug, masker.mask_text) from None
    if failed_hosts is not None:
        names = result.failed_hosts
        header = (
            f"# nornflow run {result.workflow}: {len(names)} failed host(s); rerun them with --limit @FILE\n"
        )
        _write_output_file(
            failed_hosts, header + "".join(f"{name}\n" for name in names), "--failed-hosts", debug
        )
    if json_out or json_file is not None:
        # a value reaches another task's results only through a variable: knowing the secrets among
        # the variables is enough to mask them everywhere in the document
        masker.learn(result.variables)
        document = json.dumps(masker.mask_value(result.to_dict()), indent=2, allow_nan=False) + "\n"
        if json_file is not None:
            _write_output_file(json_file, document, "--json-file", debug)
        if json_out:
            stdout.write(document)
            stdout.flush()
    raise typer.Exit(result.exit_code)


def _tag_list(values: Sequence[str]) -> list[str]:
    """``--tags a,b --tags c``: every tag, once, in order."""
    return list(dict.fromkeys(t.strip() for v in values for t in v.split(",") if t.strip()))


def _print_task_list(
    console: Console, prepared: Any, only: list[str], skip: list[str], start_at_task: str | None
) -> None:
    """``--list-tasks``: the tasks that would run (after includes, blocks and the selection)."""
    from nornflow.run.selection import list_tasks, select_tasks

    selected, _ = select_tasks(prepared, only, skip, start_at_task)
    console.print(f"workflow {markup(prepared.model.name)}: {len(selected.tasks)} task(s)")
    for depth, section, label, task_tags in list_tasks(selected):
        where = f"{section}: " if section and section != "block" else ""
        shown = f"  [dim]tags: {', '.join(task_tags)}[/]" if task_tags else ""
        console.print(f"{'  ' * (depth + 1)}{markup(where + label)}{shown}")


def _executor_spec(
    engine: NornFlow, kind: str | None, shards: int | None, scheduler: str | None
) -> ExecutorSettings | None:
    """The settings' ``executor`` with ``--executor``/``--shards``/``--scheduler`` applied (None: as
    configured); ``--shards`` or ``--scheduler`` alone mean ``--executor dask``."""
    if kind is None and shards is None and scheduler is None:
        return None
    if kind is not None and kind not in ("local", "dask"):
        raise UsageError(f"--executor must be local or dask, got {kind!r}", key="--executor")
    if kind == "local" and (shards is not None or scheduler is not None):
        raise UsageError("--shards and --scheduler need --executor dask", key="--executor")
    current = engine.settings.executor
    update: dict[str, Any] = {"kind": kind or "dask"}
    if shards is not None:
        update["shards"] = shards
    if scheduler is not None:
        update["scheduler"] = scheduler
    try:
        return ExecutorSettings.model_validate({**current.model_dump(), **update})
    except ValueError as exc:
        errors: list[dict[str, Any]] = getattr(exc, "errors", lambda: [])()
        message = errors[0]["msg"] if errors else str(exc)
        raise UsageError(f"--scheduler: {message}", key="--scheduler") from None


def _progress_interval() -> float:
    """Seconds between plain progress lines off a terminal: ``NORNFLOW_PROGRESS_INTERVAL`` (a CI
    log may want one a minute), else the default."""
    import os

    text = os.environ.get("NORNFLOW_PROGRESS_INTERVAL", "").strip()
    if not text:
        return PROGRESS_INTERVAL
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 86400:
        raise UsageError(
            f"NORNFLOW_PROGRESS_INTERVAL must be a number of seconds > 0, got {text!r}",
            key="NORNFLOW_PROGRESS_INTERVAL",
        )
    return value


def _cli_filters(filter_: Sequence[str], limit: Sequence[str]) -> dict[str, list[Any]]:
    """The run's command-line filters: ``--filter`` items, and ``--limit`` as more ``hosts`` values."""
    filters = parse_filters(filter_)
    if limit:
        filters.setdefault("hosts", []).extend(parse_limit(limit))
    return filters


def _check_output_file(path: Path | None, option: str) -> None:
    """A file option naming a directory is a usage error, before anything runs."""
    if path is not None and path.is_dir():
        raise UsageError(f"{option} {path} is a directory, not a file", key=option)


def _write_output_file(path: Path, text: str, option: str, debug: bool) -> None:
    """Write ``text`` to ``path`` atomically (readers see the old file or the new one, never a part);
    a path that cannot be written is the option's fault: a usage error (exit 2)."""
    from nornflow.fileio import atomic_write

    try:
        atomic_write(path, text)
    except OSError as exc:
        error = UsageError(f"cannot write {option} {path}: {exc.strerror or exc}", key=option)
        raise _fail(error, debug) from None


@app.command()
def validate(
    target: str = typer.Argument(..., help="A workflow (name or file) or a task name."),
    vars_: list[str] = typer.Option(
        [], "--vars", "-e", help="Variable key=value, as for run (blueprint names and conditions see them)."
    ),
    filter_: list[str] = typer.Option([], "--filter", "-f", help="Inventory filter key=value, as for run."),
    limit: list[str] = typer.Option([], "--limit", "-l", help="Only these hosts: names or @FILE."),
    allow_empty: bool = typer.Option(
        False, "--allow-empty", help="Accept inventory filters that select no host."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks."),
    project: Path | None = _PROJECT,
    settings_file: Path | None = _SETTINGS,
) -> None:
    """Check a workflow without contacting a device: tasks, hooks, filters, inventory, and every
    variable and argument statically (what would fail on every host at run time is an error)."""
    console = Console(highlight=False, soft_wrap=True)
    warnings: list[str] = []
    try:
        cli_vars = parse_assignments(vars_, "--vars")
        filters = _cli_filters(filter_, limit)
        engine = _engine(project, settings_file)
        with LoadingNotice(_err_console()) as loading:
            loading.hosts = len(engine.inventory.hosts)
        prepared = engine.validate(
            target, allow_empty=allow_empty, vars=cli_vars, filters=filters or None, warn=warnings.append
        )
    except NornFlowError as exc:
        raise _fail(exc, debug, hint=_outside_project(project, settings_file)) from None
    except Exception as exc:
        raise _fail(exc, debug) from None
    errors = _err_console()
    for warning in warnings:
        errors.print(f"[yellow]{markup(warning, multiline=True)}[/]")
    model = prepared.model
    hooks = sum(len(t.model.hooks) for t in prepared.tasks)
    noted = f", {len(warnings)} warning(s)" if warnings else ""
    console.print(
        f"[green]valid[/]: workflow {markup(model.name)} ({len(prepared.tasks)} task(s), {hooks} hook(s), "
        f"{len(engine.inventory.hosts)} host(s) in inventory{noted})"
    )


@show_app.command("tasks")
def show_tasks(project: Path | None = _PROJECT, settings_file: Path | None = _SETTINGS) -> None:
    """List every task in the catalog with its source."""
    try:
        engine = _engine(project, settings_file)
    except NornFlowError as exc:
        raise _fail(exc, False, hint=_outside_project(project, settings_file)) from None
    table = Table("task", "description", "source", show_edge=False)
    for name in engine.catalog:
        info = engine.catalog.tasks[name]
        table.add_row(markup(name), markup(info.description), markup(info.source))
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
        table.add_row(markup(name), cls.phase, scope, markup(cls.describe()), markup(source))
    _out_console().print(table)


@show_app.command("filters")
def show_filters(project: Path | None = _PROJECT, settings_file: Path | None = _SETTINGS) -> None:
    """List the Jinja2 filters (nornflow's, Jinja2's, the project's) and the inventory filters."""
    from nornflow.inventory.filters import FILTERS
    from nornflow.jinja_filters import filter_catalog
    from nornflow.templating import environment

    try:
        _engine(project, settings_file)
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    console = _out_console()
    table = Table("jinja2 filter", "description", "source", title="Jinja2 filters", show_edge=False)
    for info in filter_catalog(environment):
        source = info.source + (f" (replaces the {info.overrides})" if info.overrides else "")
        table.add_row(markup(info.name), markup(info.description), markup(source))
    console.print(table)
    table = Table(
        "inventory filter", "takes", "description", "source", title="inventory filters", show_edge=False
    )
    for name in sorted(FILTERS):
        spec = FILTERS[name]
        table.add_row(markup(name), markup(spec.takes), markup(spec.description), markup(spec.source))
    table.add_row(
        "any other key",
        "value(s)",
        "hosts whose attribute or inventory data of that name matches",
        "nornflow",
    )
    console.print(table)


def _module_file(cls: type) -> str:
    module = sys.modules.get(cls.__module__)
    return getattr(module, "__file__", None) or cls.__module__


@show_app.command("workflows")
def show_workflows(project: Path | None = _PROJECT, settings_file: Path | None = _SETTINGS) -> None:
    """List the workflows in the project's workflow dirs, by the name `nornflow run` takes."""
    from nornflow.workflow.discovery import workflow_files
    from nornflow.workflow.loader import load_workflow_file

    try:
        engine = _engine(project, settings_file)  # blueprints expand as a run expands them
    except NornFlowError as exc:
        raise _fail(exc, False, hint=_outside_project(project, settings_file)) from None
    settings = engine.settings
    table = Table("workflow", "tasks", "description", "file", show_edge=False)
    dirs = [settings.resolve(d) for d in settings.workflow_dirs]
    for found in workflow_files(dirs, shadowed=True):
        shown = _project_path(found.path, settings.base_dir)
        if found.shadowed_by is not None:
            note = f"[dim](not run: {markup(_project_path(found.shadowed_by, settings.base_dir))} wins)[/]"
            table.add_row(markup(found.name), "-", note, markup(shown))
            continue
        try:
            model = load_workflow_file(found.path, context=engine.load_context(found.path))
        except NornFlowError as exc:
            table.add_row(markup(found.name), "-", f"[red]invalid: {markup(exc.message)}[/]", markup(shown))
            continue
        table.add_row(
            markup(found.name), str(len(model.tasks)), markup(model.description or ""), markup(shown)
        )
    _out_console().print(table)


def _project_path(path: Path, base: Path) -> str:
    """``path`` relative to the project directory when it is inside it (shorter, and the same on every
    machine), else as it is."""
    try:
        return path.resolve().relative_to(base.resolve()).as_posix()
    except ValueError:
        return str(path)


@show_app.command("blueprints")
def show_blueprints(project: Path | None = _PROJECT, settings_file: Path | None = _SETTINGS) -> None:
    """List the blueprints of the project's blueprint dirs: name, tasks, description, file."""
    try:
        engine = _engine(project, settings_file)
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    table = Table("blueprint", "tasks", "description", "file", show_edge=False)
    for name in engine.blueprints:
        for info in engine.blueprints.info(name):
            if info.problem:
                description = f"[red]invalid: {markup(info.problem)}[/]"
            else:
                description = markup(info.description)
            tasks = "-" if info.tasks is None else str(info.tasks)
            table.add_row(markup(name), tasks, description, markup(str(info.path)))
    _out_console().print(table)


@show_app.command("settings")
def show_settings(
    project: Path | None = _PROJECT,
    settings_file: Path | None = _SETTINGS,
    show_secrets: bool = typer.Option(False, "--show-secrets", help="Do not mask inline passwords."),
) -> None:
    """Print the effective settings as YAML that can be pasted back into nornflow.yaml (secrets of an
    inline inventory masked, as in every other output)."""
    import yaml

    from nornflow.secrets import add_secret_names, mask_data

    try:
        settings = _settings(project, settings_file)
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    data = settings.model_dump(mode="json", exclude_none=True, by_alias=True)
    masked = False
    if not show_secrets and settings.mask_secrets and data.get("inventory"):
        add_secret_names(settings.secret_names)
        inventory = mask_data(data["inventory"])  # the settings' own keys (mask_secrets) stay
        masked = inventory != data["inventory"]
        data["inventory"] = inventory
    lines = [f"# project directory: {settings.base_dir}"]
    lines.append(f"# settings file: {settings.source or '(none: defaults)'}")
    if masked:
        lines.append("# the inventory's secrets are masked (--show-secrets shows them)")
    if settings.spellings:
        lines.append("# keys the file spells as NornFlow 1.0 does (nornflow's key: the file's):")
        lines += [f"#   {key}: {spelled}" for key, spelled in settings.spellings.items()]
    typer.echo(printable("\n".join(lines), multiline=True))
    typer.echo(printable(yaml.safe_dump(data, sort_keys=False).rstrip(), multiline=True))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI (the console script goes through ``nornflow.__main__`` for a fast --version)."""
    app(args=resume_args(list(sys.argv[1:] if argv is None else argv)), prog_name="nornflow")


if __name__ == "__main__":  # pragma: no cover
    main()
