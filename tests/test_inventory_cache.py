"""The parsed-inventory cache: hits equal the parse, any change is a miss, failures only cost time."""

from __future__ import annotations

import contextlib
import datetime
import marshal
import os
import pathlib
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable

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


# ---- trust: entries are verified before marshal sees them (corrupt or planted = a miss) -----------------


PLANTED = "203.0.113.66"  # where a planted entry would send h003 (TEST-NET-3, never contacted)


def only_entry(cache: pathlib.Path) -> pathlib.Path:
    (entry,) = cache.glob("*.marshal")
    return entry


def planted_blob(entry: pathlib.Path, raw: bytes, key: bytes | None) -> bytes:
    """A well-formed entry for ``raw`` that redirects h003, signed with ``key`` (None: the old bare
    marshal format, no signature at all)."""
    data, lines = inventory_cache.load(raw, "utf-8")
    data["h003"]["hostname"] = PLANTED
    payload = marshal.dumps((data, lines))
    if key is None:
        return payload
    return inventory_cache._MAGIC + inventory_cache._mac(key, entry.name, payload) + payload


def hostname_of(path: pathlib.Path, host: str) -> str:
    return load_inventory(path).hosts[host].hostname


@pytest.mark.parametrize("signer", ["another key", "no signature (bare marshal)"])
def test_a_planted_entry_is_rejected_and_the_host_keeps_its_address(
    cache, tmp_path, monkeypatch, signer: str
) -> None:
    path = write_hosts(tmp_path, 5)
    expected = snapshot(path)
    entry = only_entry(cache)
    key = secrets.token_bytes(32) if signer == "another key" else None
    entry.write_bytes(planted_blob(entry, path.read_bytes(), key))
    parsed = count_parses(monkeypatch)
    assert hostname_of(path, "h003") == "10.0.0.3" and len(parsed) == 1  # rejected: parsed again
    assert snapshot(path) == expected and len(parsed) == 1  # and replaced by a good entry: a hit


def test_control_an_entry_signed_with_the_users_key_is_served(cache, tmp_path) -> None:
    """The planted blobs above are well-formed: only the signature tells them apart."""
    path = write_hosts(tmp_path, 5)
    snapshot(path)
    entry = only_entry(cache)
    entry.write_bytes(planted_blob(entry, path.read_bytes(), inventory_cache._read_key(cache)))
    assert hostname_of(path, "h003") == PLANTED


def test_an_entry_renamed_onto_another_file_is_rejected(cache, tmp_path, monkeypatch) -> None:
    """The MAC covers the entry's name: a genuine entry of file A cannot answer for file B."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir(), b.mkdir()
    path_a, path_b = write_hosts(a, 5), write_hosts(b, 6)
    snapshot(path_a), snapshot(path_b)
    entry_a, entry_b = sorted(cache.glob("*.marshal"), key=lambda p: p.stat().st_size)
    entry_b.write_bytes(entry_a.read_bytes())
    parsed = count_parses(monkeypatch)
    assert len(snapshot(path_b)) == 6 and parsed == [str(path_b)]


# Each child mutates a real entry a few hundred times and loads it after every mutation: a crash in
# marshal would be a dead child (negative return code), a wrong answer an assertion in the child.
FUZZ_CHILD = r"""
import pathlib, random, resource, sys
from nornflow.inventory import cache, load_inventory

# marshal trusts the lengths in its input: unverified, a mutated entry can ask for gigabytes (the
# out-of-memory killer then ends more than this child), so a child that gets that far fails instead.
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

cache.MIN_BYTES = 0
hosts, entry = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rng, count = random.Random(int(sys.argv[3])), int(sys.argv[4])
raw, good = hosts.read_bytes(), entry.read_bytes()
expected = cache.load(raw, "utf-8")
addresses = [i + len(b"10.0.0.") for i in range(len(good)) if good.startswith(b"10.0.0.", i)]
assert expected is not None and addresses
for i in range(count):
    blob, kind = bytearray(good), i % 6
    if kind == 0:  # flip bits in a few bytes
        for _ in range(rng.randint(1, 4)):
            blob[rng.randrange(len(blob))] ^= rng.randint(1, 255)
    elif kind == 1:  # cut short
        del blob[rng.randrange(len(blob)):]
    elif kind == 2:  # bytes inserted
        at = rng.randrange(len(blob) + 1)
        blob[at:at] = rng.randbytes(rng.randint(1, 16))
    elif kind == 3:  # a random span overwritten
        at = rng.randrange(len(blob))
        blob[at : at + 8] = rng.randbytes(8)
    elif kind == 4:  # still valid marshal, another address: the dangerous kind
        at = rng.choice(addresses)
        blob[at] = ord("0") + (blob[at] - ord("0") + rng.randint(1, 9)) % 10
    else:  # a marshal type code planted anywhere (the crashes seen were of this kind)
        blob[rng.randrange(len(blob))] = rng.choice(b"()[{<>cdfgilrstuyzRTSau")
    entry.write_bytes(bytes(blob))
    got = cache.load(raw, "utf-8")
    assert got == expected if bytes(blob) == good else got is None, (i, kind, got)
    if i % 100 == 0:  # through the inventory: a miss parses, the data is right, the entry is rewritten
        hosts_seen = {h.name: h.hostname for h in load_inventory(hosts).hosts.values()}
        assert hosts_seen == {f"h{n:03d}": f"10.0.0.{n}" for n in range(len(hosts_seen))}, hosts_seen
        assert cache.load(raw, "utf-8") == expected
