"""WorkQueueRunner gives the same results as Nornir's runners, in inventory order, and honours stop_event."""

from __future__ import annotations

import collections
import pathlib
import random
import threading
import time
import tomllib
from typing import Any

import pytest
from nornir import InitNornir
from nornir.core import Nornir
from nornir.core.exceptions import NornirSubTaskError
from nornir.core.inventory import Defaults, Groups, Host, Hosts, Inventory
from nornir.core.plugins.runners import RunnersPluginRegister
from nornir.core.task import AggregatedResult, MultiResult, Result, Task
from nornir.plugins.runners import SerialRunner, ThreadedRunner

from nornflow.run import runners as runners_module
from nornflow.run.runners import WorkQueueRunner

ROOT = pathlib.Path(__file__).resolve().parents[1]


def make_nornir(count: int, runner: Any) -> Nornir:
    """A Nornir over ``count`` in-memory hosts h0000.. with their index in ``data``."""
    hosts = Hosts({f"h{i:04d}": Host(f"h{i:04d}", data={"index": i}) for i in range(count)})
    return Nornir(inventory=Inventory(hosts=hosts, groups=Groups(), defaults=Defaults()), runner=runner)


def summary(result: AggregatedResult) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """Everything comparable about an AggregatedResult, in its own order."""
    return [
        (
            host,
            [
                (r.name, r.host.name, str(r.result), r.failed, r.changed, type(r.exception), r.severity_level)
                for r in multi
            ],
        )
        for host, multi in result.items()
    ]


def all_runners(workers: int = 8) -> list[Any]:
    """Our runner and Nornir's two, to run the same task on."""
    return [WorkQueueRunner(workers), ThreadedRunner(workers), SerialRunner()]


class Boom(Exception):
    """Raised by test tasks on chosen hosts."""


def grouped(task: Task) -> Result:
    """A task with subtasks; the second subtask fails on every fifth host."""
    index = task.host["index"]
    task.run(lambda t: Result(host=t.host, result=index * 2, changed=True), name="double")
    task.run(lambda t: Result(host=t.host, result=index / (index % 5)), name="divide")
    return Result(host=task.host, result=f"done {index}")


# ---- same results as Nornir's runners ----------------------------------------------------------------------


def test_same_results_as_threaded_and_serial_runners() -> None:
    def task(task: Task) -> Result:
        return Result(host=task.host, result=task.host["index"] ** 2, changed=task.host["index"] % 2 == 0)

    results = [make_nornir(300, runner).run(task) for runner in all_runners()]
    assert summary(results[0]) == summary(results[1]) == summary(results[2])
    assert list(results[0]) == [f"h{i:04d}" for i in range(300)]
    assert isinstance(results[0], AggregatedResult) and results[0].name == "task"
    assert all(isinstance(multi, MultiResult) for multi in results[0].values())


def test_inventory_order_with_many_workers_and_random_sleeps() -> None:
    delays = random.Random(1234).choices([0, 0.0005, 0.001, 0.003], k=200)
    both_running = threading.Barrier(2, timeout=10)

    def task(task: Task) -> int:
        index = task.host["index"]
        if index < 2:
            both_running.wait()  # passes only if two hosts run at the same time
        time.sleep(delays[index])
        return index

    result = make_nornir(200, WorkQueueRunner(32)).run(task)
    assert list(result) == [f"h{i:04d}" for i in range(200)]
    assert [multi.result for multi in result.values()] == list(range(200))
    assert not result.failed


def test_failing_hosts_match_threaded_runner() -> None:
    def task(task: Task) -> int:
        index = task.host["index"]
        if index % 7 == 0:
            raise Boom(f"boom on {index}")
        if index % 11 == 0:
            raise KeyError(index)
        return index

    ours = make_nornir(120, WorkQueueRunner(10))
    theirs = make_nornir(120, ThreadedRunner(10))
    mine, reference = ours.run(task), theirs.run(task)
    assert summary(mine) == summary(reference)
    assert list(mine.failed_hosts) == list(reference.failed_hosts)
    assert {type(m.exception) for m in mine.failed_hosts.values()} == {Boom, KeyError}
    assert ours.data.failed_hosts == theirs.data.failed_hosts == set(reference.failed_hosts)


