"""Built-in tasks: ``echo``, ``set``, ``write_file`` and ``pause``, usable by name in any workflow
(``assert`` is in :mod:`nornflow.workflow.checks`)."""

from __future__ import annotations

import difflib
import os
import sys
import threading
import time
from pathlib import Path
from typing import Any

from nornir.core.task import Result, Task

from nornflow.exceptions import TaskError
from nornflow.workflow.checks import check_mode_safe

__all__ = ["echo", "pause", "set", "write_file"]


@check_mode_safe
def echo(task: Task, msg: Any = "", print_output: bool = True) -> Result:
    """Return ``msg`` as the host's result (handy to show rendered variables)."""
    return Result(host=task.host, result=msg)


@check_mode_safe
def set(task: Task, nornflow_vars: Any = None, **variables: Any) -> Result:
    """Set runtime variables for the host (highest precedence); its args are the variables."""
    if nornflow_vars is not None:
        for name, value in variables.items():
            nornflow_vars.set_runtime_var(task.host, name, value)
    return Result(host=task.host, result=dict(variables))


def write_file(
    task: Task,
    filename: str,
    content: Any,
    append: bool = False,
    mode: int | None = None,
    dry_run: bool | None = None,
) -> Result:
    """Write ``content`` to ``filename`` atomically (temp file + rename); changed only if it differs.

    With ``append``, many hosts (threads, or other nornflow processes) may append to one file: each
    append is a read-modify-write held under the path's lock, so every line lands once and whole.
    In dry-run mode nothing is written (not even the lock file); the result says what would change,
    with a unified diff.
    """
    from nornflow.fileio import PathLock, atomic_write

    path = Path(os.path.expanduser(str(filename)))
    text = content if isinstance(content, str) else str(content)
    is_dry = task.is_dry_run(dry_run)
    # Invariant: the read, the diff and the rename happen under one lock, so no other writer of this
    # path (thread, or with a real append another process) replaces the file in between and loses an
    # update. A dry run reads without the process lock: renames make every read whole anyway.
    lock = PathLock(path, across_processes=append and not is_dry)
    try:
        lock.acquire()
    except OSError as exc:
        raise _file_error("lock", path, exc) from exc
    try:
        try:
            old = path.read_text(encoding="utf-8")
            existed = True
        except FileNotFoundError:
            old, existed = "", False
        except OSError as exc:
            raise _file_error("read", path, exc) from exc
        new = old + text if append else text
        changed = (not existed) or new != old
        diff = "".join(
            difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True), str(path), str(path)
            )
        )
        if changed and not is_dry:
            try:
                atomic_write(path, new, mode=mode)
            except OSError as exc:
                raise _file_error("write", path, exc) from exc
    finally:
        lock.release()
    summary = {"path": str(path), "bytes": len(new.encode("utf-8")), "dry_run": is_dry}
    return Result(host=task.host, result=summary, changed=changed, diff=diff)


def _file_error(action: str, path: Path, exc: OSError) -> TaskError:
    """``cannot write PATH: reason``: an OSError from deep in the atomic write names the temp file or no
    file at all, and the operator needs to know which file of which host failed."""
    return TaskError(f"cannot {action} {path}: {exc.strerror or exc}")


#: One host at a time at the terminal: prompts of hosts running in parallel must not interleave.
_PROMPT_LOCK = threading.Lock()


def _duration(name: str, value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise TaskError(f"pause: {name} must be a number of {name} >= 0, got {value!r}")
    return float(value)


def pause(
    task: Task,
    seconds: float | None = None,
    minutes: float | None = None,
    prompt: str | bool | None = None,
    msg: str = "",
    timer: float | None = None,
    dry_run: bool | None = None,
) -> Result:
    """Wait ``seconds``/``minutes``, or, with ``prompt`` or no duration, until Enter is pressed.

    Each host waits on its own worker (hosts wait side by side, and a waiting host frees the runner
    to start others); add ``run_once: true`` to pause the run once. A prompt needs an interactive
    terminal: without one (stdin is not a TTY) the host fails, rather than go on unconfirmed. In dry
    run nothing waits. ``msg`` is shown with the prompt and in the result; ``timer`` is NornFlow 1.0's
    name for ``seconds`` (``timer: 0``, or no duration at all, prompts).
    """
    if timer is not None and (seconds is not None or minutes is not None):
        raise TaskError("pause: give timer (NornFlow 1.0's seconds) or seconds/minutes, not both")
    wait = _duration("seconds", seconds) + 60 * _duration("minutes", minutes) + _duration("timer", timer)
    if wait and prompt:
        raise TaskError("pause: give a duration (seconds, minutes) or a prompt, not both")
    note = f": {msg}" if msg else ""
    if task.is_dry_run(dry_run):
        what = f"{wait:g}s" if wait else "for Enter"
        return Result(host=task.host, result=f"dry run: would pause {what}{note}")
    if wait:
        time.sleep(wait)
        return Result(host=task.host, result=f"paused {wait:g}s{note}")
    stdin = sys.stdin
    if stdin is None or not stdin.isatty():
        raise TaskError(
            "pause: waiting for Enter needs an interactive terminal (stdin is not a TTY); "
            "give seconds or minutes to pause without one"
        )
    text = prompt if isinstance(prompt, str) and prompt.strip() else "Press Enter to continue"
    with _PROMPT_LOCK:
        sys.stderr.write(f"[{task.host.name}] {msg + ' - ' if msg else ''}{text} ")
        sys.stderr.flush()
        stdin.readline()
    return Result(host=task.host, result=f"continued after Enter{note}")
