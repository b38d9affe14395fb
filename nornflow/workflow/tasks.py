"""Built-in tasks: ``echo``, ``set``, ``write_file`` and ``pause``, usable by name in any workflow
(``assert`` is in :mod:`nornflow.workflow.checks`)."""

from __future__ import annotations

import difflib
import os
import stat
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nornir.core.task import Result, Task

from nornflow.exceptions import TaskError
from nornflow.workflow.checks import check_mode_safe

if TYPE_CHECKING:
    from nornflow.fileio import OutputPolicy

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
    mode: int | str | None = None,
    dry_run: bool | None = None,
    nornflow_files: OutputPolicy | None = None,
) -> Result:
    """Write ``content`` to ``filename`` atomically (temp file + rename); changed only if it differs.

    Relative paths resolve against the project; a path from a template or host data must stay inside
    the project or the ``output_dirs`` settings (``nornflow_files``, given by the run; called outside a
    run, against the current directory). A symlink as the file itself is refused, never followed.
    ``mode`` sets the permission bits (octal: ``0640``); by default a new file gets ``0666`` minus the
    umask and an existing one keeps its mode. With ``append``, many hosts (threads, or other nornflow
    processes) may append to one file: each append is a read-modify-write held under the path's lock,
    so every line lands once and whole. In dry-run mode nothing is written (not even the lock file);
    the result says what would change, with a unified diff.
    """
    from nornflow.fileio import OutputPolicy, PathLock, atomic_write, parse_mode

    try:
        bits = parse_mode(mode)
    except ValueError as exc:
        raise TaskError(f"write_file: {exc}") from None
    policy = nornflow_files or OutputPolicy.for_project(Path.cwd())
    try:
        path = policy.resolve(str(filename))
    except OSError as exc:
        raise TaskError(f"cannot write {exc.filename or filename}: {exc.strerror or exc}") from None
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
        old, existed, old_mode = _read_no_follow(path)
        new = old + text if append else text
        content_changed = (not existed) or new != old
        mode_changed = existed and bits is not None and bits != old_mode
        diff = "".join(
            difflib.unified_diff(
                old.splitlines(keepends=True), new.splitlines(keepends=True), str(path), str(path)
            )
        )
        if not is_dry:
            try:
                if content_changed:
                    atomic_write(path, new, mode=bits, follow_symlinks=False)
                elif mode_changed:
                    os.chmod(path, bits)  # type: ignore[arg-type]
            except OSError as exc:
                raise _file_error("write", path, exc) from exc
    finally:
        lock.release()
    summary = {"path": str(path), "bytes": len(new.encode("utf-8")), "dry_run": is_dry}
    if bits is not None:
        summary["mode"] = f"{bits:04o}"
    return Result(host=task.host, result=summary, changed=content_changed or mode_changed, diff=diff)


def _read_no_follow(path: Path) -> tuple[str, bool, int | None]:
    """``(text, existed, mode)`` of the file at ``path``, opened with O_NOFOLLOW: a symlink there (a
    planted one) is an error, never read through."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return "", False, None
    except OSError as exc:
        if os.path.islink(path):
            raise TaskError(
                f"cannot write {path}: it is a symbolic link (write_file never follows one)"
            ) from None
        raise _file_error("read", path, exc) from exc
    try:
        with open(fd, encoding="utf-8", closefd=True) as handle:
            fd = -1
            mode = stat.S_IMODE(os.fstat(handle.fileno()).st_mode)
            return handle.read(), True, mode
    except OSError as exc:
        raise _file_error("read", path, exc) from exc
    finally:
        if fd >= 0:
            os.close(fd)


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
