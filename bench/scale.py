"""Scale-out benchmark: the local executor against Dask shards (``nornflow[dask]``) on generated fleets.

Usage (one command, every scenario; figures in docs/scale-out.md)::

    python bench/scale.py [--hosts 100000] [--latency-hosts 100000] [--scenarios cpu latency overhead]
                          [--journal]

Scenarios, each mode in its own subprocess (so peak RSS is the driver's alone):

- ``cpu``: one task renders a ~100-line config from each host's inventory data (``echo`` with a Jinja2
  template as its argument) and ``set_to`` stores it: the local executor against 2 shards.
- ``latency``: one task sleeping 50 ms per host: 1 process x 1,000 workers against 4 shards x 250
  workers; concurrency = ``N x latency / (wall x shards x workers)`` as a percentage of the ideal.
- ``overhead``: 10 tasks x 3 hooks (``set_to``, ``output: false``, ``if``) of a no-op task: the local
  executor against Dask with 1 shard.

"tasks" is the sum of the task runs' durations (the fan-outs, the shards' rows merged); "run" is the
workflow's duration (``WorkflowResult.duration``: tasks, then collecting the variables and closing the
executor, a local cluster's shutdown included); "total" is the whole ``NornFlow.run`` call, cluster
start included. Concurrency is computed on "tasks". "rss_mb" is the peak resident set of the process
running the driver (with a local cluster, the Dask scheduler's threads live there too; the workers
are other processes).
Runs are not journaled unless ``--journal``: the executors alone are compared.
The last line of output is JSON with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

TEMPLATE_HEADER = [
    "hostname {{ host.name }}",
    "! site {{ host.site }}, role {{ host.role }}",
    "service timestamps debug datetime msec",
    "service timestamps log datetime msec",
    "service password-encryption",
    "logging buffered 64000",
    "{% for server in host.ntp %}ntp server {{ server }}\n{% endfor %}",
    "snmp-server location {{ host.site | upper }} rack {{ host.rack }}",
    "snmp-server contact noc@{{ host.site }}.example.net",
    "ip domain-name {{ host.site }}.example.net",
    "vlan {{ host.vlan }}",
    " name mgmt-{{ host.site }}",
    "interface Vlan{{ host.vlan }}",
    " ip address 10.{{ host.rack }}.{{ host.unit }}.1 255.255.255.0",
]
TEMPLATE_PORTS = (
    "{% for n in range(host.ports) %}interface GigabitEthernet0/{{ n }}\n"
    " description {{ host.role }}-{{ host.site }}-port{{ n }}\n"
    " switchport access vlan {{ host.vlan + n % 4 }}\n"
    " spanning-tree portfast\n"
    "{% endfor %}"
)
TEMPLATE = "\n".join(TEMPLATE_HEADER) + "\n" + TEMPLATE_PORTS + "end\n"

TASKS = """\
import time

from nornir.core.task import Result, Task


def noop(task: Task) -> Result:
    return Result(host=task.host)


def sleepy(task: Task, ms: float = 50) -> Result:
    time.sleep(ms / 1000)
    return Result(host=task.host)
