"""Large-fleet benchmark: bare Nornir against nornflow (pure, compiled, CLI) on one generated inventory.

Usage::

    python bench/fleet.py --hosts 100000 --tasks 10 --hooks 3 [--workers 20] [--modes MODE ...]
                          [--sleep-ms 0] [--pre-hook if|filter|custom] [--repeat 1] [--keep DIR]

A Nornir YAML inventory and a nornflow project (a ``noop`` task, a workflow ``fleet`` of T tasks with K
hooks each) are generated once; every mode then runs in its own subprocess, so peak RSS and the GC state
are independent. Every mode loads the same files with ``nornflow.inventory.load_inventory`` and then runs
``gc.collect(); gc.freeze()`` (the engine does that itself for >= 1000 hosts; the bare Nornir modes do it
explicitly), and only the run phase is timed as "run". Peak RSS is ``ru_maxrss`` of the child; "run peak"
is the high-water mark of the run phase alone (``/proc/self/clear_refs`` reset after the load).

The K hooks are, in this order: ``set_to: out<i>`` (post, per host), ``output: false`` (a task option)
and one per-host pre-hook chosen with ``--pre-hook``: ``if`` is ``if: "host.name != 'none'"`` (a
host-dependent Jinja2 expression evaluated per host, what users run), ``filter`` is
``if: {managed: true}`` (an inventory-filter condition, no Jinja2) and ``custom`` is a project hook
``bench_check`` whose body returns True (the pure dispatch cost). ``nornflow-compiled-processor`` runs
with a Nornir processor that counts its calls, so the run goes through Nornir's ``Task.start`` per host.

With ``--sleep-ms`` the task sleeps (a device's latency) and the threaded modes report the achieved
concurrency: ``N x T x latency / (wall x W)`` as a percentage of the ideal. ``--repeat N`` runs the modes
N times round-robin and keeps each mode's best run. The last line of output is JSON with every figure.

nornflow journals every run (``.nornflow/runs`` in the generated project) unless ``--no-journal``: the
journal's cost is the difference between a run with and one without it.

``cli-compiled`` runs ``nornflow run fleet`` as a user would on a terminal (``FORCE_COLOR=1``: progress
bar and colours rendered, the output discarded) and is compared, whole command against whole command,
with ``nornflow-compiled``.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

SITES = 8
ROLES = ("core", "dist", "access", "edge")
PLATFORMS = ("cisco_ios", "cisco_nxos", "juniper_junos", "arista_eos")
PRE_HOOKS = {
    "if": "\"host.name != 'none'\"",
    "filter": "{managed: true}",
    "custom": "true",
}

#: mode -> (kind, workers: "1" or "W", hot path: "pure", "compiled" or "")
MODES: dict[str, tuple[str, str, str]] = {
    "nornir-serial": ("nornir", "1", ""),
    "nornir-threaded": ("nornir", "W", ""),
    "nornflow-pure-1": ("engine", "1", "pure"),
    "nornflow-pure": ("engine", "W", "pure"),
    "nornflow-compiled-1": ("engine", "1", "compiled"),
    "nornflow-compiled": ("engine", "W", "compiled"),
    "nornflow-compiled-processor": ("engine+processor", "W", "compiled"),
    "cli-compiled": ("cli", "W", "compiled"),
}
BASELINE = "nornir-serial"
#: compiled nornflow's run time against bare Nornir serial: 100,000 hosts and up, and below that
BUDGET_RATIO_LARGE = 0.8
BUDGET_RATIO_SMALL = 1.0
BUDGET_RSS = 1.15
BUDGET_TWINS = 0.75  # compiled / pure, on the whole run
BUDGET_CONCURRENCY = 90.0
BUDGET_CLI = 1.10


# -- generation ----------------------------------------------------------------------------------------


def write_inventory(directory: Path, count: int) -> dict[str, Path]:
    """Write hosts/groups/defaults YAML files for ``count`` hosts; return their paths by kind."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"{kind}.yaml" for kind in ("hosts", "groups", "defaults")}
    with paths["hosts"].open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(
                f"host{i:07d}:\n"
                f"  hostname: 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}\n"
                f"  platform: {PLATFORMS[i % len(PLATFORMS)]}\n"
                f"  groups:\n    - site{i % SITES}\n    - {ROLES[i % len(ROLES)]}\n"
                f"  data:\n    rack: {i % 40}\n    serial: SN{i:010d}\n    managed: true\n"
            )
    groups = ["all:\n  data:\n    ntp: [10.255.0.1, 10.255.0.2]\n"]
    groups += [f"site{s}:\n  groups: [all]\n  data:\n    site_id: {s}\n" for s in range(SITES)]
    groups += [f"{role}:\n  data:\n    role: {role}\n" for role in ROLES]
    paths["groups"].write_text("".join(groups), encoding="utf-8")
    paths["defaults"].write_text("username: admin\nport: 22\ndata:\n  domain: lab\n", encoding="utf-8")
    return paths


