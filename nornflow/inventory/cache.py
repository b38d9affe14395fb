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
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import marshal
import os
import pathlib
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
    if path is None:
        return None
    try:
        blob = path.read_bytes()
    except OSError:
        return None
    try:
        entry = marshal.loads(blob)
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
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        # Inventories hold passwords: the entries are the owner's alone, as private as ~/.ssh
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(blob)
        os.replace(temporary, path)
    except OSError as exc:
        logger.debug("cannot write the inventory cache entry %s: %s", path, exc)
        with contextlib.suppress(OSError):
            temporary.unlink()
        return False
    _prune(path.parent)
    return True


def _prune(directory: pathlib.Path) -> None:
    """Keep the :data:`KEEP` most recently used entries."""
    try:
        entries = sorted(directory.glob("*" + _SUFFIX), key=lambda p: p.stat().st_mtime, reverse=True)
    except OSError:
        return
    for old in entries[KEEP:]:
        with contextlib.suppress(OSError):
            old.unlink()