def test_subtasks_match_all_runners() -> None:
    results = [make_nornir(60, runner).run(grouped) for runner in all_runners(6)]
    assert summary(results[0]) == summary(results[1]) == summary(results[2])
    failed = results[0]["h0005"]
    assert failed.failed and isinstance(failed[0].exception, NornirSubTaskError)
    assert [r.name for r in results[0]["h0001"]] == ["grouped", "double", "divide"]


# ---- inline paths and thread counts ------------------------------------------------------------------------


class ForbiddenThread:
    """Stands in for threading.Thread where no thread may be created."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("a thread was created")


@pytest.mark.parametrize(("workers", "count"), [(1, 25), (20, 1)])
def test_inline_paths_create_no_thread(monkeypatch: pytest.MonkeyPatch, workers: int, count: int) -> None:
    seen: list[int] = []

    def task(task: Task) -> int:
        seen.append(threading.get_ident())
        return task.host["index"]

    monkeypatch.setattr(runners_module.threading, "Thread", ForbiddenThread)
    result = make_nornir(count, WorkQueueRunner(workers)).run(task)
    assert set(seen) == {threading.get_ident()} and len(seen) == count
    assert [multi.result for multi in result.values()] == list(range(count))


def test_inline_path_matches_serial_runner_with_subtasks() -> None:
    mine = make_nornir(30, WorkQueueRunner(1)).run(grouped)
    assert summary(mine) == summary(make_nornir(30, SerialRunner()).run(grouped))


def counting_thread(started: list[str]) -> type[threading.Thread]:
    """A Thread subclass recording the name of every thread started."""

    class CountingThread(threading.Thread):
        def start(self) -> None:
            started.append(self.name)
            super().start()

    return CountingThread


def test_no_more_threads_than_hosts(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []
    monkeypatch.setattr(runners_module.threading, "Thread", counting_thread(started))
    result = make_nornir(3, WorkQueueRunner(50, adaptive=False)).run(lambda task: task.host.name)
    assert len(started) == 3
    assert [multi.result for multi in result.values()] == ["h0000", "h0001", "h0002"]


def test_64_workers_over_5000_hosts_run_each_host_once() -> None:
    runs: collections.Counter[str] = collections.Counter()
    threads: set[int] = set()
    lock = threading.Lock()

    def task(task: Task) -> str:
        with lock:
            runs[task.host.name] += 1
            threads.add(threading.get_ident())
        return task.host.name

    result = make_nornir(5000, WorkQueueRunner(64, adaptive=False)).run(task)
    names = [f"h{i:04d}" for i in range(5000)]
    assert list(result) == names
    assert runs == collections.Counter(names)
    assert [multi.result for multi in result.values()] == names
    assert threading.get_ident() not in threads and len(threads) <= 64


@pytest.mark.parametrize("allowed", [2, 0])
def test_thread_start_failure_falls_back(monkeypatch: pytest.MonkeyPatch, allowed: int) -> None:
    started: list[str] = []

    class LimitedThread(threading.Thread):
        def start(self) -> None:
            if len(started) >= allowed:
                raise RuntimeError("can't start new thread")
            started.append(self.name)
            super().start()

    monkeypatch.setattr(runners_module.threading, "Thread", LimitedThread)
    result = make_nornir(40, WorkQueueRunner(8, adaptive=False)).run(lambda task: task.host["index"])
    assert [multi.result for multi in result.values()] == list(range(40))
    assert len(started) == allowed
    started.clear()

    def slow(task: Task) -> int:
        time.sleep(runners_module.SLOW_HOST * 2)  # asks an adaptive run for its pool
        return task.host["index"]

    result = make_nornir(40, WorkQueueRunner(8)).run(slow)  # adaptive: the watchdog, then the pool
    assert [multi.result for multi in result.values()] == list(range(40))
    assert len(started) == allowed


# ---- stop_event --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 4, 16])
def test_stop_event_stops_scheduling(workers: int) -> None:
    stop = threading.Event()
    k = 30
    started: list[int] = []
    lock = threading.Lock()

    def task(task: Task) -> int:
        index = task.host["index"]
        with lock:
            started.append(index)
        if index == k:
            stop.set()
        elif index > k:
            stop.wait(10)  # hosts handed out after #k stay in flight until the stop is set
        return index

    runner = WorkQueueRunner(workers, stop_event=stop)
    assert runner.stop_event is stop
    result = make_nornir(200, runner).run(task)
    ran = sorted(started)
    assert [f"h{i:04d}" for i in ran] == list(result)  # every started host has a result, in order
    assert all(result[f"h{i:04d}"].result == i for i in ran)
    assert ran[: k + 1] == list(range(k + 1))  # all hosts up to #k were handed out before the stop
    assert max(ran) <= k + workers - 1  # at most one host in flight per other worker
    if workers == 1:
        assert ran == list(range(k + 1))
    assert "h0199" not in result


def test_stop_event_already_set_runs_nothing() -> None:
    stop = threading.Event()
    stop.set()
    for workers in (1, 8):
        result = make_nornir(10, WorkQueueRunner(workers, stop_event=stop)).run(lambda task: 1)
        assert isinstance(result, AggregatedResult) and len(result) == 0


# ---- errors outside Task.start's handling ------------------------------------------------------------------


class FailingProcessor:
    """A Nornir processor that raises when a chosen host starts, and records every completed host."""

    def __init__(self, bad: set[str]) -> None:
        self.bad = bad
        self.completed: list[str] = []
        self.lock = threading.Lock()

    def task_started(self, task: Task) -> None:
        pass

    def task_completed(self, task: Task, result: AggregatedResult) -> None:
        pass

    def task_instance_started(self, task: Task, host: Host) -> None:
        if host.name in self.bad:
            raise Boom(f"processor failed on {host.name}")

    def task_instance_completed(self, task: Task, host: Host, result: MultiResult) -> None:
        with self.lock:
            self.completed.append(host.name)

    def subtask_instance_started(self, task: Task, host: Host) -> None:
        pass

    def subtask_instance_completed(self, task: Task, host: Host, result: MultiResult) -> None:
        pass


@pytest.mark.parametrize("workers", [1, 6])
def test_processor_error_is_raised_like_threaded_runner(workers: int) -> None:
    bad = {"h0013", "h0004"}
    ours, theirs = FailingProcessor(bad), FailingProcessor(bad)
    with pytest.raises(Boom) as reference:
        make_nornir(40, ThreadedRunner(6)).with_processors([theirs]).run(lambda task: 1)
    with pytest.raises(Boom) as mine:
        make_nornir(40, WorkQueueRunner(workers)).with_processors([ours]).run(lambda task: 1)
    assert str(mine.value) == str(reference.value) == "processor failed on h0004"  # first in inventory order
    assert sorted(ours.completed) == sorted(theirs.completed)  # every other host still ran
    partial = mine.value.aggregated_result
    assert list(partial) == [f"h{i:04d}" for i in range(40) if f"h{i:04d}" not in bad]
    assert any("h0004" in note for note in mine.value.__notes__)


class Fatal(BaseException):
    """Escapes Task.start, which only catches Exception: the closest thing to a dying worker."""


def test_base_exception_in_a_worker_does_not_hang_or_lose_hosts() -> None:
    def task(task: Task) -> int:
        if task.host["index"] == 3:
            raise Fatal("worker-killing error")
        return task.host["index"]

    with pytest.raises(Fatal):
        make_nornir(50, ThreadedRunner(4)).run(task)
    with pytest.raises(Fatal) as info:
        make_nornir(50, WorkQueueRunner(4)).run(task)
    partial = info.value.aggregated_result
    assert list(partial) == [f"h{i:04d}" for i in range(50) if i != 3]


def test_system_exit_in_a_worker_stops_scheduling_and_is_raised() -> None:
    raised = threading.Event()

    def task(task: Task) -> int:
        if task.host["index"] == 0:
            raised.set()
            raise SystemExit(3)
        raised.wait(10)  # other hosts stay in flight until host #0 has raised
        time.sleep(0.001)  # leaves the aborting worker ample time to flag the stop
        return task.host["index"]

    with pytest.raises(SystemExit) as info:
        make_nornir(500, WorkQueueRunner(4, adaptive=False)).run(task)
    partial = info.value.aggregated_result
    assert "h0000" not in partial and len(partial) < 499


def test_system_exit_in_the_calling_thread_propagates_at_once() -> None:
    """Adaptive runs start on the calling thread: there, SystemExit ends the run like SerialRunner's."""
    ran: list[int] = []

    def task(task: Task) -> int:
        ran.append(task.host["index"])
        if task.host["index"] == 2:
            raise SystemExit(3)
        return task.host["index"]

    with pytest.raises(SystemExit):
        make_nornir(500, WorkQueueRunner(4)).run(task)
    assert ran == [0, 1, 2]


