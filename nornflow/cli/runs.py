"""``nornflow runs``: the journaled runs of a project, one run's recap and JSON, and ``@run:ID:failed``.

The journal itself is ``nornflow.run.journal``; reading it back is ``nornflow.run.resume``.
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from nornflow.cli.text import markup
from nornflow.exceptions import NornFlowError, UsageError
from nornflow.inventory import filters as filters_mod
from nornflow.run.journal import FORMAT, RESULT_FILE, JournalError, read_header, run_dirs
from nornflow.run.resume import find_run, load_run

__all__ = ["resume_args", "runs_app", "use_run_journals"]

runs_app = typer.Typer(
    help="The journaled runs of the project (.nornflow/runs): list them, show one.",
    invoke_without_command=True,
)

_PROJECT = typer.Option(None, "--project", "-C", help="Project directory (default: nearest nornflow.yaml).")
_SETTINGS = typer.Option(None, "--settings", help="Settings file (default: PROJECT/nornflow.yaml).")

#: What a run id looks like (``20261202T145501123Z-3fa9c1``), or the start of one.
_RUN_ID = re.compile(r"^\d{8}T\d")


def resume_args(args: list[str]) -> list[str]:
    """``--resume RUN_ID`` (and ``--resume=RUN_ID``) as the hidden ``--resume-run RUN_ID``: a bare
    ``--resume`` means the latest unfinished run, and a value after it is a run id only when it looks
    like one (a workflow name never starts with a date and a ``T``)."""
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            out += args[i:]
            break
        if arg.startswith("--resume="):
            out += ["--resume-run", arg.partition("=")[2]]
        elif arg == "--resume" and i + 1 < len(args) and _RUN_ID.match(args[i + 1]):
            out += ["--resume-run", args[i + 1]]
            i += 1
        else:
            out.append(arg)
        i += 1
    return out


def _base(project: Path | None, settings_file: Path | None) -> Path:
    from nornflow.cli.app import _settings

    return _settings(project, settings_file).base_dir


def use_run_journals(project: Path | None, settings_file: Path | None) -> None:
    """Let ``@run:RUN_ID:failed`` filter values read the project's journaled runs."""

    def hosts_of(run_id: str, what: str, option: str) -> list[str]:
        if what not in ("failed", "not_run", "all"):
            raise UsageError(f"{option}: @run:{run_id}:{what}: say failed, not_run or all", key=option)
        try:
            run = load_run(find_run(_base(project, settings_file), run_id))
        except JournalError as exc:
            raise UsageError(f"{option}: {exc.message}", file=exc.file) from None
        if what == "failed":
            names = run.failed_hosts()
        elif what == "not_run":
            names = run.result().not_run_hosts
        else:
            names = run.hosts
        if not names:
            raise UsageError(f"{option}: run {run.run_id} has no {what.replace('_', ' ')} host", key=option)
        return names

    filters_mod.RUN_HOSTS = hosts_of


def _when(stamp: Any) -> str:
    try:
        return datetime.datetime.fromtimestamp(float(stamp), datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")
    except (TypeError, ValueError, OverflowError):
        return "?"


@runs_app.callback()
def runs(
    ctx: typer.Context,
    project: Path | None = _PROJECT,
    settings_file: Path | None = _SETTINGS,
) -> None:
    """List the journaled runs: id, workflow, started, status, hosts ok / failed / not run."""
    if ctx.invoked_subcommand is not None:
        return
    from nornflow.cli.app import _fail

    try:
        base = _base(project, settings_file)
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    table = Table("run", "workflow", "started (UTC)", "status", "ok", "failed", "not run", show_edge=False)
    for directory in run_dirs(base):
        summary = _summary(directory)
        header = read_header(directory / "journal.log") if summary else None
        if summary and header and header.get("format") == FORMAT:  # ended: no need to read it all
            counts = summary.get("host_counts") or {}
            table.add_row(
                markup(directory.name),
                markup(str((header.get("workflow") or {}).get("name"))),
                _when(header.get("started")),
                markup(str(summary.get("status"))) + (" (resumed)" if summary.get("resumed") else ""),
                str(counts.get("ok", 0)),
                str(counts.get("failed", 0)),
                str(counts.get("not_run", 0) + counts.get("unfinished", 0)),
            )
            continue
        try:
            run = load_run(directory)
        except JournalError as exc:
            table.add_row(
                markup(directory.name), "-", "-", f"[red]unreadable: {markup(exc.message)}[/]", "", "", ""
            )
            continue
        counts = _counts(directory, run)
        table.add_row(
            markup(run.run_id),
            markup(str(run.header["workflow"].get("name"))),
            _when(run.header.get("started")),
            run.status() + (" (resumed)" if run.resumes else ""),
            str(counts.get("ok", 0)),
            str(counts.get("failed", 0)),
            str(counts.get("not_run", 0) + counts.get("unfinished", 0)),
        )
    Console(highlight=False, width=200).print(table)


def _summary(directory: Path) -> dict[str, Any] | None:
    """The run's ``summary.json`` (written when it ended), or None."""
    try:
        data = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _counts(directory: Path, run: Any) -> dict[str, int]:
    """The run's host counts: from its summary when it ended, else from the journal."""
    try:
        summary = json.loads((directory / "summary.json").read_text(encoding="utf-8"))
        if run.end is not None:
            return dict(summary["host_counts"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return run.result().host_counts()


@runs_app.command("show")
def show(
    run_id: str = typer.Argument(
        ..., help="The run (its id, or the start of it; `nornflow runs` lists them)."
    ),
    json_out: bool = typer.Option(
        False, "--json", help="Print the run's JSON document, as --json printed it."
    ),
    project: Path | None = _PROJECT,
    settings_file: Path | None = _SETTINGS,
) -> None:
    """Print a journaled run's recap, or (--json) the JSON document `nornflow run --json` gives."""
    from nornflow.cli.app import _fail
    from nornflow.cli.console import ConsoleReporter

    try:
        run = load_run(find_run(_base(project, settings_file), run_id))
    except NornFlowError as exc:
        raise _fail(exc, False) from None
    final = run.directory / RESULT_FILE
    if json_out and final.is_file():  # a walk of blocks or batches: its document, as --json gave it
        try:
            document = json.loads(final.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise _fail(JournalError(f"unreadable run document: {exc}", file=str(final)), False) from None
        typer.echo(json.dumps(document, indent=2))
        return
    result = run.result()
    if json_out:
        typer.echo(json.dumps(result.to_dict(), indent=2, default=str))
        return
    console = Console(highlight=False, soft_wrap=True)
    console.print(
        f"run {markup(run.run_id)}: workflow {markup(str(run.header['workflow'].get('name')))}, "
        f"started {_when(run.header.get('started'))} UTC, {run.status()}"
    )
    for resume in run.resumes:
        console.print(
            f"  resumed {_when(resume.get('at'))} UTC; "
            f"{len(resume.get('rerun') or [])} host-task(s) ran again"
        )
    if run.in_flight:
        console.print(
            f"  {len(run.in_flight)} host-task(s) had started when it stopped (--resume runs them again)"
        )
    ConsoleReporter(console).workflow_completed(result)
