"""Atomic file writes, so a crash or a full disk never leaves a half-written output or config file; a
path lock, so read-modify-write updates (appends) from many threads or processes lose nothing; and the
output policy, so a file name from a template or host data cannot write outside the project."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import stat
import tempfile
import threading
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

try:
    import fcntl
except ImportError:  # Windows: threads are still serialised, other processes are not (see PathLock)
    fcntl = None  # type: ignore[assignment]

__all__ = ["OutputPolicy", "OutputRefused", "PathLock", "atomic_write", "lock_file_for", "parse_mode"]

logger = logging.getLogger(__name__)

# One lock per real path, shared by every thread of the process. Weak values: a lock lives only while
# some thread holds or waits for it, so a run writing 100,000 files does not keep 100,000 locks.
_THREAD_LOCKS: weakref.WeakValueDictionary[str, threading.Lock] = weakref.WeakValueDictionary()
_THREAD_LOCKS_GUARD = threading.Lock()
# errnos meaning "this file system cannot flock": degrade to thread-only locking with a warning.
_NO_FLOCK = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}
_warned_degraded: set[str] = set()


def atomic_write(
    path: str | Path,
    data: str | bytes,
    *,
    encoding: str = "utf-8",
    mode: int | None = None,
    make_dirs: bool = True,
    follow_symlinks: bool = True,
) -> Path:
    """Replace ``path`` with ``data`` all at once, so readers see the old or the new file, never a mix.

    The data goes to a temporary file in the same directory, is flushed and fsynced, gets the
    permission bits of the file it replaces (or ``mode``; a new file gets the usual ``0o666`` minus
    the umask when the umask can be read without changing it, else ``0o600``), and is then moved onto
    ``path`` with :func:`os.replace`; the directory is fsynced where the platform allows. A symlink at
    ``path`` is followed: the file it points to is replaced, the link stays; with ``follow_symlinks``
    false it is an ``OSError`` (ELOOP) instead, and nothing is written. On any failure the temporary
    file is removed, the old file is left intact and the exception propagates unchanged. Returns the
    path of the file written.
    """
    if os.path.islink(path) and not follow_symlinks:
        raise OSError(errno.ELOOP, "it is a symbolic link (not followed)", str(path))
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


def parse_mode(value: object) -> int | None:
    """A file mode from a workflow: an int (``0o640``, or YAML 1.1's ``0640``) or octal text (``"640"``,
    ``"0o640"``); None stays None. Anything else, or bits beyond ``0o7777``, is a ``ValueError``."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower().removeprefix("0o")
        try:
            mode = int(text, 8)
        except ValueError:
            raise ValueError(f"mode must be octal permission bits such as 0644, got {value!r}") from None
    elif isinstance(value, int) and not isinstance(value, bool):
        mode = value
    else:
        raise ValueError(f"mode must be octal permission bits such as 0644, got {value!r}")
    if not 0 <= mode <= 0o7777:
        raise ValueError(f"mode must be octal permission bits between 0 and 7777, got {value!r}")
    return mode


class OutputRefused(OSError):
    """A path the output policy does not allow (outside the project and the output roots)."""


@dataclass(frozen=True)
class OutputPolicy:
    """Where a task may write: relative paths resolve against ``base`` (the project directory); the
    result must lie under one of ``roots`` (the project and the ``output_dirs`` settings) unless the
    workflow wrote that very path as a literal argument (``literals``: arg name -> its text, for args
    with no template), since a path that comes from a template or host data must not escape."""

    base: Path
    roots: tuple[Path, ...]
    literals: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def for_project(
        cls,
        base: str | Path,
        output_dirs: Iterable[str | Path] = (),
        literals: Mapping[str, str] | None = None,
    ) -> OutputPolicy:
        """The policy of a project: ``base`` and its ``output_dirs`` (relative ones against ``base``)."""
        root = Path(os.path.realpath(base))
        extra = [Path(os.path.realpath(root / Path(d).expanduser())) for d in output_dirs]
        return cls(root, tuple(dict.fromkeys([root, *extra])), dict(literals or {}))

    def resolve(self, filename: str | os.PathLike[str], arg: str = "filename") -> Path:
        """The absolute path ``filename`` (the value of the task's ``arg``) names, its directories
        resolved (symlinks too) and its final component kept as written; an :class:`OutputRefused`
        when it lies outside every root and the workflow did not name it literally."""
        text = os.fspath(filename)
        path = Path(os.path.expanduser(text))
        if not path.is_absolute():
            path = self.base / path
        if path.name in ("", ".", ".."):
            raise OutputRefused(errno.EISDIR, "not a file name", text)
        final = Path(os.path.realpath(path.parent)) / path.name
        if self.literals.get(arg) == text:
            return final
        if not any(final.is_relative_to(root) for root in self.roots):
            where = ", ".join(str(r) for r in self.roots)
            raise OutputRefused(
                errno.EACCES,
                f"outside the project and output_dirs ({where}); a path from a template or host data "
                "must stay inside them (name the path literally in the workflow, or add its directory "
                "to output_dirs)",
                str(final),
            )
        return final


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