# ---- construction and registration -------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [0, -3, 2.5, "4", None, True])
def test_num_workers_validation(bad: Any) -> None:
    with pytest.raises(ValueError, match="num_workers"):
        WorkQueueRunner(bad)


def test_defaults() -> None:
    runner = WorkQueueRunner()
    assert runner.num_workers == 20 and runner.stop_event is None and runner.adaptive is True
    assert "20" in repr(runner)


@pytest.mark.source_tree  # reads pyproject.toml
def test_entry_point_is_declared() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    entry = project["entry-points"]["nornir.plugins.runners"]["work_queue"]
    assert entry == "nornflow.run.runners:WorkQueueRunner"
    module, _, name = entry.partition(":")
    assert getattr(__import__(module, fromlist=[name]), name) is WorkQueueRunner


def test_loads_through_the_plugin_register_by_name(tmp_path: pathlib.Path) -> None:
    RunnersPluginRegister.auto_register()
    if "work_queue" not in RunnersPluginRegister.available:  # package not pip-installed
        RunnersPluginRegister.register("work_queue", WorkQueueRunner)
    assert RunnersPluginRegister.get_plugin("work_queue") is WorkQueueRunner
    host_file = tmp_path / "hosts.yaml"
    host_file.write_text("".join(f"h{i}: {{data: {{index: {i}}}}}\n" for i in range(12)), encoding="utf-8")
    nr = InitNornir(
        inventory={"plugin": "SimpleInventory", "options": {"host_file": str(host_file)}},
        runner={"plugin": "work_queue", "options": {"num_workers": 5}},
        logging={"enabled": False},
    )
    assert isinstance(nr.runner, WorkQueueRunner) and nr.runner.num_workers == 5
    result = nr.run(lambda task: task.host["index"])
    assert [multi.result for multi in result.values()] == list(range(12))


