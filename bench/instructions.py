"""Instructions per host-task, counted by valgrind: a figure this noisy VM cannot blur.

Usage::

    python bench/instructions.py [--hosts 2000] [--tasks 5] [--modes MODE ...]

Wall time on a shared 2-core VM varies by 15% and more; the number of instructions a run executes does
not (valgrind's cachegrind counts them, whatever else the machine does). Each mode runs twice under
``valgrind --tool=cachegrind --cache-sim=no``: once with one warm-up task run, once with the warm-up and
``--tasks`` more task runs; the difference over the extra host-tasks is the cost of one host-task, with
start-up, imports and inventory building cancelled out. Modes: bare Nornir serial (``nornir``), and
nornflow with the fleet benchmark's three hooks (``set_to``, ``output: false``,
``if: "host.name != 'none'"``) or none, on each hot-path twin, one worker.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import gc, sys
from nornir.core.task import Result
from nornflow.inventory import inventory_from_data

hosts, tasks, mode = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
inventory = inventory_from_data({f"host{i:07d}": {"platform": "ios"} for i in range(hosts)})
gc.collect()
gc.freeze()


def noop(task):
    return Result(host=task.host)


if mode == "nornir":
    from nornir.core import Nornir
    from nornir.plugins.runners import SerialRunner

    nr = Nornir(inventory=inventory, runner=SerialRunner())
    for i in range(1 + tasks):
        nr.run(task=noop, name=f"noop{i}")
else:
    from nornflow.run.api import NornFlow
    from nornflow.settings import Settings
    from nornflow.workflow.catalog import TaskInfo

    hooks = {"set_to": "x", "output": False, "if": "host.name != 'none'"} if mode.endswith("hooks") else {}
    nf = NornFlow(Settings(base_dir="."), inventory=inventory, workers=1, tune_gc=True)
    nf.catalog.tasks["noop"] = TaskInfo.of("noop", noop, "bench")
    warm = nf.load_workflow({"workflow": {"name": "w", "tasks": [dict(name="noop", **hooks)]}})
    nf.run(warm)
    if tasks:
        nf.run(nf.load_workflow({"workflow": {"name": "m", "tasks": [dict(name="noop", **hooks)] * tasks}}))
"""

MODES = {
    "nornir": ("nornir", ""),
    "compiled-hooks": ("nornflow-hooks", "compiled"),
    "pure-hooks": ("nornflow-hooks", "pure"),
    "compiled-none": ("nornflow-none", "compiled"),
    "pure-none": ("nornflow-none", "pure"),
}


def count(script: Path, hosts: int, tasks: int, mode: str, hot_path: str, out: Path) -> int:
    """Instructions of one child run under cachegrind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_")}
    if hot_path:
        env["NORNFLOW_NO_EXTENSIONS" if hot_path == "pure" else "NORNFLOW_REQUIRE_EXTENSIONS"] = "1"
    env["PYTHONHASHSEED"] = "0"
    cmd = [
        "valgrind",
        "--tool=cachegrind",
        "--cache-sim=no",
        f"--cachegrind-out-file={out}",
        sys.executable,
        str(script),
        str(hosts),
        str(tasks),
        mode,
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT, check=True)
    match = re.search(r"I\s+refs:\s+([\d,]+)", proc.stderr)
    if match is None:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{proc.stderr[-2000:]}")
    return int(match.group(1).replace(",", ""))


def main() -> None:
    """Measure every selected mode and print instructions per host-task (and a JSON line)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=2000)
    parser.add_argument("--tasks", type=int, default=5)
    parser.add_argument("--modes", nargs="+", choices=list(MODES), default=list(MODES))
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed (Debian: apt install valgrind)")
    rows = {}
    with tempfile.TemporaryDirectory(prefix="nornflow-instr-") as tmp:
        script = Path(tmp) / "child.py"
        script.write_text(CHILD)
        for name in args.modes:
            mode, hot_path = MODES[name]
            base = count(script, args.hosts, 0, mode, hot_path, Path(tmp) / "base.out")
            full = count(script, args.hosts, args.tasks, mode, hot_path, Path(tmp) / "full.out")
            rows[name] = (full - base) / (args.hosts * args.tasks)
            print(f"{name:16} {rows[name]:10,.0f} instructions / host-task", flush=True)
    if "nornir" in rows:
        print()
        for name, value in rows.items():
            if name != "nornir":
                print(f"{name:16} {value / rows['nornir']:6.3f} x nornir serial")
    if "compiled-hooks" in rows and "pure-hooks" in rows:
        print(f"{'compiled/pure':16} {rows['compiled-hooks'] / rows['pure-hooks']:6.3f} (3 hooks)")
    summary = {"bench": "instructions", "hosts": args.hosts, "tasks": args.tasks, "per_host_task": rows}
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
