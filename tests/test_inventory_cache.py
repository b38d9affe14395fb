"""The parsed-inventory cache: hits equal the parse, any change is a miss, failures only cost time."""

from __future__ import annotations

import datetime
import os
import pathlib

import pytest

from nornflow.inventory import cache as inventory_cache
from nornflow.inventory import load_inventory
from nornflow.inventory import plugin as inventory_module


@pytest.fixture
def cache(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    """A fresh cache directory, caching files of any size."""
    directory = tmp_path / "cache"
    monkeypatch.setenv("NORNFLOW_CACHE_DIR", str(directory))
    monkeypatch.setattr(inventory_cache, "MIN_BYTES", 0)
    return directory


def write_hosts(directory: pathlib.Path, count: int, extra: str = "") -> pathlib.Path:
    path = directory / "hosts.yaml"
    path.write_text(
        "".join(
            f"h{i:03d}:\n  hostname: 10.0.0.{i}\n  data:\n    rack: {i}\n    managed: true\n{extra}"
            for i in range(count)
        ),
        encoding="utf-8",
    )
    return path


def snapshot(path: pathlib.Path) -> list[tuple[object, ...]]:
    inventory = load_inventory(path)
    return [(h.name, h.hostname, dict(h.data)) for h in inventory.hosts.values()]


def count_parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    parsed: list[str] = []
    original = inventory_module._parse

    def parse(stream, file, lines):
        parsed.append(file)
        return original(stream, file, lines)

    monkeypatch.setattr(inventory_module, "_parse", parse)
    return parsed


def test_a_second_load_is_served_from_the_cache_and_equal(cache, tmp_path, monkeypatch) -> None:
    path = write_hosts(tmp_path, 50)
    parsed = count_parses(monkeypatch)
    first = snapshot(path)
    second = snapshot(path)
    assert parsed == [str(path)] and first == second and len(first) == 50
    assert len(list(cache.glob("*.marshal"))) == 1


def test_cached_entries_keep_error_lines(cache, tmp_path) -> None:
    path = write_hosts(tmp_path, 3)
    path.write_text(path.read_text() + "h003:\n  bogus: 1\n")
    for _ in range(2):  # the parse, then the cache: the same located error
        with pytest.raises(inventory_module.InventoryError) as info:
            load_inventory(path)
        assert info.value.line == 16 and info.value.key == "bogus"


def test_any_change_to_the_file_is_a_miss(cache, tmp_path, monkeypatch) -> None:
    path = write_hosts(tmp_path, 5)
    parsed = count_parses(monkeypatch)
    snapshot(path)
    path.write_text(path.read_text().replace("10.0.0.3", "10.0.0.33"))
    assert ("h003", "10.0.0.33", {"rack": 3, "managed": True}) in snapshot(path)
    assert len(parsed) == 2


def test_a_corrupt_or_foreign_entry_is_ignored_and_replaced(cache, tmp_path, monkeypatch) -> None:
    path = write_hosts(tmp_path, 5)
    expected = snapshot(path)
    (entry,) = cache.glob("*.marshal")
    for junk in (b"\x00garbage", b"", b"\xe9\x01\x00\x00\x00"):  # not marshal; cut short; an int
        entry.write_bytes(junk)
        parsed = count_parses(monkeypatch)
        assert snapshot(path) == expected and len(parsed) == 1
        monkeypatch.undo()
        monkeypatch.setenv("NORNFLOW_CACHE_DIR", str(cache))
        monkeypatch.setattr(inventory_cache, "MIN_BYTES", 0)


def test_an_unwritable_cache_only_costs_the_parse(tmp_path, monkeypatch) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setenv("NORNFLOW_CACHE_DIR", str(blocker / "cache"))
    monkeypatch.setattr(inventory_cache, "MIN_BYTES", 0)
    path = write_hosts(tmp_path, 5)
    assert snapshot(path) == snapshot(path)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary left


@pytest.mark.parametrize("value", ["1", "yes"])
def test_no_cache_turns_it_off(cache, tmp_path, monkeypatch, value: str) -> None:
    monkeypatch.setenv("NORNFLOW_NO_CACHE", value)
    path = write_hosts(tmp_path, 5)
    parsed = count_parses(monkeypatch)
    snapshot(path)
    snapshot(path)
    assert len(parsed) == 2 and not cache.exists()


def test_small_files_are_not_cached(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NORNFLOW_CACHE_DIR", str(tmp_path / "cache"))
    path = write_hosts(tmp_path, 5)
    assert path.stat().st_size < inventory_cache.MIN_BYTES
    snapshot(path)
    assert not (tmp_path / "cache").exists()


def test_values_marshal_cannot_hold_are_parsed_every_time(cache, tmp_path, monkeypatch) -> None:
    path = write_hosts(tmp_path, 3, extra="    installed: 2001-12-14\n")
    parsed = count_parses(monkeypatch)
    first, second = snapshot(path), snapshot(path)
    assert first == second and first[0][2]["installed"] == datetime.date(2001, 12, 14)
    assert len(parsed) == 2 and not list(cache.glob("*.marshal"))


def test_shared_anchored_data_stays_shared_through_the_cache(cache, tmp_path) -> None:
    path = tmp_path / "hosts.yaml"
    path.write_text("a:\n  data: &d {site: x}\nb:\n  data: *d\n")
    for _ in range(2):
        data, _lines = inventory_module._read(path, "utf-8", "hosts", True)
        assert data["a"]["data"] is data["b"]["data"]


def test_only_the_most_recently_used_entries_are_kept(cache, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(inventory_cache, "KEEP", 3)
    path = tmp_path / "hosts.yaml"
    for i in range(6):
        path.write_text(f"h{i}: {{}}\n")
        load_inventory(path)
        for entry in cache.glob("*.marshal"):  # mtimes one second apart, oldest first
            os.utime(entry, (entry.stat().st_atime, entry.stat().st_mtime - 1))
    assert len(list(cache.glob("*.marshal"))) == 3


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_entries_are_private_to_their_owner(cache, tmp_path) -> None:
    """Inventories hold passwords: a cached copy must not be readable by other users."""
    path = tmp_path / "hosts.yaml"
    path.write_text("r1:\n  password: s3cret-enable\n")
    load_inventory(path)
    (entry,) = cache.glob("*.marshal")
    assert entry.stat().st_mode & 0o077 == 0 and cache.stat().st_mode & 0o077 == 0