# ---- run_each: the engine's entry point (no per-host result objects) -------------------------------


@pytest.mark.parametrize("workers", [1, 2, 16, 64])
def test_run_each_calls_every_index_once_and_keeps_nothing(workers: int) -> None:
    seen: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()

    def work(index: int) -> str:
        with lock:
            seen[index] += 1
        return "ignored"

    errors = WorkQueueRunner(workers).run_each(work, 3000)
    assert errors == {} and sorted(seen) == list(range(3000)) and set(seen.values()) == {1}


@pytest.mark.parametrize("workers", [1, 8])
def test_run_each_returns_exceptions_by_index_and_carries_on(workers: int) -> None:
    done: list[int] = []

    def work(index: int) -> None:
        if index % 7 == 3:
            raise Boom(index)
        done.append(index)

    errors = WorkQueueRunner(workers).run_each(work, 100)
    assert sorted(errors) == [i for i in range(100) if i % 7 == 3]
    assert all(isinstance(e, Boom) and e.args == (i,) for i, e in errors.items())
    assert sorted(done) == [i for i in range(100) if i % 7 != 3]


@pytest.mark.parametrize("workers", [1, 4])
def test_run_each_stop_event_leaves_a_suffix_unstarted(workers: int) -> None:
    stop = threading.Event()
    started: list[int] = []
    lock = threading.Lock()

    def work(index: int) -> None:
        with lock:
            started.append(index)
        if index == 10:
            stop.set()

    assert WorkQueueRunner(workers, stop_event=stop).run_each(work, 1000) == {}
    # indices are handed out in increasing order, so what never started is a suffix
    assert sorted(started) == list(range(len(started))) and 11 <= len(started) <= 10 + workers + 1


