"""Atomic file writes, so a crash or a full disk never leaves a half-written output or config file."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

__all__ = ["atomic_write"]


def atomic_write(
    path: str | Path,
    data: str | bytes,
    *,
    encoding: str = "utf-8",
    mode: int | None = None,
    make_dirs: bool = True,
) -> Path:
    """Replace ``path`` with ``data`` all at once, so readers see the old or the new file, never a mix.

    The data goes to a temporary file in the same directory, is flushed and fsynced, gets the
    permission bits of the file it replaces (or ``mode``; a new file gets the usual ``0o666`` minus
    the umask when the umask can be read without changing it, else ``0o600``), and is then moved onto
    ``path`` with :func:`os.replace`; the directory is fsynced where the platform allows. A symlink at
    ``path`` is followed: the file it points to is replaced, the link stays. On any failure the
    temporary file is removed, the old file is left intact and the exception propagates unchanged.
    Returns the path of the file written.
    """
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    directory = target.parent
    if make_dirs:
        directory.mkdir(parents=True, exist_ok=True)
    payload = data.encode(encoding) if isinstance(data, str) else data
    if mode is None:
        try:
            mode = stat.S_IMODE(os.stat(target).st_mode)
        except FileNotFoundError:
            umask = _current_umask()
            mode = None if umask is None else 0o666 & ~umask

    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with open(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is not None:
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_directory(directory)
    return target


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; best effort, since not every platform can open or fsync a directory."""
    flags = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0)
    try:
        dir_fd = os.open(directory, flags)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def _current_umask() -> int | None:
    """The process umask, read from /proc on Linux; None elsewhere (``os.umask`` would race threads)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        return None
    return None
