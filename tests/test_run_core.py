"""The run core's contracts: Nornir processors and runner plugins, the hook <-> run contract (outcome,
skip decisions, wrappers), the executor seam, one run at a time per prepared workflow, and a library
that leaves its host process alone."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from nornir.core.task import Result, Task

from nornflow.exceptions import RunInProgressError, SettingsError
from nornflow.hooks.base import PostRunHook, PreRunHook, Skip, WrapperHook
from nornflow.hooks.registry import register_hook
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.run.executor import LocalExecutor, RunPlan
from nornflow.settings import Settings
from nornflow.workflow.catalog import TaskInfo

ROOT = Path(__file__).resolve().parents[1]


def engine(tmp_path: Path, hosts: int = 6, **settings: Any) -> NornFlow:
    inventory = inventory_from_data(
        {f"r{i}": {"data": {"role": "core" if i % 2 else "edge"}, "groups": []} for i in range(hosts)}
    )
    nf = NornFlow(Settings(base_dir=tmp_path, **settings), inventory=inventory, workers=4)
    for func in (greet, nested, flaky):
        nf.catalog.tasks[func.__name__] = TaskInfo.of(func.__name__, func, "tests")
    return nf


def greet(task: Task, word: str = "hi") -> Result:
    """Return a greeting."""
    return Result(host=task.host, result=f"{word} {task.host.name}")


def _sub(task: Task) -> Result:
    return Result(host=task.host, result="sub")


def nested(task: Task) -> Result:
    """Run a subtask, as grouped Nornir tasks do."""
    task.run(_sub)
    return Result(host=task.host, result="outer")


def flaky(task: Task) -> Result:
    """Fail on r1."""
    if task.host.name == "r1":
        raise RuntimeError("device says no")
    return Result(host=task.host, result="ok", changed=True)


class RecordingProcessor:
    """A Nornir processor (the protocol's six methods) that records every call, in order."""

    def __init__(self, tag: str = "rec") -> None:
        self.tag = tag
        self.calls: list[tuple[Any, ...]] = []
        self.lock = threading.Lock()

    def _add(self, *event: Any) -> None:
        with self.lock:
            self.calls.append(event)

    def task_started(self, task: Task) -> None:
        self._add("task_started", task.name)

    def task_completed(self, task: Task, result: Any) -> None:
        self._add("task_completed", task.name, sorted(result))

    def task_instance_started(self, task: Task, host: Any) -> None:
        self._add("task_instance_started", task.name, host.name)

    def task_instance_completed(self, task: Task, host: Any, result: Any) -> None:
        self._add("task_instance_completed", task.name, host.name, result.failed, result.result)

    def subtask_instance_started(self, task: Task, host: Any) -> None:
        self._add("subtask_instance_started", task.name, host.name)

    def subtask_instance_completed(self, task: Task, host: Any, result: Any) -> None:
        self._add("subtask_instance_completed", task.name, host.name)


# -- Nornir processors ---------------------------------------------------------------------------------


def test_processors_get_nornirs_calls_for_every_task_and_host_in_order(impl, tmp_path: Path) -> None:
    nf = engine(tmp_path)
    rec = RecordingProcessor()
    result = nf.run(
        {"workflow": {"name": "p", "tasks": [{"name": "nested"}, {"name": "greet", "args": {"word": "yo"}}]}},
        processors=[rec],
    )
    assert result.exit_code == 0
    hosts = [f"r{i}" for i in range(6)]
    start_greet = rec.calls.index(("task_started", "greet"))
    phases = {"nested": rec.calls[:start_greet], "greet": rec.calls[start_greet:]}
    for task, events in phases.items():
        assert events[0] == ("task_started", task) and events[-1] == ("task_completed", task, hosts)
        for host in hosts:
            mine = [c[0] for c in events if len(c) > 2 and c[2] == host]
            if task == "nested":
                assert mine == [
                    "task_instance_started",
                    "subtask_instance_started",
                    "subtask_instance_completed",
                    "task_instance_completed",
                ]
            else:
                assert mine == ["task_instance_started", "task_instance_completed"]
    done = {c[2]: c[4] for c in rec.calls if c[0] == "task_instance_completed" and c[1] == "greet"}
    assert done == {h: f"yo {h}" for h in hosts}
    # per task: 1 start + 1 completion, and 2 (4 with the subtask) calls per host
    assert len(rec.calls) == (2 + 4 * 6) + (2 + 2 * 6)


def test_processors_see_nornflows_verdict_and_skip_failed_hosts(impl, tmp_path: Path) -> None:
    """A processor's ``task_instance_completed`` gets the host's final verdict (after hooks such as
    ``failed_when``); hosts left out by the failure strategy get no call, as in ``Nornir.run``."""
    nf = engine(tmp_path)
    rec = RecordingProcessor()
    workflow = {
        "workflow": {
            "name": "v",
            "tasks": [
                {"name": "flaky"},
                {"name": "greet", "failed_when": "host.name == 'r2'"},
                {"name": "greet", "if": "host.name != 'r3'"},
            ],
        }
    }
    result = nf.run(workflow, processors=[rec])
    assert result.exit_code == 1
    first = {c[2]: c[3] for c in rec.calls if c[0] == "task_instance_completed" and c[1] == "flaky"}
    assert first["r1"] is True and first["r0"] is False
    second = [c for c in rec.calls if c[0] == "task_instance_completed" and c[1] == "greet"][:5]
    assert {c[2]: c[3] for c in second} == {"r0": False, "r2": True, "r3": False, "r4": False, "r5": False}
    assert not any(c[2] == "r1" for c in rec.calls if c[0].startswith("task_instance") and c[1] == "greet")
    assert result.tasks[2]["r3"].skip_reason == "if condition is false"


def test_a_real_nornir_processor_from_settings_prints_every_host(
    impl, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """nornir-utils' PrintResult, configured in the settings as users write it."""
    nf = engine(tmp_path, processors=[{"class": "nornir_utils.plugins.processors.PrintResult", "args": {}}])
    result = nf.run({"workflow": {"name": "pr", "tasks": [{"name": "greet"}]}})
    assert result.exit_code == 0
    out = capsys.readouterr().out
    assert "**** greet - Starting" in out and "**** greet - Completed" in out
    for i in range(6):
        assert f"vvvv greet - r{i} ** changed: False" in out and f"hi r{i}" in out


def test_a_workflows_processors_replace_the_projects(impl, tmp_path: Path) -> None:
    nf = engine(tmp_path, processors=[{"class": "tests.test_run_core.RecordingProcessor"}])
    prepared = nf.load_workflow(
        {"workflow": {"name": "none", "processors": [], "tasks": [{"name": "greet"}]}}
    )
    assert prepared.processors == []
    assert nf.run(prepared).exit_code == 0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"class": "no.such.module.Proc"}, "cannot import processor module 'no.such.module'"),
        ({"class": "tests.test_run_core.greet"}, "is not a class"),
        ({"class": "tests.test_run_core.engine_class"}, "lacks task_started"),
    ],
)
def test_a_bad_processor_is_an_error_naming_the_key(
    tmp_path: Path, spec: dict[str, Any], message: str
) -> None:
    (tmp_path / "nornflow.yaml").write_text(json.dumps({"processors": [spec]}))
    with pytest.raises(SettingsError) as info:
        NornFlow(tmp_path / "nornflow.yaml")
    assert message in info.value.message and info.value.key == "processors[0].class"
    assert info.value.file == str(tmp_path / "nornflow.yaml")