def task_source(sleep_ms: float) -> str:
    """The project's ``tasks/noop.py``: return an empty result, after ``sleep_ms`` if not zero."""
    lines = ['"""The benchmark task."""', "", "from nornir.core.task import Result, Task", ""]
    if sleep_ms:
        lines[2:2] = ["import time", ""]
    lines += ["", "def noop(task: Task) -> Result:", '    """Do nothing (but wait like a device would)."""']
    if sleep_ms:
        lines.append(f"    time.sleep({sleep_ms / 1000!r})")
    lines.append("    return Result(host=task.host)")
    return "\n".join(lines) + "\n"


HOOK_SOURCE = '''"""A per-host pre-hook with a trivial body: the engine's dispatch cost alone."""

from nornflow.hooks.base import PreRunHook
from nornflow.hooks.registry import register_hook


@register_hook
class BenchCheck(PreRunHook):
    """Always true (benchmark)."""

    hook_name = "bench_check"

    def _run_hook(self, task_model, host, vars_mgr):
        return True
'''


def workflow_source(tasks: int, hooks: int, pre_hook: str) -> str:
    """The workflow ``fleet``: ``tasks`` x ``noop``, each with the first ``hooks`` hooks of the list."""
    key = "bench_check" if pre_hook == "custom" else "if"
    lines = ["workflow:", "  name: fleet", "  tasks:"]
    for i in range(tasks):
        candidates = [f"set_to: out{i}", "output: false", f"{key}: {PRE_HOOKS[pre_hook]}"]
        lines.append("    - name: noop")
        lines += [f"      {hook}" for hook in candidates[:hooks]]
    return "\n".join(lines) + "\n"


def write_project(
    directory: Path, hosts: int, tasks: int, hooks: int, sleep_ms: float, pre_hook: str
) -> None:
    """Generate the inventory and the nornflow project in ``directory``."""
    write_inventory(directory / "inventory", hosts)
    (directory / "nornflow.yaml").write_text(
        "inventory:\n"
        "  host_file: inventory/hosts.yaml\n"
        "  group_file: inventory/groups.yaml\n"
        "  defaults_file: inventory/defaults.yaml\n",
        encoding="utf-8",
    )
    for sub in ("tasks", "workflows", "hooks"):
        (directory / sub).mkdir(exist_ok=True)
    (directory / "tasks" / "noop.py").write_text(task_source(sleep_ms), encoding="utf-8")
    workflow = workflow_source(tasks, hooks, pre_hook)
    (directory / "workflows" / "fleet.yaml").write_text(workflow, encoding="utf-8")
    hook_file = directory / "hooks" / "bench_hooks.py"
    if pre_hook == "custom":
        hook_file.write_text(HOOK_SOURCE, encoding="utf-8")
    elif hook_file.exists():
        hook_file.unlink()


# -- child side ----------------------------------------------------------------------------------------