"""


def write_project(root: Path, hosts: int) -> Path:
    """A project of ``hosts`` hosts (data for the template) and the three workflows."""
    for d in ("inventory", "tasks", "workflows"):
        (root / d).mkdir(parents=True, exist_ok=True)
    lines = []
    roles = ("core", "dist", "access")
    for i in range(hosts):
        lines.append(
            f"h{i:06d}:\n  data: {{site: s{i % 16}, role: {roles[i % 3]}, rack: {i % 200}, "
            f"unit: {i % 250}, vlan: {100 + i % 50}, ports: 21, ntp: [10.0.0.1, 10.0.0.2]}}\n"
        )
    (root / "inventory" / "hosts.yaml").write_text("".join(lines))
    (root / "tasks" / "bench.py").write_text(TASKS)
    (root / "nornflow.yaml").write_text("inventory: {host_file: inventory/hosts.yaml}\n")
    render = {
        "name": "render",
        "tasks": [{"name": "echo", "args": {"msg": TEMPLATE}, "set_to": "config", "output": False}],
    }
    sleep = {"name": "sleep", "tasks": [{"name": "sleepy", "args": {"ms": 50}, "output": False}]}
    fleet = {
        "name": "fleet",
        "tasks": [
            {"name": "noop", "set_to": f"out{t}", "output": False, "if": "host.name != 'none'"}
            for t in range(10)
        ],
    }
    for wf in (render, sleep, fleet):
        (root / "workflows" / f"{wf['name']}.yaml").write_text(json.dumps({"workflow": wf}))
    return root


def child(project: Path, workflow: str, workers: int, executor: str, journal: bool) -> None:
    """One measured run in this process; prints one JSON line."""
    from nornflow.run.api import NornFlow

    spec = json.loads(executor)
    nf = NornFlow(project / "nornflow.yaml", workers=workers, tune_gc=True)
    nf.inventory  # noqa: B018 - loaded (and cached) before the clock starts, as the CLI does
    t0 = time.perf_counter()
    result = nf.run(workflow, executor=spec or None, journal=journal)
    total = time.perf_counter() - t0
    counts = result.tasks[0].counts()
    print(
        json.dumps(
            {
                "tasks": sum(t.duration for t in result.tasks),
                "run": result.duration,
                "total": total,
                "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "ok": counts["ok"] + counts["changed"],
                "failed": result.failed,
            }
        )
    )


def measure(
    project: Path, workflow: str, workers: int, executor: dict[str, Any], journal: bool
) -> dict[str, Any]:
    """One run of ``workflow`` in a subprocess: its figures (see the module docstring)."""
    spec = json.dumps(executor)
    cmd = [sys.executable, __file__, "--child", str(project), workflow, str(workers), spec, str(journal)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compare(local: dict[str, Any], sharded: dict[str, Any], name: str) -> dict[str, Any]:
    """The two runs and their ratios (sharded over local: > 1 is slower, for "speedup" faster)."""
    return {
        "local": local,
        name: sharded,
        "speedup_tasks": local["tasks"] / sharded["tasks"],
        "speedup_run": local["run"] / sharded["run"],
        "speedup_total": local["total"] / sharded["total"],
        "ratio_tasks": sharded["tasks"] / local["tasks"],
        "rss_ratio": sharded["rss_mb"] / local["rss_mb"],
    }


def main(argv: Sequence[str] | None = None) -> None:
    """Generate the fleets, run the scenarios, print each comparison and the JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000, help="hosts of the cpu and overhead runs")
    parser.add_argument("--latency-hosts", type=int, default=100_000, help="hosts of the latency run")
    parser.add_argument("--scenarios", nargs="+", default=["cpu", "latency", "overhead"])
    parser.add_argument(
        "--journal",
        action="store_true",
        help="journal the runs (default: off, so the executors alone are compared)",
    )
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        project, workflow, workers, executor, journal = args.child
        child(Path(project), workflow, int(workers), executor, journal == "True")
        return
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%d"),
        "cpus": os.cpu_count(),
        "hosts": args.hosts,
        "journal": args.journal,
    }
    j = args.journal
    with tempfile.TemporaryDirectory(prefix="nornflow-scale-") as tmp:
        big = write_project(Path(tmp) / "big", args.hosts)
        if "cpu" in args.scenarios:
            local = measure(big, "render", 20, {}, j)
            sharded = measure(big, "render", 20, {"kind": "dask", "shards": 2}, j)
            report["cpu"] = compare(local, sharded, "dask_2")
            _show("cpu-bound render, local vs 2 shards", report["cpu"])
        if "overhead" in args.scenarios:
            local = measure(big, "fleet", 20, {}, j)
            sharded = measure(big, "fleet", 20, {"kind": "dask", "shards": 1}, j)
            report["overhead"] = compare(local, sharded, "dask_1")
            _show("10 tasks x 3 hooks no-op, local vs 1 shard", report["overhead"])
        if "latency" in args.scenarios:
            lat = (
                big
                if args.latency_hosts == args.hosts
                else write_project(Path(tmp) / "lat", args.latency_hosts)
            )
            n, latency = args.latency_hosts, 0.05
            local = measure(lat, "sleep", 1000, {}, j)
            sharded = measure(lat, "sleep", 250, {"kind": "dask", "shards": 4}, j)
            report["latency"] = {
                "hosts": n,
                "local_1000": {**local, "concurrency_pct": 100 * n * latency / (local["tasks"] * 1000)},
                "dask_4x250": {
                    **sharded,
                    "concurrency_pct": 100 * n * latency / (sharded["tasks"] * 4 * 250),
                },
            }
            _show("50 ms latency, 1 x 1000 vs 4 shards x 250 workers", report["latency"])
    print(json.dumps(report))


def _show(title: str, data: dict[str, Any]) -> None:
    print(f"== {title}", file=sys.stderr)
    for key, value in data.items():
        print(f"   {key}: {value}", file=sys.stderr)


if __name__ == "__main__":
    main()
