"""A cache of parsed inventory files, so a big inventory is parsed once, not on every run.

Parsing a 100,000-host ``hosts.yaml`` (16 MB) takes ~3 s, most of it in libyaml's event stream; reading
back the parsed data with :mod:`marshal` takes ~0.5 s. Entries are keyed by the SHA-256 of the file's
bytes, its encoding, and the versions of Python, PyYAML and this parser (the source of
``nornflow/inventory/plugin.py``), so a cached entry can never be stale: any edit to the file, or an upgrade,
is a miss.

Only files of at least :data:`MIN_BYTES` are cached (smaller ones parse faster than they hash and
load). Entries live in ``$NORNFLOW_CACHE_DIR``, else ``$XDG_CACHE_HOME/nornflow/inventory``, else
``~/.cache/nornflow/inventory``; the :data:`KEEP` most recently used are kept. ``NORNFLOW_NO_CACHE=1``
turns the cache off. A cache that cannot be read or written (read-only home, full disk, a corrupt or
foreign file) is skipped with a debug log record: it only ever costs the parse it would have saved.
Writes are atomic (a temporary file renamed into place), so concurrent runs never see half an entry.
Inventories hold passwords, so entries are created readable by their owner only (0600, in a 0700
directory), like the files in ``~/.ssh``.

Trust. :mod:`marshal` is not safe on corrupt or hostile data (a damaged entry can crash the
interpreter), so no byte of an entry reaches it unverified: each entry carries an HMAC-SHA256 of its
name and payload under a random key kept in the cache directory (``key``, 0600, made on first use).
A random key rather than one derived from the user's name or uid, because anything derived from public
facts can be recomputed by whoever plants an entry; the key file is as private as the entries. A wrong
or missing MAC, a short entry, or an entry of an older format is a miss: the file is parsed and the
entry rewritten. Like ssh with ``~/.ssh``, the directory itself must be a real directory (not a
symlink) owned by the current user and not writable by group or others, and the key and entries must
be regular files owned by the user and private to them; otherwise the cache is not used (one warning
per process and directory) and inventories are parsed without it. Parent directories are not checked:
whoever can write a parent can remove or replace the cache directory, but what they put in its place is
theirs or a symlink (both refused), and cannot carry entries signed with the user's key. On platforms
without uids (Windows) the owner and mode checks are skipped; the MAC is still checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import importlib.util
import logging
import marshal
import os
import pathlib
import secrets
import stat
import threading
from typing import Any

import yaml

from nornflow._envflags import env_flag

__all__ = ["KEEP", "MIN_BYTES", "cache_dir", "load", "store"]

logger = logging.getLogger(__name__)

#: Files smaller than this are not cached.
MIN_BYTES = 1 << 20
#: How many entries the cache keeps (the least recently used go first).
KEEP = 8
_SUFFIX = ".marshal"
#: First bytes of an entry of this format: then the MAC, then the marshal payload.
_MAGIC = b"nornflow-inventory-cache/2\n"
_KEY_FILE = "key"
_KEY_BYTES = 32
_MAC_BYTES = hashlib.sha256().digest_size
_OPEN_FLAGS = getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _salt() -> bytes:
    """What, besides the file, decides the parsed result: Python, PyYAML and the parser's source."""
    parser = pathlib.Path(__file__).with_name("plugin.py")
    try:
        source = parser.read_bytes()
    except OSError:  # e.g. a zipped install: fall back to the package version
        from nornflow._version import __version__

        source = __version__.encode()
    return b"|".join(
        [importlib.util.MAGIC_NUMBER, yaml.__version__.encode(), hashlib.sha256(source).digest()]
    )


_SALT = _salt()


def cache_dir() -> pathlib.Path | None:
    """Where entries live, or None when the cache is off (``NORNFLOW_NO_CACHE``)."""
    try:
        if env_flag("NORNFLOW_NO_CACHE"):
            return None
    except ValueError as exc:
        logger.warning("%s; the inventory cache stays on", exc)
    explicit = os.environ.get("NORNFLOW_CACHE_DIR")
    if explicit:
        return pathlib.Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(base) / "nornflow" / "inventory"


def _entry(raw: bytes, encoding: str) -> pathlib.Path | None:
    directory = cache_dir()
    if directory is None or len(raw) < MIN_BYTES:
        return None
    key = hashlib.sha256(_SALT + b"|" + encoding.encode() + b"|" + raw).hexdigest()
    return directory / (key + _SUFFIX)


def load(raw: bytes, encoding: str) -> tuple[Any, dict[Any, int]] | None:
    """The parsed ``(data, top-level key lines)`` of a file with these bytes, or None on a miss."""
    path = _entry(raw, encoding)
    if path is None or not _trusted_directory(path.parent, create=False):
        return None
    key = _read_key(path.parent)
    blob = None if key is None else _read_private_file(path)
    if key is None or blob is None:
        return None
    payload = _unseal(key, path.name, blob)
    if payload is None:
        logger.debug("ignoring inventory cache entry %s: damaged, or not written by nornflow for you", path)
        return None
    # Invariant: only bytes whose MAC verified under this user's key reach marshal.
    try:
        entry = marshal.loads(payload)
    except (EOFError, ValueError, TypeError) as exc:
        logger.debug("ignoring unreadable inventory cache entry %s: %s", path, exc)
        return None
    if not (isinstance(entry, tuple) and len(entry) == 2 and isinstance(entry[1], dict)):
        logger.debug("ignoring inventory cache entry %s: not an entry of this version", path)
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return entry[0], entry[1]