print("survived", count)
"""
FUZZ_CHILDREN = 4
FUZZ_MUTATIONS = 750


@pytest.mark.skipif(os.name != "posix", reason="the children cap their memory with resource.setrlimit")
def test_thousands_of_mutated_entries_never_crash_and_never_serve_wrong_data(cache, tmp_path) -> None:
    path = write_hosts(tmp_path, 40)
    snapshot(path)
    children = []
    for seed in range(FUZZ_CHILDREN):
        own = tmp_path / f"cache{seed}"  # a copy each: the children must not rewrite each other's entry
        shutil.copytree(cache, own)
        env = {**os.environ, "NORNFLOW_CACHE_DIR": str(own)}
        args = [str(path), str(only_entry(own)), str(seed), str(FUZZ_MUTATIONS)]
        children.append(
            subprocess.Popen(
                [sys.executable, "-c", FUZZ_CHILD, *args],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs = [child.communicate(timeout=120)[0] for child in children]
    codes = [child.returncode for child in children]
    assert codes == [0] * FUZZ_CHILDREN, list(zip(codes, outputs, strict=True))  # < 0: killed by a signal
    assert all(f"survived {FUZZ_MUTATIONS}" in out for out in outputs)


def test_concurrent_first_stores_agree_on_one_key(cache, monkeypatch) -> None:
    """Runs that fill an empty cache at once each make a key; one key must win, and every entry
    stored must be signed with it (a later load is a hit, not a re-parse)."""
    files = [(f"h{i}: {{hostname: 10.0.0.{i}}}\n".encode(), i) for i in range(8)]
    barrier = threading.Barrier(len(files))
    real_new_key = inventory_cache._new_key

    def new_key_together(directory: pathlib.Path) -> bytes | None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=5)  # every thread found no key: all of them make one now
        return real_new_key(directory)

    monkeypatch.setattr(inventory_cache, "_new_key", new_key_together)
    threads = [
        threading.Thread(target=inventory_cache.store, args=(raw, "utf-8", {f"h{i}": i}, {}))
        for raw, i in files
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [inventory_cache.load(raw, "utf-8") for raw, _ in files] == [({f"h{i}": i}, {}) for _, i in files]
    assert len(list(cache.glob("*.marshal"))) == len(files) and len(list(cache.glob("*.tmp"))) == 0


# ---- trust: the directory (refused like ssh refuses a ~/.ssh others can write) --------------------------

OTHER_UID = 4242


@pytest.fixture
def warned(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """The cache's warnings so far (reset first: each process warns once per directory)."""
    monkeypatch.setattr(inventory_cache, "_warned", set())
    caplog.set_level("WARNING", logger=inventory_cache.__name__)
    return lambda: [r.getMessage() for r in caplog.records if r.name == inventory_cache.__name__]