class engine_class:
    pass


def test_a_processor_that_raises_is_reported_once_and_changes_nothing(impl, tmp_path: Path) -> None:
    class Broken(RecordingProcessor):
        def task_instance_completed(self, task: Task, host: Any, result: Any) -> None:
            raise ValueError("processor bug")

    notices: list[str] = []

    class Notices:
        per_host = False

        def __getattr__(self, name: str) -> Any:
            return lambda *a, **k: None

        def notice(self, message: str) -> None:
            notices.append(message)

    nf = engine(tmp_path)
    result = nf.run(
        {"workflow": {"name": "b", "tasks": [{"name": "greet"}]}}, processors=[Broken()], reporter=Notices()
    )
    assert result.exit_code == 0 and result.tasks[0].counts()["ok"] == 6
    assert notices == ["processor Broken.task_instance_completed raised ValueError: processor bug (ignored)"]


# -- runner plugins ---------------------------------------------------------------------------------------


def test_a_third_party_runner_plugin_selected_by_name(impl, tmp_path: Path) -> None:
    """nornir-conditional-runner's ConditionalRunner (entry point ``ConditionalRunner``), with its own
    options: at most one ``core`` host at a time; results as with the default runner."""
    active = {"now": 0, "max": 0}
    lock = threading.Lock()

    def guarded(task: Task) -> Result:
        with lock:
            active["now"] += 1
            active["max"] = max(active["max"], active["now"])
        time.sleep(0.01)
        with lock:
            active["now"] -= 1
        return Result(host=task.host, result=threading.current_thread().name)

    inventory = inventory_from_data({f"r{i}": {"groups": ["core"]} for i in range(6)}, {"core": {}})
    settings = Settings(
        base_dir=tmp_path, runner="ConditionalRunner", runner_options={"group_limits": {"core": 1}}
    )
    nf = NornFlow(settings, inventory=inventory, workers=4)
    for name, func in (("guarded", guarded), ("greet", greet)):
        nf.catalog.tasks[name] = TaskInfo.of(name, func, "tests")
    result = nf.run({"workflow": {"name": "c", "tasks": [{"name": "guarded"}, {"name": "greet"}]}})
    assert result.exit_code == 0
    assert active["max"] == 1  # the runner's own limit held
    assert all(r.result.startswith("ThreadPoolExecutor") for r in result.tasks[0])
    default = NornFlow(Settings(base_dir=tmp_path), inventory=inventory, workers=4)
    default.catalog.tasks["greet"] = TaskInfo.of("greet", greet, "tests")
    again = default.run({"workflow": {"name": "c", "tasks": [{"name": "greet"}]}})
    assert [r.to_dict()["result"] for r in again.tasks[0]] == [r.to_dict()["result"] for r in result.tasks[1]]