def test_run_each_keyboard_interrupt_in_the_calling_thread_propagates_at_once() -> None:
    started: list[int] = []

    def work(index: int) -> None:
        started.append(index)
        if index == 5:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        WorkQueueRunner(1).run_each(work, 100)
    assert started == list(range(6))


def test_run_each_system_exit_in_a_worker_thread_stops_scheduling_and_is_returned() -> None:
    started: list[int] = []

    def work(index: int) -> None:
        started.append(index)
        if index == 0:
            raise SystemExit(3)
        time.sleep(0.001)

    errors = WorkQueueRunner(4, adaptive=False).run_each(work, 10_000)
    assert isinstance(errors.pop(0), SystemExit) and errors == {}
    assert len(started) < 100  # the other workers took no new index once it was raised


# ---- adaptive: threads only once hosts wait ----------------------------------------------------------------


def test_adaptive_hosts_that_never_wait_run_in_the_calling_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    # a GC pass or a busy machine may stall one host past 2 ms (which rightly starts the pool): not here
    monkeypatch.setattr(runners_module, "SLOW_HOST", 60.0)
    monkeypatch.setattr(runners_module, "WATCH_PERIOD", 60.0)
    seen: set[int] = set()

    def task(task: Task) -> int:
        seen.add(threading.get_ident())
        return task.host["index"]

    result = make_nornir(3000, WorkQueueRunner(20)).run(task)
    assert seen == {threading.get_ident()}  # no worker was started: none would have been faster
    assert [multi.result for multi in result.values()] == list(range(3000))
    assert not [t for t in threading.enumerate() if t.name.startswith("nornflow-")]  # watchdog gone too


def test_adaptive_hosts_that_wait_get_every_worker() -> None:
    seen: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()

    def task(task: Task) -> int:
        time.sleep(runners_module.SLOW_HOST * 2)
        with lock:
            seen[threading.get_ident()] += 1
        return task.host["index"]

    result = make_nornir(400, WorkQueueRunner(8)).run(task)
    assert [multi.result for multi in result.values()] == list(range(400))
    assert threading.get_ident() in seen and 2 <= len(seen) <= 8  # the caller is one of the 8 workers
    assert sum(seen.values()) == 400


@pytest.mark.parametrize("workers", [4, 16])
def test_adaptive_a_caller_stuck_on_its_first_host_gets_the_pool(workers: int) -> None:
    """Hosts that can only finish together (a barrier of 4): the calling thread blocks on the first
    one, so only the watchdog can see that nothing moves and start the other workers."""
    barrier = threading.Barrier(4, timeout=10)

    def task(task: Task) -> int:
        if task.host["index"] < 4:
            barrier.wait()
        return task.host["index"]

    result = make_nornir(50, WorkQueueRunner(workers)).run(task)
    assert not result.failed and [multi.result for multi in result.values()] == list(range(50))


def test_adaptive_run_each_hammer_many_waiting_hosts_each_exactly_once() -> None:
    runs: collections.Counter[int] = collections.Counter()
    lock = threading.Lock()

    def work(index: int) -> None:
        if index % 50 == 0:
            time.sleep(runners_module.SLOW_HOST * 2)
        with lock:
            runs[index] += 1

    assert WorkQueueRunner(32).run_each(work, 20_000) == {}
    assert len(runs) == 20_000 and set(runs.values()) == {1}


