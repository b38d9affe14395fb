"""Time loading a generated inventory with nornflow's YAMLInventory and Nornir's SimpleInventory.

Usage: ``python bench/bench_inventory.py [--hosts 100000] [--no-simple] [--repeat 1]``.
Each host has a hostname, a platform, two groups and a small data dict; 50 site groups share one parent.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
import tempfile
import time
from collections.abc import Callable

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from nornir.core.inventory import Inventory
from nornir.plugins.inventory import SimpleInventory

from nornflow.inventory import YAMLInventory

SITES = 50
ROLES = ("core", "dist", "access", "edge")
PLATFORMS = ("cisco_ios", "cisco_nxos", "juniper_junos", "arista_eos")


def write_inventory(directory: pathlib.Path, count: int) -> tuple[str, str, str]:
    """Write hosts.yaml, groups.yaml and defaults.yaml for ``count`` hosts and return their paths."""
    hosts = directory / "hosts.yaml"
    groups = directory / "groups.yaml"
    defaults = directory / "defaults.yaml"
    with hosts.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(
                f"host{i:07d}:\n"
                f"  hostname: 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n"
                f"  platform: {PLATFORMS[i % len(PLATFORMS)]}\n"
                f"  groups:\n    - site{i % SITES:02d}\n    - {ROLES[i % len(ROLES)]}\n"
                f"  data:\n    rack: {i % 40}\n    serial: SN{i:010d}\n    managed: true\n"
            )
    lines = ["all:\n  data:\n    ntp: [10.255.0.1, 10.255.0.2]\n"]
    lines += [f"site{s:02d}:\n  groups: [all]\n  data:\n    site_id: {s}\n" for s in range(SITES)]
    lines += [f"{role}:\n  data:\n    role: {role}\n" for role in ROLES]
    groups.write_text("".join(lines), encoding="utf-8")
    defaults_text = "username: admin\npassword: admin\nport: 22\ndata:\n  domain: lab\n"
    defaults.write_text(defaults_text, encoding="utf-8")
    return str(hosts), str(groups), str(defaults)


def best_time(load: Callable[[], Inventory], repeat: int, count: int) -> float:
    """Best wall time of ``repeat`` loads, checking every load returns all the hosts."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        inventory = load()
        best = min(best, time.perf_counter() - start)
        if len(inventory.hosts) != count:
            raise SystemExit(f"expected {count} hosts, got {len(inventory.hosts)}")
    return best


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments, generate the inventory, time the loaders and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000, help="number of hosts (default 100000)")
    parser.add_argument("--no-simple", action="store_true", help="skip Nornir's SimpleInventory")
    parser.add_argument("--repeat", type=int, default=1, help="loads per plugin, best one kept (default 1)")
    args = parser.parse_args(argv)
    if args.hosts < 1 or args.repeat < 1:
        parser.error("--hosts and --repeat must be >= 1")

    with tempfile.TemporaryDirectory(prefix="nornflow-bench-") as tmp:
        paths = write_inventory(pathlib.Path(tmp), args.hosts)
        size = pathlib.Path(paths[0]).stat().st_size / 1e6
        cache = pathlib.Path(tmp) / "cache"

        def parse() -> Inventory:
            os.environ["NORNFLOW_NO_CACHE"] = "1"  # every load parses
            try:
                return YAMLInventory(*paths).load()
            finally:
                del os.environ["NORNFLOW_NO_CACHE"]

        def cached() -> Inventory:
            os.environ["NORNFLOW_CACHE_DIR"] = str(cache)  # filled by the first load, then hits
            return YAMLInventory(*paths).load()

        loaders: list[tuple[str, Callable[[], Inventory]]] = [
            ("nornflow.YAMLInventory", parse),
            ("  same, parse cached", cached),
        ]
        if not args.no_simple:
            loaders.append(("SimpleInventory", lambda: SimpleInventory(*paths).load()))
        print(f"{args.hosts} hosts, hosts.yaml {size:.1f} MB, best of {args.repeat}")
        print(f"{'plugin':<24} {'seconds':>9} {'hosts/s':>11}")
        for name, load in loaders:
            if load is cached:
                load()  # the first load parses and fills the cache
            seconds = best_time(load, args.repeat, args.hosts)
            print(f"{name:<24} {seconds:>9.2f} {args.hosts / seconds:>11,.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