def test_an_unknown_runner_plugin_is_a_settings_error_listing_the_known(tmp_path: Path) -> None:
    (tmp_path / "nornflow.yaml").write_text("runner: fastest\n")
    with pytest.raises(SettingsError) as info:
        Settings.load(tmp_path / "nornflow.yaml")
    assert info.value.key == "runner"
    for name in ("ConditionalRunner", "serial", "threaded", "work_queue"):
        assert name in info.value.message


# -- the hook <-> run contract -----------------------------------------------------------------------------


class Maintenance(PreRunHook):
    """Skip hosts in a maintenance window, with the reason."""

    hook_name = "maintenance"

    def _run_hook(self, task_model: Any, host: Any, vars_mgr: Any) -> bool | Skip:
        return Skip(f"{host.name} is in maintenance") if host.name in self.value else True


class Excuse(PostRunHook):
    """Excuse a named host's failure and annotate every outcome."""

    hook_name = "excuse"

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        if result.failed and host.name == self.value:
            result.ignored = True
        if not result.failed:
            result.result = f"{result.result} ({result.status})"


class Twice(WrapperHook):
    """Run the task twice; the host's result is both results."""

    hook_name = "twice"

    def execute(self, call: Any, task_model: Any, task: Task, vars_mgr: Any, extra: Any) -> Any:
        first, second = call(task, extra), call(task, extra)
        second.result = [first.result, second.result]
        return second


class Explodes(PostRunHook):
    hook_name = "explodes"

    def _run_hook(self, task_model: Any, host: Any, result: Any, vars_mgr: Any) -> None:
        if host.name == "r4":
            raise KeyError("missing piece")