# ---- the engine's `runner` setting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "options", "in_caller", "workers_prefix"),
    [
        ("work_queue", {}, True, None),  # adaptive: CPU-bound hosts stay on the calling thread
        ("work_queue", {"adaptive": False}, False, "nornflow-worker-"),  # every worker at once
        ("threaded", {}, False, "ThreadPoolExecutor-"),  # Nornir's own ThreadedRunner plugin
        ("serial", {}, True, None),  # Nornir's SerialRunner
    ],
)
def test_runner_setting_picks_how_hosts_are_spread(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: pathlib.Path,
    mode: str,
    options: dict[str, Any],
    in_caller: bool,
    workers_prefix: str | None,
) -> None:
    from nornflow.inventory import inventory_from_data
    from nornflow.run.api import NornFlow
    from nornflow.settings import Settings
    from nornflow.workflow.catalog import TaskInfo

    monkeypatch.setattr(runners_module, "SLOW_HOST", 60.0)  # no host counts as waiting here
    monkeypatch.setattr(runners_module, "WATCH_PERIOD", 60.0)
    seen: set[str] = set()

    def where(task: Task) -> Result:
        seen.add(threading.current_thread().name)
        return Result(host=task.host)

    inventory = inventory_from_data({f"h{i:03d}": {} for i in range(200)})
    settings = Settings(base_dir=tmp_path, runner=mode, runner_options=options)
    nf = NornFlow(settings, inventory=inventory, workers=8)
    nf.catalog.tasks["where"] = TaskInfo.of("where", where, "tests")
    result = nf.run({"workflow": {"name": "w", "tasks": [{"name": "where"}]}})
    assert result.exit_code == 0 and result.tasks[0].counts()["ok"] == 200
    assert (threading.current_thread().name in seen) is in_caller
    if workers_prefix is None:
        assert seen == {threading.current_thread().name}
    else:
        assert all(name.startswith(workers_prefix) for name in seen), seen


def test_an_unknown_runner_setting_is_an_error_naming_the_key(tmp_path: pathlib.Path) -> None:
    from nornflow.exceptions import SettingsError
    from nornflow.settings import Settings

    path = tmp_path / "nornflow.yaml"
    path.write_text("runner: fastest\n")
    with pytest.raises(SettingsError) as info:
        Settings.load(path)
    assert info.value.key == "runner" and str(path) in str(info.value)
    assert "work_queue" in str(info.value)


@pytest.mark.parametrize(("cpu_follows_wall", "pool"), [(True, False), (False, True)])
def test_adaptive_slow_hosts_start_the_pool_only_if_they_waited(
    monkeypatch: pytest.MonkeyPatch, cpu_follows_wall: bool, pool: bool
) -> None:
    """Slow hosts that spent their time running (CPU) gain nothing from threads; slow hosts that spent
    it waiting do. The thread CPU clock is faked so the verdict does not depend on the machine's load."""
    monkeypatch.setattr(runners_module, "WATCH_PERIOD", 60.0)
    monkeypatch.setattr(
        runners_module, "_THREAD_CPU", time.perf_counter if cpu_follows_wall else (lambda: 0.0)
    )
    seen: set[str] = set()

    def work(index: int) -> None:
        seen.add(threading.current_thread().name)
        if index % 10 == 0:
            time.sleep(runners_module.SLOW_HOST * 2)

    assert WorkQueueRunner(4).run_each(work, 300) == {}
    assert any(name.startswith("nornflow-worker-") for name in seen) is pool


def test_adaptive_one_slow_host_alone_is_a_hint_not_a_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    """A single stall (page fault, busy machine) is followed by precise timing of the next hosts; when
    none of them is slow, the run stays on the calling thread."""
    monkeypatch.setattr(runners_module, "WATCH_PERIOD", 60.0)
    seen: set[str] = set()

    def work(index: int) -> None:
        seen.add(threading.current_thread().name)
        if index == 5:
            time.sleep(runners_module.SLOW_HOST * 3)

    assert WorkQueueRunner(4).run_each(work, 500) == {}
    assert seen == {threading.current_thread().name}
