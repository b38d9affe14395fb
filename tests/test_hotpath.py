"""The hot path on both twins: flyweight cache, execution tracker, dispatcher, parity, selection."""

from __future__ import annotations

import gc
import importlib
import importlib.util
import inspect
import os
import subprocess
import sys
import threading
import time
import weakref
from types import SimpleNamespace

import pytest

from nornflow.exceptions import HookExecutionError
from nornflow.freeze import freeze
from nornflow.hooks.base import PostRunHook, PreRunHook, Skip
from nornflow.hooks.plan import calls_run_hook, dispatch_plan, needs_inventory_order
from tests.conftest import IMPLS

# -- helpers ---------------------------------------------------------------------------------------


class Counting(PreRunHook):
    """A pre-hook that counts constructions and calls (per class attributes, reset per test)."""

    hook_name = "counting"
    constructed = 0
    calls = 0
    lock = threading.Lock()

    def __init__(self, value=None):
        super().__init__(value)
        with Counting.lock:
            Counting.constructed += 1

    def _run_hook(self, task_model, host, vars_mgr):
        with Counting.lock:
            Counting.calls += 1
        return True


class OncePre(PreRunHook):
    hook_name = "once_pre"
    run_once_per_task = True

    def __init__(self, value=None):
        super().__init__(value)
        self.executions = 0
        self.hosts = []
        self._lock = threading.Lock()

    def _run_hook(self, task_model, host, vars_mgr):
        with self._lock:
            self.executions += 1
            self.hosts.append(host.name)
        return True


class SkipSome(PreRunHook):
    hook_name = "skip_some"

    def _run_hook(self, task_model, host, vars_mgr):
        return host.name not in self.value


class Recorder(PostRunHook):
    hook_name = "recorder"

    def __init__(self, value=None):
        super().__init__(value)
        self.seen = []

    def _run_hook(self, task_model, host, result, vars_mgr):
        self.seen.append((host.name, result))


class OverridesRun(PreRunHook):
    hook_name = "overrides_run"

    def run(self, task_model, host, vars_mgr):
        return host.name != "blocked"


class Boom(PostRunHook):
    hook_name = "boom"

    def _run_hook(self, task_model, host, result, vars_mgr):
        raise RuntimeError("kaput")


def dispatcher_of(impl, pre=(), post=(), tracker=None):
    """A dispatcher of ``impl`` for these hooks, planned as the run plans it."""
    return impl.HookDispatcher(*dispatch_plan(pre, post), tracker or impl.ExecutionTracker())


def hosts(n: int, prefix: str = "h") -> list[SimpleNamespace]:
    return [SimpleNamespace(name=f"{prefix}{i}") for i in range(n)]


class Model:
    """A minimal task model (weak-referenceable, hashable by identity)."""

    def __init__(self, name: str = "t") -> None:
        self.name = name


@pytest.fixture(autouse=True)
def _reset_counts():
    Counting.constructed = 0
    Counting.calls = 0


# -- cache -----------------------------------------------------------------------------------------


def test_cache_returns_one_instance_per_class_and_value(impl):
    cache = impl.HookInstanceCache()
    a = cache.get_or_create(Counting, "x")
    assert cache.get_or_create(Counting, "x") is a
    b = cache.get_or_create(Counting, "y")
    assert b is not a and b.value == "y"
    assert len(cache) == 2 and Counting.constructed == 2
    assert cache.get(Counting, "x") is a and cache.get(Counting, "zzz") is None
    assert (Counting, str, "x") in cache
    cache.clear()
    assert len(cache) == 0 and cache.get(Counting, "x") is None


def test_cache_tells_true_from_one_and_freezes_nested_values(impl):
    cache = impl.HookInstanceCache()
    nested_a = freeze({"a": [1, {"b": True}]})
    nested_b = freeze({"a": [1, {"b": 1}]})
    held = [cache.get_or_create(Counting, v) for v in (True, 1, 1.0, nested_a, nested_b)]  # kept alive
    assert held[0] is not held[1] and held[2] is not held[1] and held[3] is not held[4]
    assert cache.get_or_create(Counting, freeze({"a": [1, {"b": True}]})) is held[3]
    assert len(cache) == 5  # True, 1, 1.0 and the two nested values