def lock_file_for(path: str | Path) -> Path:
    """The sidecar lock file of ``path``: ``.NAME.lock`` beside the real file (symlinks resolved)."""
    target = Path(os.path.realpath(path))
    return target.with_name(f".{target.name}.lock")


class PathLock:
    """An exclusive lock on one file path, held across a read-modify-write of that file.

    Threads of this process are serialised by a per-path :class:`threading.Lock`; with
    ``across_processes`` other processes (a sharded run, two ``nornflow run``) are serialised too, by an
    advisory ``flock`` on the sidecar file :func:`lock_file_for` (the target itself cannot be locked: it
    is replaced by a rename, so a waiter would lock the old inode while a newcomer locks the new one).
    The sidecar is created on first use and never removed: unlinking it would let a newcomer lock a
    fresh file while a waiter still holds the old one. Where ``flock`` is unavailable (Windows, a file
    system without locks) only threads are serialised, and a warning says so once per process.
    Every process appending to the file must use this lock; it is advisory.
    """

    def __init__(self, path: str | Path, *, across_processes: bool = True) -> None:
        #: The real path (symlinks resolved, as :func:`atomic_write` follows them).
        self.target = Path(os.path.realpath(path))
        self.across_processes = across_processes
        self._thread_lock: threading.Lock | None = None
        self._fd: int | None = None

    def acquire(self) -> None:
        """Block until this thread holds the path; an OSError (cannot create the sidecar) propagates."""
        key = str(self.target)
        with _THREAD_LOCKS_GUARD:
            lock = _THREAD_LOCKS.get(key)
            if lock is None:
                lock = _THREAD_LOCKS[key] = threading.Lock()
        lock.acquire()
        self._thread_lock = lock  # the strong reference that keeps the weak entry alive while held
        if not self.across_processes:
            return
        try:
            self._fd = _flock(self.target)
        except BaseException:
            self._thread_lock = None
            lock.release()
            raise

    def release(self) -> None:
        """Release the process lock (closing the sidecar releases the flock), then the thread lock."""
        fd, self._fd = self._fd, None
        lock, self._thread_lock = self._thread_lock, None
        try:
            if fd is not None:
                os.close(fd)
        finally:
            if lock is not None:
                lock.release()

    def __enter__(self) -> Path:
        self.acquire()
        return self.target

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _flock(target: Path) -> int | None:
    """Open the sidecar of ``target`` and block on an exclusive flock; the fd, or None if degraded."""
    if fcntl is None:
        _warn_degraded("this platform has no fcntl")
        return None
    sidecar = lock_file_for(target)
    sidecar.parent.mkdir(parents=True, exist_ok=True)
    # Read-only is enough for flock, so a sidecar another user created (0644) still locks; no
    # O_TRUNC, and O_NOFOLLOW so a planted symlink cannot make us create a file elsewhere.
    flags = os.O_RDONLY | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(sidecar, flags, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # EINTR is retried by Python (PEP 475)
    except OSError as exc:
        os.close(fd)
        if exc.errno in _NO_FLOCK:
            _warn_degraded(f"the file system of {target.parent} cannot lock files ({exc.strerror})")
            return None
        raise
    except BaseException:
        os.close(fd)
        raise
    return fd


def _warn_degraded(reason: str) -> None:
    """Say once per process and reason that appends from other processes are not serialised."""
    with _THREAD_LOCKS_GUARD:
        if reason in _warned_degraded:
            return
        _warned_degraded.add(reason)
    logger.warning(
        "%s: appends to one file are serialised between the threads of this process only; "
        "do not append to the same file from two nornflow processes at once",
        reason,
    )