def give_away(directory: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``directory`` (and what is in it) another user's: for real as root (CI), else by making
    the cache see the current user as someone else (a non-root user cannot give files away)."""
    if os.geteuid() == 0:
        for item in [directory, *directory.iterdir()]:
            os.chown(item, OTHER_UID, OTHER_UID, follow_symlinks=False)
    else:
        monkeypatch.setattr(inventory_cache, "_euid", lambda: os.geteuid() + 1)


def plant_signed(cache: pathlib.Path, path: pathlib.Path) -> bytes:
    """Replace the entry of ``path`` by one that redirects h003, signed with the directory's own key
    (whoever owns a directory owns its key); the bytes planted."""
    entry = only_entry(cache)
    blob = planted_blob(entry, path.read_bytes(), inventory_cache._read_key(cache))
    entry.write_bytes(blob)
    return blob


@pytest.mark.skipif(os.name != "posix", reason="POSIX owners and modes")
def test_a_cache_directory_owned_by_another_user_is_refused_with_one_warning(
    cache, tmp_path, monkeypatch, warned
) -> None:
    path = write_hosts(tmp_path, 5)
    snapshot(path)
    blob = plant_signed(cache, path)
    give_away(cache, monkeypatch)
    before = sorted(p.name for p in cache.iterdir())
    parsed = count_parses(monkeypatch)
    assert [hostname_of(path, "h003") for _ in range(3)] == ["10.0.0.3"] * 3 and len(parsed) == 3
    assert only_entry(cache).read_bytes() == blob and sorted(p.name for p in cache.iterdir()) == before
    (message,) = warned()
    assert str(cache) in message and "owned by uid" in message and "parsed without the cache" in message


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("mode", [0o770, 0o707, 0o730, 0o777, 0o1777], ids=oct)
def test_a_cache_directory_writable_by_group_or_others_is_refused(
    cache, tmp_path, monkeypatch, warned, mode: int
) -> None:
    path = write_hosts(tmp_path, 5)
    snapshot(path)
    blob = plant_signed(cache, path)
    cache.chmod(mode)
    parsed = count_parses(monkeypatch)
    assert hostname_of(path, "h003") == "10.0.0.3" and hostname_of(path, "h003") == "10.0.0.3"
    assert len(parsed) == 2 and only_entry(cache).read_bytes() == blob
    assert warned() == [
        f"not using the inventory cache in {cache}: it is writable by group or others "
        f"(mode {mode:04o}); inventories are parsed without the cache"
    ]


@pytest.mark.skipif(os.name != "posix", reason="POSIX symlinks")
def test_a_symlink_as_the_cache_directory_is_refused(tmp_path, monkeypatch, warned) -> None:
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    monkeypatch.setenv("NORNFLOW_CACHE_DIR", str(link))
    monkeypatch.setattr(inventory_cache, "MIN_BYTES", 0)
    path = write_hosts(tmp_path, 5)
    assert snapshot(path) == snapshot(path)
    (message,) = warned()
    assert list(real.iterdir()) == [] and "symbolic link" in message


def test_each_refused_directory_is_warned_about_once(tmp_path, monkeypatch, warned) -> None:
    path = write_hosts(tmp_path, 5)
    monkeypatch.setattr(inventory_cache, "MIN_BYTES", 0)
    for name in ("one", "two"):
        (tmp_path / name).mkdir(mode=0o777)
        (tmp_path / name).chmod(0o777)
    for name in ("one", "two", "one", "two", "one"):
        monkeypatch.setenv("NORNFLOW_CACHE_DIR", str(tmp_path / name))
        snapshot(path)
    assert [m.split(":")[0] for m in warned()] == [
        f"not using the inventory cache in {tmp_path / 'one'}",
        f"not using the inventory cache in {tmp_path / 'two'}",
    ]


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_a_directory_of_ones_own_not_writable_by_others_is_used(tmp_path, monkeypatch, warned) -> None:
    """0755 (readable, not writable, by others) is fine: the entries themselves are 0600."""
    directory = tmp_path / "shared-read"
    directory.mkdir()
    directory.chmod(0o755)
    monkeypatch.setenv("NORNFLOW_CACHE_DIR", str(directory))
    monkeypatch.setattr(inventory_cache, "MIN_BYTES", 0)
    path = write_hosts(tmp_path, 5)
    parsed = count_parses(monkeypatch)
    assert snapshot(path) == snapshot(path) and len(parsed) == 1 and warned() == []


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("which", ["entry", "key"])
def test_an_entry_or_key_others_can_read_is_not_trusted_and_is_replaced(
    cache, tmp_path, monkeypatch, which: str
) -> None:
    path = write_hosts(tmp_path, 5)
    expected = snapshot(path)
    target = only_entry(cache) if which == "entry" else cache / "key"
    target.chmod(0o644)
    parsed = count_parses(monkeypatch)
    assert snapshot(path) == expected and len(parsed) == 1  # not trusted: parsed
    assert snapshot(path) == expected and len(parsed) == 1  # rewritten private: a hit again
    assert all(p.stat().st_mode & 0o077 == 0 for p in cache.iterdir())


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="only root can give a file away")
def test_an_entry_owned_by_another_user_is_not_trusted(cache, tmp_path, monkeypatch) -> None:
    path = write_hosts(tmp_path, 5)
    snapshot(path)
    plant_signed(cache, path)
    os.chown(only_entry(cache), OTHER_UID, OTHER_UID)
    assert hostname_of(path, "h003") == "10.0.0.3"
    assert only_entry(cache).stat().st_uid == 0  # rewritten by us