def test_the_outcome_contract_from_user_hooks(impl, tmp_path: Path) -> None:
    for cls in (Maintenance, Excuse, Twice, Explodes):
        register_hook(cls)
    nf = engine(tmp_path)
    workflow = {
        "workflow": {
            "name": "contract",
            "failure_strategy": "run-all",
            "tasks": [
                {"name": "flaky", "maintenance": ["r0"], "excuse": "r1", "twice": True, "explodes": True},
            ],
        }
    }
    prepared = nf.load_workflow(workflow)
    task = prepared.tasks[0]
    assert [w.hook_name for w in task.wrappers] == ["twice"]
    assert [h.hook_name for h in task.dispatcher.pre_hooks] == ["maintenance"]  # the wrapper is not per host
    result = nf.run(prepared)
    t = result.tasks[0]
    assert t["r0"].status == "skipped" and t["r0"].skip_reason == "r0 is in maintenance"
    assert t["r1"].ignored and t["r1"].failed and "device says no" in t["r1"].error.message
    assert t["r2"].status == "changed" and t["r2"].result == "['ok', 'ok'] (changed)"
    assert t["r4"].status == "failed" and t["r4"].error.hook == "explodes"
    assert "KeyError" in t["r4"].error.message and t["r4"].error.type == "HookExecutionError"
    assert result.exit_code == 1 and result.failed_hosts == ["r4"]