def store(raw: bytes, encoding: str, data: Any, lines: dict[Any, int]) -> bool:
    """Cache the parse of a file with these bytes; False when it is not cached (small, off, failed)."""
    path = _entry(raw, encoding)
    if path is None:
        return False
    try:
        blob = marshal.dumps((data, lines))
    except ValueError:  # a value marshal cannot hold (a YAML timestamp is a datetime): parse each time
        logger.debug("inventory with values marshal cannot store: not cached")
        return False
    if not _trusted_directory(path.parent, create=True):
        return False
    key = _read_key(path.parent) or _new_key(path.parent)
    if key is None:
        return False
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        # Inventories hold passwords: the entries are the owner's alone, as private as ~/.ssh
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _OPEN_FLAGS, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(_MAGIC)
            out.write(_mac(key, path.name, blob))
            out.write(blob)
        os.replace(temporary, path)
    except OSError as exc:
        logger.debug("cannot write the inventory cache entry %s: %s", path, exc)
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    _prune(path.parent)
    return True


def _mac(key: bytes, name: str, payload: bytes | memoryview) -> bytes:
    """HMAC-SHA256 of an entry's file name and payload: a valid entry cannot be renamed onto another file."""
    mac = hmac.new(key, name.encode() + b"\0", hashlib.sha256)
    mac.update(payload)
    return mac.digest()


def _unseal(key: bytes, name: str, blob: bytes) -> memoryview | None:
    """The payload of an entry whose magic and MAC are right, else None (without looking further)."""
    start = len(_MAGIC) + _MAC_BYTES
    if len(blob) < start or not blob.startswith(_MAGIC):
        return None
    payload = memoryview(blob)[start:]
    if not hmac.compare_digest(blob[len(_MAGIC) : start], _mac(key, name, payload)):
        return None
    return payload


def _trusted_directory(directory: pathlib.Path, *, create: bool) -> bool:
    """Whether the cache may use ``directory`` (made 0700 first when ``create``); see the module doc."""
    if create:
        try:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            logger.debug("cannot create the inventory cache directory %s: %s", directory, exc)
            return False
    try:
        status = os.lstat(directory)
    except OSError:  # not there yet (a miss), or a file in the way (logged by the store that failed)
        return False
    reason: str | None
    if stat.S_ISLNK(status.st_mode):
        reason = "a symbolic link (set NORNFLOW_CACHE_DIR to the real directory)"
    elif not stat.S_ISDIR(status.st_mode):
        logger.debug("the inventory cache directory %s is not a directory", directory)
        return False
    else:
        reason = _refusal(status, private=False)
    if reason is None:
        return True
    _warn_once(directory, reason)
    return False


def _refusal(status: os.stat_result, *, private: bool) -> str | None:
    """Why a directory or file with this status cannot be trusted, or None; ``private``: nobody else
    may read it either (the key, entries holding passwords)."""
    uid = _euid()
    if uid is None:
        return None
    if status.st_uid != uid:
        return f"owned by uid {status.st_uid}, not by the current user (uid {uid})"
    mode = stat.S_IMODE(status.st_mode)
    if mode & (0o077 if private else 0o022):
        kind = "accessible" if private else "writable"
        return f"{kind} by group or others (mode {mode:04o})"
    return None


def _euid() -> int | None:
    """The effective user id, or None where the platform has none (no owner or mode checks there)."""
    geteuid = getattr(os, "geteuid", None)
    return None if geteuid is None else geteuid()


def _warn_once(directory: pathlib.Path, reason: str) -> None:
    """Say once per process and directory why the cache is not used (every load would ask again)."""
    with _warned_lock:
        if str(directory) in _warned:
            return
        _warned.add(str(directory))
    logger.warning(
        "not using the inventory cache in %s: it is %s; inventories are parsed without the cache",
        directory,
        reason,
    )


def _read_private_file(path: pathlib.Path) -> bytes | None:
    """The bytes of ``path`` if it is a regular file, owned by the user and private to them, else None."""
    try:
        fd = os.open(path, os.O_RDONLY | _OPEN_FLAGS)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        try:
            status = os.fstat(fd)
            reason = (
                "not a regular file" if not stat.S_ISREG(status.st_mode) else _refusal(status, private=True)
            )
            if reason is not None:
                logger.debug("ignoring inventory cache file %s: %s", path, reason)
                return None
            return handle.read()
        except OSError:
            return None


def _read_key(directory: pathlib.Path) -> bytes | None:
    """The cache's MAC key, or None if there is none yet or it is damaged or not private."""
    key = _read_private_file(directory / _KEY_FILE)
    return key if key is not None and len(key) == _KEY_BYTES else None


def _new_key(directory: pathlib.Path) -> bytes | None:
    """Make the cache's key (replacing a damaged or non-private one); another process's new key wins."""
    path = directory / _KEY_FILE
    temporary = directory / f".{_KEY_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
    key = secrets.token_bytes(_KEY_BYTES)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _OPEN_FLAGS, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key)
        try:
            # Link, not rename: it fails if a concurrent process made a key first, and then its key
            # (already used to sign its entries) is the one kept.
            os.link(temporary, path)
        except FileExistsError:
            existing = _read_key(directory)
            if existing is not None:
                return existing
            os.replace(temporary, path)  # the existing key is damaged or not private: replace it
        except OSError:  # no hard links on this file system
            os.replace(temporary, path)
    except OSError as exc:
        logger.debug("cannot create the inventory cache key in %s: %s", directory, exc)
        return None
    finally:
        with contextlib.suppress(OSError):
            temporary.unlink()
    return key


def _prune(directory: pathlib.Path) -> None:
    """Keep the :data:`KEEP` most recently used entries."""
    try:
        entries = sorted(directory.glob("*" + _SUFFIX), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in entries[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()
