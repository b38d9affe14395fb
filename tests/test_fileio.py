"""Tests for nornflow.fileio.atomic_write: content, permissions, and no damage on failure."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from nornflow import fileio
from nornflow.fileio import atomic_write


def _perm(path: Path) -> int:
    """Permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)


def test_writes_str_and_returns_path(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    result = atomic_write(target, "héllo\nwörld\n")
    assert result == target
    assert target.read_bytes() == "héllo\nwörld\n".encode()
    assert sorted(tmp_path.iterdir()) == [target]


def test_writes_bytes_verbatim(tmp_path: Path) -> None:
    target = tmp_path / "blob.bin"
    payload = bytes(range(256)) * 10
    atomic_write(str(target), payload)
    assert target.read_bytes() == payload


def test_encoding_is_applied(tmp_path: Path) -> None:
    target = tmp_path / "latin.txt"
    atomic_write(target, "café", encoding="latin-1")
    assert target.read_bytes() == b"caf\xe9"


def test_replaces_existing_file(tmp_path: Path) -> None:
    target = tmp_path / "cfg.txt"
    target.write_text("old contents that are longer than the new ones\n")
    atomic_write(target, "new\n")
    assert target.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cfg.txt"]


def test_creates_parent_directories(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "c" / "out.json"
    atomic_write(target, "{}")
    assert target.read_text() == "{}"


def test_make_dirs_false_requires_existing_directory(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic_write(tmp_path / "missing" / "out.txt", "x", make_dirs=False)
    assert not (tmp_path / "missing").exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_existing_permissions_are_preserved(tmp_path: Path) -> None:
    target = tmp_path / "script.sh"
    target.write_text("old")
    target.chmod(0o750)
    atomic_write(target, "new")
    assert _perm(target) == 0o750
    assert target.read_text() == "new"


@pytest.mark.skipif(os.name != "posix", reason="POSIX permission bits")
def test_explicit_mode_wins(tmp_path: Path) -> None:
    target = tmp_path / "secret.txt"
    target.write_text("old")
    target.chmod(0o644)
    atomic_write(target, "new", mode=0o600)
    assert _perm(target) == 0o600
    atomic_write(tmp_path / "fresh.txt", "x", mode=0o640)
    assert _perm(tmp_path / "fresh.txt") == 0o640


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="umask read from /proc")
def test_new_file_gets_default_permissions(tmp_path: Path) -> None:
    old = os.umask(0o027)
    try:
        atomic_write(tmp_path / "new.txt", "x")
    finally:
        os.umask(old)
    assert _perm(tmp_path / "new.txt") == 0o640


def test_new_file_is_private_when_umask_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fileio, "_current_umask", lambda: None)
    atomic_write(tmp_path / "new.txt", "x")
    if os.name == "posix":
        assert _perm(tmp_path / "new.txt") == 0o600


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="needs symlinks")
def test_symlink_target_is_replaced_and_link_kept(tmp_path: Path) -> None:
    real = tmp_path / "real.txt"
    real.write_text("old")
    link = tmp_path / "link.txt"
    link.symlink_to(real)
    assert atomic_write(link, "new") == real
    assert link.is_symlink()
    assert real.read_text() == "new"


def test_failed_replace_keeps_old_file_and_removes_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "cfg.txt"
    target.write_text("precious\n")

    def failing_replace(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(fileio.os, "replace", failing_replace)
    with pytest.raises(OSError, match="No space left") as info:
        atomic_write(target, "new contents\n")
    assert info.value.errno == 28  # re-raised as is, not wrapped
    assert target.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cfg.txt"]


def test_failure_midway_through_the_write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "cfg.txt"
    target.write_text("precious\n")
    seen: list[str] = []

    def failing_fsync(fd: int) -> None:
        # The temp file already holds the new data when the sync fails.
        seen.extend(p.name for p in tmp_path.iterdir() if p.name != "cfg.txt")
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(fileio.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="Input/output error"):
        atomic_write(target, "new contents\n")
    assert len(seen) == 1 and seen[0].startswith(".cfg.txt.") and seen[0].endswith(".tmp")
    assert target.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cfg.txt"]


def test_interrupt_during_write_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "cfg.txt"
    target.write_text("precious\n")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fileio.os, "chmod", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, "new", mode=0o644)
    assert target.read_text() == "precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cfg.txt"]


def test_bad_data_type_leaves_nothing_behind(tmp_path: Path) -> None:
    target = tmp_path / "cfg.txt"
    with pytest.raises(TypeError):
        atomic_write(target, 12345)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_target_is_a_directory(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(OSError):
        atomic_write(tmp_path / "dir", "x")
    assert [p.name for p in tmp_path.iterdir()] == ["dir"]
    assert list((tmp_path / "dir").iterdir()) == []


def test_directory_fsync_failure_is_ignored(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real_open = os.open

    def no_dir_open(path: object, flags: int, *args: object) -> int:
        if Path(str(path)) == tmp_path:
            raise OSError(13, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(fileio.os, "open", no_dir_open)
    atomic_write(tmp_path / "out.txt", "ok")
    assert (tmp_path / "out.txt").read_text() == "ok"