def test_fleet_scale_creates_one_instance_per_distinct_config(impl):
    """100,000 hosts x 10 tasks x 3 hook configs: exactly 3 instances, dispatched 2,000,000 times."""
    from nornflow.models import TaskModel

    HOOKS = {"counting": Counting, "recorder": Recorder}
    from nornflow.hooks.registry import register_hook

    for cls in HOOKS.values():
        register_hook(cls)
    configs = [{"counting": "a", "recorder": "r"}, {"counting": "b", "recorder": "r"}]
    models = [TaskModel.create({"name": f"t{i}", **configs[i % 2]}) for i in range(10)]
    assert len(impl_cache_instances(impl)) == 0
    dispatchers = [m.dispatcher for m in models]
    assert len(impl_cache_instances(impl)) == 3  # counting a, counting b, recorder r
    fleet = hosts(100_000)
    outcome = impl.Outcome(None)
    for model, dispatcher in zip(models, dispatchers, strict=True):
        run = dispatcher.tracker.begin_run(model)
        run_pre, run_post = dispatcher.run_pre, dispatcher.run_post
        for host in fleet:
            if run_pre(model, host, None, run):
                run_post(model, host, outcome, None)
        dispatcher.tracker.end_run(run)
    assert Counting.calls == 1_000_000
    assert Counting.constructed == 2
    assert len(impl_cache_instances(impl)) == 3
    recorder = models[0].get_post_hooks()[0]
    assert len(recorder.seen) == 1_000_000
    recorder.seen.clear()


def impl_cache_instances(impl):
    from nornflow import _hotpath

    assert isinstance(_hotpath.HOOK_CACHE, impl.HookInstanceCache)
    return _hotpath.HOOK_CACHE.instances()