def test_the_spec_example_hook_runs_from_workflow_yaml(
    impl, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The guide's section 6 hook, in a project's hooks/ dir, used from a workflow file (6.3)."""
    import logging

    from tests.test_hooks_framework import SPEC_EXAMPLE

    (tmp_path / "hooks").mkdir()
    (tmp_path / "hooks" / "my_hooks.py").write_text(textwrap.dedent(SPEC_EXAMPLE))
    (tmp_path / "workflows").mkdir()
    (tmp_path / "workflows" / "example.yaml").write_text(
        "workflow:\n  name: example_workflow\n  tasks:\n    - name: greet\n      args:\n        word: value\n"
        "      my_custom: custom_value\n"
    )
    nf = engine(tmp_path, hosts=2)
    with caplog.at_level(logging.INFO, logger="my_hooks"):
        result = nf.run("example")
    assert result.exit_code == 0
    assert sorted(r.getMessage() for r in caplog.records if r.name == "my_hooks") == [
        "MyCustomHook executed for r0 with value custom_value",
        "MyCustomHook executed for r1 with value custom_value",
    ]


# -- one run at a time per prepared workflow ---------------------------------------------------------------


def test_an_overlapping_run_of_the_same_prepared_workflow_is_refused(impl, tmp_path: Path) -> None:
    started, release = threading.Event(), threading.Event()

    def hold(task: Task) -> Result:
        started.set()
        release.wait(10)
        return Result(host=task.host)

    nf = engine(tmp_path, hosts=3)
    nf.catalog.tasks["hold"] = TaskInfo.of("hold", hold, "tests")
    prepared = nf.load_workflow({"workflow": {"name": "once", "tasks": [{"name": "hold", "run_once": True}]}})
    results: list[Any] = []
    first = threading.Thread(target=lambda: results.append(nf.run(prepared, handle_sigint=False)))
    first.start()
    assert started.wait(10)
    with pytest.raises(RunInProgressError, match="already running"):
        nf.run(prepared, handle_sigint=False)
    # an independently prepared copy runs at the same time, with its own run-once claim
    other = nf.run({"workflow": {"name": "once", "tasks": [{"name": "greet", "run_once": True}]}})
    assert other.tasks[0].counts()["ok"] == 1
    release.set()
    first.join(10)
    assert results[0].tasks[0].counts()["ok"] == 1
    assert nf.run(prepared).tasks[0].counts()["ok"] == 1  # and again, once the first is over


# -- the executor seam -----------------------------------------------------------------------------------


class TwoShards:
    """An executor that runs each task on two in-process shards (contiguous halves of the hosts),
    each a LocalExecutor owning its hosts' variables, and merges their columns: the seam a
    process-sharded executor builds on."""

    def __init__(self, nf: NornFlow) -> None:
        self.nf = nf
        self.calls: list[str] = []

    def start(self, plan: RunPlan) -> None:
        self.calls.append("start")
        half = len(plan.hosts) // 2
        self.parts = [plan.hosts[:half], plan.hosts[half:]]
        self.shards = []
        for names in self.parts:
            inventory = self.nf.inventory.filter(filter_func=lambda h, names=set(names): h.name in names)
            shard = LocalExecutor(inventory)
            shard.start(
                RunPlan(plan.workflow, names, plan.static_vars, plan.dry_run, plan.workers, plan.control)
            )
            self.shards.append(shard)

    def run_task(self, index: int, result: Any, positions: Any) -> None:
        from nornflow.run.results import TaskResult

        self.calls.append(f"task {index}")
        offset = 0
        for names, shard in zip(self.parts, self.shards, strict=True):
            local = TaskResult(result.name, index, names)
            mine = None
            if positions is not None:
                mine = [p - offset for p in positions if offset <= p < offset + len(names)]
            shard.run_task(index, local, mine)
            for i in range(len(names)) if mine is None else mine:  # the driver settled the others
                result.codes[offset + i] = local.codes[i]
                result.payloads[offset + i] = local.payloads[i]
            for column in ("errors", "diffs", "skip_reasons", "extras"):
                getattr(result, column).update({offset + i: v for i, v in getattr(local, column).items()})
            offset += len(names)

    def variables(self) -> dict[str, dict[str, Any]]:
        merged: dict[str, dict[str, Any]] = {}
        for shard in self.shards:
            merged.update(shard.variables())
        return merged

    def close(self) -> None:
        self.calls.append("close")
        for shard in self.shards:
            shard.close()


def test_a_custom_executor_runs_the_workflow_with_the_same_results(impl, tmp_path: Path) -> None:
    nf = engine(tmp_path, hosts=8)
    workflow = {
        "workflow": {
            "name": "sharded",
            "tasks": [
                {"name": "flaky", "set_to": "first"},
                {
                    "name": "greet",
                    "args": {"word": "{{ first }}"},
                    "if": "host.role == 'core'",
                    "set_to": "second",
                },
                {"name": "set", "args": {"done": "{{ host.name }}"}, "loop": [1, 2]},
            ],
        }
    }
    local = nf.run(workflow).to_dict()
    executor = TwoShards(nf)
    sharded = nf.run(workflow, executor=executor).to_dict()
    assert executor.calls == ["start", "task 0", "task 1", "task 2", "close"]

    def strip(doc: dict[str, Any]) -> dict[str, Any]:
        doc = json.loads(json.dumps(doc, default=str))
        doc.pop("duration")
        for task in doc["tasks"]:
            task.pop("duration")
            for host in task["hosts"].values():
                host.pop("duration")
        return doc

    assert strip(sharded) == strip(local)
    assert local["variables"]["r3"]["second"] == "ok r3"  # set_to values crossed the shard's tasks
    assert "second" not in local["variables"]["r2"]  # an edge host: its `if` was false


# -- the library leaves its host process alone -----------------------------------------------------------

_GC_PROBE = """
import gc, json, sys
from nornir.core.task import Result
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings
from nornflow.workflow.catalog import TaskInfo

seen = []
def probe(task):
    seen.append(gc.isenabled())
    return Result(host=task.host)

inventory = inventory_from_data({f"h{i}": {} for i in range(2000)})
nf = NornFlow(Settings(base_dir="."), inventory=inventory, tune_gc=sys.argv[1] == "tune")
nf.catalog.tasks["probe"] = TaskInfo.of("probe", probe, "probe")
nf.inventory
nf.run({"workflow": {"name": "g", "tasks": [{"name": "probe"}]}})
report = {"frozen": gc.get_freeze_count(), "enabled_in_tasks": sorted(set(seen)), "enabled": gc.isenabled()}
print(json.dumps(report))
"""


@pytest.mark.parametrize(
    ("mode", "frozen", "in_tasks"), [("library", False, [True]), ("tune", True, [False])]
)
def test_the_python_api_leaves_the_gc_alone_unless_asked(
    mode: str, frozen: bool, in_tasks: list[bool]
) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _GC_PROBE, mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert (data["frozen"] > 0) is frozen
    assert data["enabled_in_tasks"] == in_tasks and data["enabled"] is True


_SERVICE_PROBE = """
import gc, json, sys, tracemalloc
from nornflow.run.api import NornFlow

def job():
    nf = NornFlow(sys.argv[1] + "/nornflow.yaml", tune_gc=sys.argv[2] == "tune")
    nf.inventory
    task = {"name": "ping", "args": {"n": "{{ host.n }}"}, "set_to": "m"}
    nf.run({"workflow": {"name": "j", "tasks": [task]}})

tracemalloc.start()
sizes = []
for n in range(30):
    job()
    gc.collect()
    sizes.append(tracemalloc.get_traced_memory()[0])
print(json.dumps({"sizes": sizes, "frozen": gc.get_freeze_count()}))
"""

_SERVICE_TASKS = '''
from nornir.core.task import Result, Task

#: module state: each engine imports the project's task modules anew, and the old module (a cycle:
#: its functions' globals are its dict) is garbage only the cyclic GC can free
TABLE = [f"entry {i}" for i in range(5000)]


def ping(task: Task, n: int = 0) -> Result:
    """Answer."""
    return Result(host=task.host, result=TABLE[n % len(TABLE)])
'''


@pytest.mark.parametrize(("mode", "flat"), [("library", True), ("tune", False)])
def test_a_service_running_many_engines_stays_flat(tmp_path: Path, mode: str, flat: bool) -> None:
    """30 jobs, each with its own engine on a 1,500-host project, in one process: traced memory stays
    flat as a library; with the GC frozen on every load (what ``tune_gc`` does for the CLI, and what
    the library used to do unasked) each job's garbage would stay for good."""
    import yaml

    (tmp_path / "inventory").mkdir()
    hosts = {f"h{i}": {"data": {"n": i}} for i in range(1500)}
    (tmp_path / "inventory" / "hosts.yaml").write_text(yaml.safe_dump(hosts))
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "ping.py").write_text(_SERVICE_TASKS)
    (tmp_path / "nornflow.yaml").write_text("inventory:\n  host_file: inventory/hosts.yaml\n")
    out = subprocess.run(
        [sys.executable, "-c", _SERVICE_PROBE, str(tmp_path), mode],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    sizes = data["sizes"]
    assert (data["frozen"] == 0) is flat
    assert (sizes[-1] - sizes[4] < 1024 * 1024) is flat, [round(s / 1e6, 2) for s in sizes]


# -- Nornir config files -------------------------------------------------------------------------------


@pytest.mark.parametrize("asked", [False, True])
def test_nornirs_file_log_is_off_unless_the_config_turns_it_on(tmp_path: Path, asked: bool) -> None:
    """A stock Nornir config file neither writes ``nornir.log`` (raw passwords in tracebacks, 0644)
    nor warns about conflicting logging on every run; a config that enables logging gets it."""
    import warnings

    (tmp_path / "hosts.yaml").write_text("r1:\n  password: hunter2\n")
    config: dict[str, Any] = {
        "inventory": {"plugin": "SimpleInventory", "options": {"host_file": str(tmp_path / "hosts.yaml")}}
    }
    if asked:
        config["logging"] = {"enabled": True, "log_file": str(tmp_path / "nornir.log")}
    (tmp_path / "nornir.yaml").write_text(json.dumps(config))
    (tmp_path / "nornflow.yaml").write_text("nornir_config_file: nornir.yaml\n")
    import logging as logging_module

    handler = logging_module.StreamHandler()
    logging_module.getLogger().addHandler(handler)  # as the CLI's log setup does
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            nf = NornFlow(tmp_path / "nornflow.yaml")
            assert list(nf.inventory.hosts) == ["r1"]
    finally:
        logging_module.getLogger().removeHandler(handler)
        for h in list(logging_module.getLogger("nornir").handlers):
            logging_module.getLogger("nornir").removeHandler(h)
            h.close()
    assert (tmp_path / "nornir.log").exists() is asked
    if not asked:
        assert not [w for w in caught if "ConflictingConfiguration" in type(w.message).__name__]