def reset_peak() -> bool:
    """Reset the process's RSS high-water mark (Linux ``clear_refs``); False where unsupported."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def status_kb(field: str) -> int:
    """A ``/proc/self/status`` figure in kB (``VmRSS``, ``VmHWM``), 0 where unavailable."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def load_noop(project: Path) -> Callable[..., Any]:
    """Import the project's ``noop`` task function from its file (the same one nornflow runs)."""
    spec = importlib.util.spec_from_file_location("fleet_bench_tasks", project / "tasks" / "noop.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.noop


def child_nornir(project: Path, tasks: int, workers: int) -> dict[str, Any]:
    """Bare Nornir: load, freeze the GC, then ``tasks`` x ``nr.run(task=noop)``."""
    from nornir.core import Nornir
    from nornir.plugins.runners import SerialRunner, ThreadedRunner

    from nornflow.inventory import load_inventory

    noop = load_noop(project)
    inv_dir = project / "inventory"
    t0 = time.perf_counter()
    inventory = load_inventory(inv_dir / "hosts.yaml", inv_dir / "groups.yaml", inv_dir / "defaults.yaml")
    gc.collect()
    gc.freeze()
    load = time.perf_counter() - t0
    runner = SerialRunner() if workers == 1 else ThreadedRunner(num_workers=workers)
    nr = Nornir(inventory=inventory, runner=runner)
    hosts = len(inventory.hosts)
    rss_loaded = status_kb("VmRSS")
    reset = reset_peak()
    ok = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(tasks):
        agg = nr.run(task=noop, name=f"noop{i}")
        ok += sum(1 for multi in agg.values() if not multi.failed)
        del agg
    run, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {
        "hosts": hosts,
        "load_s": load,
        "run_s": run,
        "run_cpu_s": cpu,
        "ok": ok,
        "rss_loaded_kb": rss_loaded,
        "run_peak_kb": status_kb("VmHWM") if reset else None,
    }


class CountingProcessor:
    """A Nornir processor that counts its calls: what a configured processor costs, at least."""

    def __init__(self) -> None:
        self.calls = 0

    def task_started(self, task: Any) -> None:
        self.calls += 1

    def task_completed(self, task: Any, result: Any) -> None:
        self.calls += 1

    def task_instance_started(self, task: Any, host: Any) -> None:
        self.calls += 1

    def task_instance_completed(self, task: Any, host: Any, result: Any) -> None:
        self.calls += 1

    def subtask_instance_started(self, task: Any, host: Any) -> None:
        self.calls += 1

    def subtask_instance_completed(self, task: Any, host: Any, result: Any) -> None:
        self.calls += 1


def child_engine(
    project: Path, tasks: int, workers: int, with_processor: bool = False, journal: bool = True
) -> dict[str, Any]:
    """The quiet engine API: ``NornFlow(settings, workers=W, tune_gc=True).run("fleet")`` with no
    reporter (``tune_gc`` as the CLI asks: freeze after the load, GC paused in fan-outs)."""
    from nornflow import _hotpath
    from nornflow.hooks.registry import HOOK_REGISTRY
    from nornflow.run.api import NornFlow
    from nornflow.run.results import CHANGED, OK

    t0 = time.perf_counter()
    processors = [CountingProcessor()] if with_processor else []
    nf = NornFlow(project / "nornflow.yaml", workers=workers, tune_gc=True, processors=processors)
    inventory = nf.inventory  # load_inventory, then gc.collect() + gc.freeze() (>= 1000 hosts)
    gc.collect()
    gc.freeze()
    load = time.perf_counter() - t0
    rss_loaded = status_kb("VmRSS")
    reset = reset_peak()
    t0, c0 = time.perf_counter(), time.process_time()
    result = nf.run("fleet", journal=journal)
    run, cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = status_kb("VmHWM") if reset else None
    instances = len(_hotpath.HOOK_CACHE)
    prepared = nf.load_workflow("fleet")  # cache hits only: the same (class, value) keys
    distinct = {
        (HOOK_REGISTRY[name], type(value), value)
        for task in prepared.tasks
        for name, value in task.model.hooks.items()
    }
    ok = sum(t.codes.count(OK) + t.codes.count(CHANGED) for t in result.tasks)
    return {
        "hosts": len(inventory.hosts),
        "load_s": load,
        "run_s": run,
        "run_cpu_s": cpu,
        "ok": ok,
        "rss_loaded_kb": rss_loaded,
        "run_peak_kb": peak,
        "instances": instances,
        "distinct": len(distinct),
        "implementation": _hotpath.IMPLEMENTATION,
        "exit_code": result.exit_code,
        "tasks": len(result.tasks),
    }


def child_journal_cost(project: Path, workers: int, rounds: int) -> None:
    """One compiled engine, the workflow run ``rounds`` times with and without the journal in
    turns (after one warm-up pair); prints each run's wall and CPU seconds as JSON."""
    from nornflow.run.api import NornFlow

    nf = NornFlow(project / "nornflow.yaml", workers=workers, tune_gc=True)
    _ = nf.inventory
    gc.collect()
    gc.freeze()
    runs: dict[str, list[list[float]]] = {"on": [], "off": []}
    for attempt in range(rounds + 1):
        for key, journal in (("off", False), ("on", True)):
            t0, c0 = time.perf_counter(), time.process_time()
            nf.run("fleet", journal=journal)
            if attempt:  # the first pair warms up
                runs[key].append([time.perf_counter() - t0, time.process_time() - c0])
    sys.stdout.write(json.dumps(runs) + "\n")


def journal_cost(project: Path, args: argparse.Namespace) -> None:
    """The journal's cost: paired runs in one process (a noisy machine drifts between processes
    more than between two runs in a row), reported as the median and best ratio of each pair."""
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child-journal-cost",
        str(args.journal_cost),
        "--project",
        str(project),
        "--workers",
        str(args.workers),
    ]
    code, _, _, stdout, stderr = spawn(cmd, child_env("compiled"), capture=True)
    if code != 0:
        raise SystemExit(f"journal-cost child failed: {stderr.strip().splitlines()[-1:]}")
    runs = json.loads(stdout.strip().splitlines()[-1])
    print(f"journal cost, {args.hosts} hosts x {args.tasks} tasks, W={args.workers}, compiled, engine API:")
    print("pair  off wall  on wall  off cpu  on cpu  cpu ratio")
    ratios = []
    for n, (off, on) in enumerate(zip(runs["off"], runs["on"], strict=True), 1):
        ratios.append(on[1] / off[1])
        print(f"{n:4d}  {off[0]:8.3f}  {on[0]:7.3f}  {off[1]:7.3f}  {on[1]:6.3f}  {ratios[-1]:9.3f}")
    ratios.sort()
    median = ratios[len(ratios) // 2]
    print(f"journal on / off, CPU: median {median:.3f}, best {ratios[0]:.3f} (budget 1.05)")
    print(
        json.dumps({"bench": "journal-cost", "runs": runs, "median_ratio": median, "best_ratio": ratios[0]})
    )


def child_main(mode: str, project: Path, tasks: int, workers: int, journal: bool = True) -> None:
    """Run one mode in this process and print its figures as one JSON line."""
    kind = MODES[mode][0]
    if kind == "nornir":
        figures = child_nornir(project, tasks, workers)
    else:
        figures = child_engine(
            project, tasks, workers, with_processor=kind == "engine+processor", journal=journal
        )
    figures["peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    figures["gc_frozen"] = gc.get_freeze_count()
    sys.stdout.write(json.dumps(figures) + "\n")
    sys.stdout.flush()


# -- parent side ---------------------------------------------------------------------------------------


def child_env(hot_path: str) -> dict[str, str]:
    """The environment of a child: force the pure twin, or require the compiled one."""
    env = dict(os.environ)
    env.pop("NORNFLOW_NO_EXTENSIONS", None)
    env.pop("NORNFLOW_REQUIRE_EXTENSIONS", None)
    if hot_path == "pure":
        env["NORNFLOW_NO_EXTENSIONS"] = "1"
    elif hot_path == "compiled":
        env["NORNFLOW_REQUIRE_EXTENSIONS"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["NORNFLOW_NO_CACHE"] = "1"  # every mode parses the inventory: "load s" stays comparable
    return env


def spawn(cmd: Sequence[str], env: dict[str, str], capture: bool) -> tuple[int, float, int, str, str]:
    """Run ``cmd``; return its exit code, wall time, peak RSS (kB, from ``wait4``), stdout and stderr."""
    out = subprocess.PIPE if capture else subprocess.DEVNULL
    t0 = time.perf_counter()
    err = subprocess.PIPE if capture else subprocess.DEVNULL
    proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, text=True, cwd=str(ROOT))
    stdout, stderr = proc.communicate() if capture else ("", "")
    if capture:
        code, maxrss = proc.returncode, 0  # communicate() already reaped it: the child reports its own RSS
    else:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = code = os.waitstatus_to_exitcode(status)
        maxrss = usage.ru_maxrss
    return code, time.perf_counter() - t0, maxrss, stdout or "", stderr or ""


def run_mode(mode: str, project: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run one mode in a subprocess and return its figures (``error`` set when it failed)."""
    kind, workers_spec, hot_path = MODES[mode]
    workers = 1 if workers_spec == "1" else args.workers
    env = child_env(hot_path)
    figures: dict[str, Any] = {"mode": mode, "workers": workers}
    if kind == "cli":
        cmd = [
            sys.executable,
            "-m",
            "nornflow",
            "run",
            "fleet",
            "--project",
            str(project),
            "--workers",
            str(workers),
            *(["--no-journal"] if args.no_journal else []),
        ]
        # rendered as on a terminal (progress bar, colours), though the output itself is discarded
        env["FORCE_COLOR"] = "1"
        code, wall, maxrss, _, _ = spawn(cmd, env, capture=False)
        figures.update(cmd_s=wall, peak_rss_kb=maxrss, exit_code=code)
        if code != 0:
            figures["error"] = f"`nornflow run` exited with {code} (rerun it by hand to see why)"
        return figures
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        mode,
        "--project",
        str(project),
        "--tasks",
        str(args.tasks),
        "--workers",
        str(workers),
        *(["--no-journal"] if args.no_journal else []),
    ]
    code, wall, _, stdout, stderr = spawn(cmd, env, capture=True)
    figures["cmd_s"] = wall
    lines = stdout.strip().splitlines()
    if code != 0 or not lines:
        tail = stderr.strip().splitlines()[-1:] or [f"exit code {code}"]
        figures["error"] = tail[0]
        return figures
    figures.update(json.loads(lines[-1]))
    expected = args.hosts * args.tasks
    if figures.get("ok") != expected:
        figures["error"] = f"only {figures.get('ok')} of {expected} host-tasks succeeded"
    return figures


def best(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest successful sample of a mode (by run time, or command time for the CLI)."""
    ok = [s for s in samples if "error" not in s]
    if not ok:
        return samples[-1]
    row = dict(min(ok, key=lambda s: s.get("run_s", s["cmd_s"])))
    row["samples_run_s"] = [round(s.get("run_s", s["cmd_s"]), 4) for s in ok]
    return row


def derive(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """Add per host-task cost, ratios to the baseline and achieved concurrency to every row.

    The CLI has no separable run phase: its row carries only the whole command's wall time (``cmd_s``).
    """
    host_tasks = args.hosts * args.tasks
    base = next((r for r in rows if r["mode"] == BASELINE and "error" not in r), None)
    for row in rows:
        if "error" in row:
            continue
        if base is not None:
            row["cmd_ratio"] = row["cmd_s"] / base["cmd_s"]
            row["rss_ratio"] = row["peak_rss_kb"] / base["peak_rss_kb"]
            if row.get("run_peak_kb") and base.get("run_peak_kb"):
                row["run_peak_ratio"] = row["run_peak_kb"] / base["run_peak_kb"]
        if row.get("run_s") is None:
            continue
        row["us_per_host_task"] = row["run_s"] / host_tasks * 1e6
        if base is not None:
            row["wall_ratio"] = row["run_s"] / base["run_s"]
        if args.sleep_ms and row["workers"] > 1:
            ideal = host_tasks * args.sleep_ms / 1000 / row["workers"]
            row["concurrency_pct"] = ideal / row["run_s"] * 100


def fmt(value: Any, spec: str) -> str:
    """Format a figure, or ``-`` when it is missing."""
    return "-" if value is None else format(value, spec)


def print_table(rows: list[dict[str, Any]]) -> None:
    """One aligned table of every mode's figures (failed modes on a line of their own)."""
    header = [
        "mode",
        "W",
        "load s",
        "run s",
        "cpu s",
        "us/host-task",
        "cmd s",
        "peak RSS MB",
        "run peak MB",
        "instances",
        "wall x",
        "cmd x",
        "RSS x",
        "conc %",
    ]
    table = [header]
    failed = []
    for r in rows:
        if "error" in r:
            failed.append(f"{r['mode']} (W={r['workers']}): FAILED: {r['error']}")
            continue
        instances = f"{r['instances']}/{r['distinct']}" if "instances" in r else "-"
        run_peak = r.get("run_peak_kb")
        table.append(
            [
                r["mode"],
                str(r["workers"]),
                fmt(r.get("load_s"), ".2f"),
                fmt(r.get("run_s"), ".2f"),
                fmt(r.get("run_cpu_s"), ".2f"),
                fmt(r.get("us_per_host_task"), ".2f"),
                fmt(r["cmd_s"], ".2f"),
                fmt(r["peak_rss_kb"] / 1024, ".0f"),
                fmt(run_peak / 1024 if run_peak else None, ".0f"),
                instances,
                fmt(r.get("wall_ratio"), ".2f"),
                fmt(r.get("cmd_ratio"), ".2f"),
                fmt(r.get("rss_ratio"), ".2f"),
                fmt(r.get("concurrency_pct"), ".1f"),
            ]
        )
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for row in table:
        cells = [row[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)]
        print("  ".join(cells))
    for line in failed:
        print(line)


def budgets(rows: list[dict[str, Any]], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Check the project's budgets against the figures that are present; one entry per check."""
    by_mode = {r["mode"]: r for r in rows if "error" not in r}
    checks: list[dict[str, Any]] = []

    def check(name: str, value: float, limit: float, ok: bool) -> None:
        checks.append({"budget": name, "value": round(value, 4), "limit": limit, "met": ok})

    if not args.sleep_ms:
        limit = BUDGET_RATIO_LARGE if args.hosts >= 100_000 else BUDGET_RATIO_SMALL
        for mode in ("nornflow-compiled-1", "nornflow-compiled"):
            row = by_mode.get(mode)
            if row is not None and "wall_ratio" in row:
                wall, rss = row["wall_ratio"], row["rss_ratio"]
                check(f"{mode} wall / {BASELINE}", wall, limit, wall <= limit)
                check(f"{mode} peak RSS / {BASELINE}", rss, BUDGET_RSS, rss <= BUDGET_RSS)
        for workers in ("-1", ""):
            pure = by_mode.get(f"nornflow-pure{workers}")
            compiled = by_mode.get(f"nornflow-compiled{workers}")
            if pure is not None and compiled is not None:
                ratio = compiled["run_s"] / pure["run_s"]
                name = f"nornflow-compiled{workers} / nornflow-pure{workers} run"
                check(name, ratio, BUDGET_TWINS, ratio <= BUDGET_TWINS)
        proc, plain = by_mode.get("nornflow-compiled-processor"), by_mode.get("nornflow-compiled")
        if proc is not None and plain is not None:
            cost = round(proc["run_s"] / plain["run_s"], 4)
            checks.append({"figure": "processor cost (run, x nornflow-compiled)", "value": cost})
    else:
        row = by_mode.get("nornflow-compiled")
        if row is not None and "concurrency_pct" in row:
            check(
                "nornflow-compiled concurrency %",
                row["concurrency_pct"],
                BUDGET_CONCURRENCY,
                row["concurrency_pct"] >= BUDGET_CONCURRENCY,
            )
    for row in by_mode.values():
        if "instances" in row:
            check(
                f"{row['mode']} instances == distinct",
                row["instances"],
                row["distinct"],
                row["instances"] == row["distinct"],
            )
    cli, engine = by_mode.get("cli-compiled"), by_mode.get("nornflow-compiled")
    if cli is not None and engine is not None:
        ratio = cli["cmd_s"] / engine["cmd_s"]
        check("cli-compiled command / nornflow-compiled command", ratio, BUDGET_CLI, ratio <= BUDGET_CLI)
    return checks


def print_cli_overhead(rows: list[dict[str, Any]]) -> None:
    """Put the CLI's whole-command time beside the engine API's (same hot path and workers)."""
    by_mode = {r["mode"]: r for r in rows if "error" not in r}
    cli, engine = by_mode.get("cli-compiled"), by_mode.get("nornflow-compiled")
    if cli is None or engine is None:
        return
    inner = engine["load_s"] + engine["run_s"]
    print(
        f"\nCLI `nornflow run`: {cli['cmd_s']:.2f}s whole command; engine API (nornflow-compiled): "
        f"{engine['cmd_s']:.2f}s whole command ({cli['cmd_s'] / engine['cmd_s'] - 1:+.1%}), "
        f"{inner:.2f}s load+run ({cli['cmd_s'] / inner - 1:+.1%})"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line (``--child`` is internal: it runs one mode in this process)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=10)
    parser.add_argument("--hooks", type=int, default=3, choices=range(4))
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument(
        "--modes",
        nargs="+",
        choices=list(MODES),
        default=None,
        help="modes to run (default: all; with --sleep-ms only the threaded ones)",
    )
    parser.add_argument("--sleep-ms", type=float, default=0.0, help="task latency (ms) for the latency mode")
    parser.add_argument(
        "--pre-hook",
        choices=list(PRE_HOOKS),
        default="if",
        help="3rd hook: if 'true' (Jinja2), if {managed: true} (filter), or a custom no-op",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="run every mode N times (round-robin) and keep each mode's best"
    )
    parser.add_argument("--keep", type=Path, default=None, help="generate into DIR and keep it")
    parser.add_argument(
        "--no-journal",
        action="store_true",
        help="run nornflow without its run journal (.nornflow/runs): the journal's cost is the difference",
    )
    parser.add_argument(
        "--journal-cost",
        type=int,
        default=0,
        metavar="ROUNDS",
        help="instead of the modes: ROUNDS pairs of runs with and without the journal in one process",
    )
    parser.add_argument("--child", choices=list(MODES), help=argparse.SUPPRESS)
    parser.add_argument("--child-journal-cost", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--project", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    """Generate once, run every selected mode in its own subprocess, print the table and a JSON line."""
    args = parse_args(argv)
    if args.child:
        child_main(args.child, args.project, args.tasks, args.workers, journal=not args.no_journal)
        return
    if args.child_journal_cost:
        child_journal_cost(args.project, args.workers, args.child_journal_cost)
        return
    modes = args.modes or [m for m in MODES if not args.sleep_ms or MODES[m][1] == "W"]
    with tempfile.TemporaryDirectory(prefix="nornflow-fleet-") as tmp:
        project = args.keep.resolve() if args.keep else Path(tmp)
        t0 = time.perf_counter()
        write_project(project, args.hosts, args.tasks, args.hooks, args.sleep_ms, args.pre_hook)
        print(
            f"generated {args.hosts} hosts, {args.tasks} tasks x {args.hooks} hook(s) "
            f"(pre-hook: {args.pre_hook}, sleep {args.sleep_ms} ms) in {project} "
            f"({time.perf_counter() - t0:.1f}s); gc.collect()+gc.freeze() after load in every mode"
        )
        if args.journal_cost:
            journal_cost(project, args)
            return
        samples: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
        for attempt in range(args.repeat):  # round-robin, so a noisy spell hits every mode alike
            for mode in modes:
                row = run_mode(mode, project, args)
                samples[mode].append(row)
                state = "FAILED " + row["error"] if "error" in row else f"command {row['cmd_s']:.2f}s"
                print(f"  [{attempt + 1}/{args.repeat}] {mode}: {state}", file=sys.stderr, flush=True)
        rows = [best(samples[mode]) for mode in modes]
        derive(rows, args)
        print()
        print_table(rows)
        print_cli_overhead(rows)
        checks = budgets(rows, args)
        if checks:
            print()
            for c in checks:
                if "figure" in c:
                    print(f"figure {c['figure']}: {c['value']:g}")
                    continue
                verdict = "met" if c["met"] else "MISSED"
                print(f"budget {c['budget']}: {c['value']:g} (limit {c['limit']:g}) {verdict}")
        params = {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
            if k not in ("child", "project")
        }
        params.update(python=sys.version.split()[0], cpus=os.cpu_count())
        print(json.dumps({"bench": "fleet", "params": params, "results": rows, "budgets": checks}))


if __name__ == "__main__":
    main()