def test_64_threads_racing_on_a_cold_key_construct_it_once(impl):
    class Slow(PreRunHook):
        hook_name = "slow"
        built = 0

        def __init__(self, value=None):
            super().__init__(value)
            time.sleep(0.01)  # widen the race window
            Slow.built += 1

        def _run_hook(self, task_model, host, vars_mgr):
            return True

    cache = impl.HookInstanceCache()
    barrier = threading.Barrier(64)
    got = []

    def worker():
        barrier.wait()
        got.append(cache.get_or_create(Slow, freeze({"k": [1, 2]})))

    threads = [threading.Thread(target=worker) for _ in range(64)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert Slow.built == 1
    assert len(got) == 64 and all(g is got[0] for g in got)
    assert len(cache) == 1


def test_constructor_error_is_not_cached(impl):
    class Picky(PreRunHook):
        hook_name = "picky"

        def __init__(self, value=None):
            if value == "bad":
                raise ValueError("bad value")
            super().__init__(value)

    cache = impl.HookInstanceCache()
    with pytest.raises(ValueError, match="bad value"):
        cache.get_or_create(Picky, "bad")
    assert len(cache) == 0
    assert cache.get_or_create(Picky, "good").value == "good"


# -- tracker ---------------------------------------------------------------------------------------


def test_32_threads_see_exactly_one_first_execution_per_task_run(impl):
    hook = OncePre("x")
    model = Model()
    dispatcher = dispatcher_of(impl, [hook])
    fleet = hosts(10_000)
    chunks = [fleet[i::32] for i in range(32)]

    def hammer(run):
        barrier = threading.Barrier(32)

        def worker(chunk):
            barrier.wait()
            for host in chunk:
                assert dispatcher.run_pre(model, host, None, run) is True

        threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    run = dispatcher.tracker.begin_run(model)
    hammer(run)
    assert hook.executions == 1
    dispatcher.tracker.end_run(run)
    run = dispatcher.tracker.begin_run(model)  # a second run of the same task runs it again
    hammer(run)
    assert hook.executions == 2
    dispatcher.tracker.end_run(run)
    hammer(None)  # no run given: the dispatcher claims through the tracker (an implicit run)
    assert hook.executions == 3
    hammer(None)
    assert hook.executions == 3


def test_tracker_exactly_once_through_hook_run_directly(impl):
    """Hooks called directly (no dispatcher) also run once per task run, under 32 threads."""
    hook = OncePre("direct")
    model = Model()
    from nornflow import _hotpath

    tracker = _hotpath.TRACKER
    barrier = threading.Barrier(32)

    def worker(chunk):
        barrier.wait()
        for host in chunk:
            hook.run(model, host, None)

    def hammer():
        threads = [threading.Thread(target=worker, args=(hosts(300, f"w{i}-"),)) for i in range(32)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    run = tracker.begin_run(model)
    hammer()
    assert hook.executions == 1
    tracker.end_run(run)
    run = tracker.begin_run(model)
    hammer()
    assert hook.executions == 2
    tracker.end_run(run)
    # outside any explicit run: an implicit run, still exactly once
    hammer()
    assert hook.executions == 3
    hammer()
    assert hook.executions == 3


def test_tracker_state_is_garbage_collected_after_a_run(impl):
    tracker = impl.ExecutionTracker()
    model = Model()
    hook = OncePre("gc")
    run = tracker.begin_run(model)
    assert tracker.is_first_execution(hook, model) is True
    assert tracker.is_first_execution(hook, model) is False
    assert len(tracker) == 1 and tracker.current_run(model) is run
    ref = weakref.ref(run)
    del run
    gc.collect()
    assert ref() is None
    assert len(tracker) == 0 and tracker.current_run(model) is None

    # implicit runs die with their task model
    model2 = Model()
    assert tracker.is_first_execution(hook, model2) is True
    assert len(tracker) == 1
    del model2
    gc.collect()
    assert len(tracker) == 0


def test_dispatcher_keeps_no_run_alive(impl):
    """A dispatcher holds no per-run state: the run it claimed on dies with its last reference."""
    dispatcher = dispatcher_of(impl, [OncePre("r")])
    model = Model()
    run = dispatcher.tracker.begin_run(model)
    ref = weakref.ref(run)
    assert dispatcher.run_pre(model, hosts(1)[0], None, run) is True
    assert run.has_fired(dispatcher.pre_hooks[0])
    del run
    gc.collect()
    assert ref() is None
    assert len(dispatcher.tracker) == 0


# -- dispatcher ------------------------------------------------------------------------------------


def test_pre_hook_returning_false_skips_only_that_host(impl):
    skip = SkipSome(freeze(["h3", "h7"]))
    counting = Counting("after")
    dispatcher = dispatcher_of(impl, [skip, counting])
    model = Model()
    outcomes = {h.name: dispatcher.run_pre(model, h, None) for h in hosts(10)}
    assert [n for n, ok in outcomes.items() if not ok] == ["h3", "h7"]
    assert Counting.calls == 8  # hooks after the skipping one do not run for skipped hosts
    # a plain False becomes the hook's own skip decision, naming it for the recap
    assert isinstance(outcomes["h3"], Skip) and outcomes["h3"].reason == "skipped by hook 'skip_some'"


def test_a_skip_decision_carries_its_reason_and_none_means_run(impl):
    class Decides(PreRunHook):
        hook_name = "decides"

        def _run_hook(self, task_model, host, vars_mgr):
            return {"a": Skip("maintenance window"), "b": None, "c": 0}.get(host.name, True)

    dispatcher = dispatcher_of(impl, [Decides()])
    model = Model()
    got = {h: dispatcher.run_pre(model, SimpleNamespace(name=h), None) for h in ("a", "b", "c", "d")}
    assert got["a"].reason == "maintenance window" and not got["a"]
    assert got["b"] is True and got["d"] is True
    assert isinstance(got["c"], Skip) and got["c"].reason == "skipped by hook 'decides'"


def test_dispatcher_keeps_order_and_honours_overridden_run(impl):
    order = []

    class A(PreRunHook):
        hook_name = "a"

        def _run_hook(self, task_model, host, vars_mgr):
            order.append("a")
            return True

    class B(PostRunHook):
        hook_name = "b"

        def _run_hook(self, task_model, host, result, vars_mgr):
            order.append(("b", result))

    dispatcher = dispatcher_of(impl, [A(), OverridesRun()], [B()])
    model = Model()
    assert dispatcher.run_pre(model, SimpleNamespace(name="ok"), None) is True
    assert not dispatcher.run_pre(model, SimpleNamespace(name="blocked"), None)
    dispatcher.run_post(model, SimpleNamespace(name="ok"), 42, None)
    assert order == ["a", "a", ("b", 42)]
    assert not calls_run_hook(OverridesRun(), PreRunHook)  # called through its own run()
    assert calls_run_hook(A(), PreRunHook) and calls_run_hook(OncePre(), PreRunHook)
    plan = dispatch_plan([A(), OncePre()], [])[0]
    assert plan[0][2] is None and plan[1][2] == id(plan[1][0])  # run-once hooks are claimed first


def test_empty_dispatcher(impl):
    dispatcher = dispatcher_of(impl)
    assert dispatcher.empty and not needs_inventory_order([])
    assert dispatcher.run_pre(Model(), hosts(1)[0], None) is True
    assert dispatcher.run_post(Model(), hosts(1)[0], None, None) is None


def test_hook_exception_names_hook_task_and_host(impl):
    dispatcher = dispatcher_of(impl, [], [Boom()])
    with pytest.raises(HookExecutionError) as info:
        dispatcher.run_post(Model("backup"), SimpleNamespace(name="r1"), None, None)
    err = info.value
    assert (err.hook, err.task, err.host) == ("boom", "backup", "r1")
    assert "RuntimeError: kaput" in str(err)
    assert isinstance(err.__cause__, RuntimeError)


def test_once_per_task_post_hooks_are_kept_for_the_engine(impl):
    class OncePost(PostRunHook):
        hook_name = "once_post"
        run_once_per_task = True
        calls = []

        def _run_hook(self, task_model, host, result, vars_mgr):
            OncePost.calls.append(host.name)

    per_host = Recorder()
    dispatcher = dispatcher_of(impl, [], [OncePost(), per_host])
    model = Model()
    run = dispatcher.tracker.begin_run(model)
    for host in hosts(5):
        dispatcher.run_post(model, host, 1, None)
    assert OncePost.calls == [] and len(per_host.seen) == 5
    dispatcher.run_post_once(model, SimpleNamespace(name="first"), 1, None, run)
    dispatcher.run_post_once(model, SimpleNamespace(name="again"), 1, None, run)
    assert OncePost.calls == ["first"]
    dispatcher.tracker.end_run(run)


def test_prime_walks_hosts_in_order_until_one_passes(impl, tmp_path):
    """Before the fan-out, the run evaluates the pre-hooks of hosts in inventory order until one
    passes, so a run-once hook fires on the first eligible host whatever the threads do."""
    from nornflow.hooks.registry import register_hook
    from nornflow.inventory import inventory_from_data
    from nornflow.run.api import NornFlow
    from nornflow.settings import Settings

    register_hook(OncePre)
    register_hook(SkipSome)
    inventory = inventory_from_data({f"h{i}": {} for i in range(10)})
    nf = NornFlow(Settings(base_dir=tmp_path), inventory=inventory, workers=4)
    prepared = nf.load_workflow(
        {"workflow": {"name": "p", "tasks": [{"name": "echo", "skip_some": ["h0", "h1"], "once_pre": "p"}]}}
    )
    assert prepared.tasks[0].needs_prime
    result = nf.run(prepared)
    once = prepared.tasks[0].model.get_pre_hooks()[1]
    assert once.hosts == ["h2"]  # the first eligible host in inventory order
    task = result.tasks[0]
    assert [task[h].status for h in ("h0", "h1", "h2", "h3")] == ["skipped", "skipped", "ok", "ok"]
    assert task["h0"].skip_reason == "skipped by hook 'skip_some'"


# -- parity and selection --------------------------------------------------------------------------


@pytest.mark.skipif(len(IMPLS) < 2, reason="compiled twin not available in this run")
def test_twins_have_the_same_public_api():
    """Same public names, signatures, and fields (slots) in the same order: a reader can diff them."""
    py = importlib.import_module("nornflow._hotpath_py")
    c = importlib.import_module("nornflow._hotpath_c")
    assert sorted(py.__all__) == sorted(c.__all__)
    for name in py.__all__:
        a, b = getattr(py, name), getattr(c, name)
        if name == "IMPLEMENTATION":
            continue
        if not callable(a):
            assert a == b, name  # the status codes
            continue
        if inspect.isclass(a):
            pub_a = {m for m in dir(a) if not m.startswith("_")}
            pub_b = {m for m in dir(b) if not m.startswith("_")}
            assert pub_a == pub_b, name
            assert _ctor_params(a) == _ctor_params(b), f"{name}()"
            assert _fields(a) == _compiled_fields(b, a), f"{name} fields"
            for member in sorted(pub_a):
                fa, fb = getattr(a, member), getattr(b, member)
                if callable(fa) and not isinstance(fa, type):
                    assert _sig(fa) == _sig(fb), f"{name}.{member}"
        else:
            assert _sig(a) == _sig(b), name


def _fields(cls):
    """The public fields of a pure-twin class, in declaration order."""
    return [s for s in cls.__slots__ if not s.startswith("_")]


def _compiled_fields(cls, twin):
    """The public fields of a compiled class, in declaration order (its properties left out)."""
    import types

    kinds = (types.GetSetDescriptorType, types.MemberDescriptorType)
    return [
        k
        for k, v in cls.__dict__.items()
        if isinstance(v, kinds) and not isinstance(twin.__dict__.get(k), property) and not k.startswith("_")
    ]


def _ctor_params(cls):
    """Constructor parameter names (a compiled class embeds its signature in the docstring)."""
    try:
        return [p for p in inspect.signature(cls).parameters if p != "self"]
    except (TypeError, ValueError):
        head = (cls.__doc__ or "").splitlines()[0]
        inner = head[head.index("(") + 1 : head.rindex(")")]
        return [part.split("=")[0].split()[-1] for part in inner.split(",") if part.strip()]


def _sig(obj):
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return [(p.name, p.kind) for p in sig.parameters.values() if p.name != "self"]


def _python(code: str, **env: str) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_")}
    full.update(env)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=full, timeout=60)


def test_env_forces_pure_python():
    out = _python("from nornflow import _hotpath; print(_hotpath.IMPLEMENTATION)", NORNFLOW_NO_EXTENSIONS="1")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "python"
    out = _python("from nornflow import _hotpath; print(_hotpath.IMPLEMENTATION)", NORNFLOW_NO_EXTENSIONS="0")
    built = importlib.util.find_spec("nornflow._hotpath_c") is not None
    assert out.stdout.strip() == ("cython" if built else "python")


def test_require_extensions_turns_a_missing_module_into_import_error():
    block = "import sys; sys.modules['nornflow._hotpath_c'] = None\n"
    out = _python(block + "import nornflow._hotpath", NORNFLOW_REQUIRE_EXTENSIONS="yes")
    assert out.returncode != 0
    assert "ImportError" in out.stderr and "NORNFLOW_REQUIRE_EXTENSIONS" in out.stderr
    out = _python(block + "from nornflow import _hotpath; print(_hotpath.IMPLEMENTATION)")
    assert out.returncode == 0 and out.stdout.strip() == "python"


def test_env_flags_are_words_not_presence():
    out = _python("import nornflow._hotpath", NORNFLOW_NO_EXTENSIONS="maybe")
    assert out.returncode != 0 and "NORNFLOW_NO_EXTENSIONS" in out.stderr and "boolean" in out.stderr
    code = "from nornflow import _hotpath; print(_hotpath.IMPLEMENTATION)"
    out = _python(code, NORNFLOW_NO_EXTENSIONS="true", NORNFLOW_REQUIRE_EXTENSIONS="1")
    assert out.returncode == 0 and out.stdout.strip() == "python"  # forcing pure wins


@pytest.mark.skipif("cython" not in IMPLS, reason="compiled twin not available in this run")
def test_require_extensions_with_the_module_built():
    out = _python(
        "from nornflow import _hotpath; print(_hotpath.IMPLEMENTATION)", NORNFLOW_REQUIRE_EXTENSIONS="1"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "cython"


# -- the per-host step's Nornir objects and Jinja2 lookups -------------------------------------------------


def test_the_steps_task_is_what_nornir_builds(impl):
    """The ``Task`` a task function gets has every attribute Nornir's own constructor sets (taken
    from a real one), its own results and the host."""
    from nornir.core.inventory import Host
    from nornir.core.task import MultiResult, Task

    def func(task):
        return None

    real = Task(func, None, True, [], "t")
    step = impl.TaskStep()
    step.name = "t"
    step.task_attrs = {k: v for k, v in vars(real).items() if k != "results"}
    host = Host("r1")
    a, b = step.new_task(host), step.new_task(host)
    assert set(vars(a)) == set(vars(real)) | {"host"}
    assert a.host is host and a.is_dry_run() is True and a.name == "t" and a.task is func
    assert isinstance(a.results, MultiResult) and a.results.name == "t" and a.results is not b.results


def test_jinja_lookups_of_host_attributes_follow_nornirs_inheritance(impl):
    """``host.X`` in templates reads slots directly, except the attributes Nornir resolves through
    groups and defaults (platform, hostname, ...), which still inherit."""
    from nornflow.inventory import inventory_from_data

    inventory = inventory_from_data(
        {"r1": {"groups": ["ios"], "data": {"site": "ams"}}}, {"ios": {"platform": "cisco_ios", "port": 2222}}
    )
    host = inventory.hosts["r1"]
    getattr_ = impl.JinjaGetattr(lambda **kw: ("undefined", kw["name"]))
    assert getattr_(host, "name") == "r1"
    assert getattr_(host, "platform") == "cisco_ios" and getattr_(host, "port") == 2222
    assert getattr_(host, "site") == "ams"  # not an attribute: Nornir's item lookup (data)
    assert getattr_(host, "nosuch") == ("undefined", "nosuch")
    vm = impl.VarsManager({"x": 1})
    view = vm.context(host)
    from jinja2.utils import missing

    assert view.resolve_or_missing("host") is host and view.resolve_or_missing("x") == 1
    assert view.resolve_or_missing("range") is range and view.resolve_or_missing("nope") is missing
    vm.set_runtime_var(host, "x", 2)
    assert view["x"] == 2 and view.resolve_or_missing("x") == 2 and dict(view)["x"] == 2


def test_runtime_columns_give_the_journal_its_columns_and_name_the_results(impl):
    """What the run journal records of a task's variables: a column per name with the holes, and
    the names whose every value is the host's own result object (journaled by name only)."""
    from types import SimpleNamespace

    vm = impl.VarsManager({})
    hosts = [SimpleNamespace(name=n) for n in ("a", "b", "c")]
    results = [["ra"], ["rb"], ["rc"]]
    for host, result in zip(hosts, results, strict=True):
        vm.set_runtime_var(host, "out", result)  # set_to: the result object itself
    vm.set_runtime_var(hosts[0], "copy", list(results[0]))  # equal, but another object
    vm.set_runtime_var(hosts[2], "copy", results[2])
    names = ["a", "b", "c", "nohost"]
    payloads = [*results, None]
    columns, missing, same = vm.runtime_columns(names, ("out", "copy"), payloads)
    assert same == ["out"]  # "nohost" has none (a hole); "copy" is equal on "a" but another object
    assert missing == {"out": [3], "copy": [1, 3]}
    assert columns == {"copy": [["ra"], None, ["rc"], None]}
    columns, missing, same = vm.runtime_columns(names[:3], ("out",), [list(r) for r in results])
    assert same == [] and columns == {"out": results} and missing == {}
    columns, missing, same = vm.runtime_columns(names[:3], ("out",))
    assert same == [] and columns == {"out": results} and missing == {}


def test_holds_tells_whether_a_hosts_variables_are_its_result(impl):
    from types import SimpleNamespace

    vm = impl.VarsManager({})
    host, other = SimpleNamespace(name="a"), SimpleNamespace(name="b")
    result = {"x": 1}
    assert vm.holds(host, ("out",), result) == 0  # nothing set for the host yet
    vm.set_runtime_var(host, "out", result)
    assert vm.holds(host, ("out",), result) == 1
    assert vm.holds(host, ("out",), {"x": 1}) == 2  # equal, not the same object
    assert vm.holds(host, ("out", "more"), result) == 2  # one of them missing
    vm.set_runtime_var(host, "more", result)
    assert vm.holds(host, ("out", "more"), result) == 1
    assert vm.holds(other, ("out",), result) == 0
