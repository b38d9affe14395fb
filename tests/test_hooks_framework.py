"""Registry, base classes, RunnableModel (discovery, freezing, validation) and the spec's example."""

from __future__ import annotations

import logging
import textwrap
import threading
from types import SimpleNamespace

import pytest

from nornflow.exceptions import HookImportError, HookRegistrationError, HookValidationError, WorkflowError
from nornflow.freeze import FrozenDict, FrozenList
from nornflow.hooks.base import Hook, PostRunHook, PreRunHook
from nornflow.hooks.registry import HOOK_REGISTRY, register_hook
from nornflow.models import TaskModel
from nornflow.models.runnable import _HOOK_CACHE_LOCK, _HOOK_INSTANCE_CACHE, RunnableModel

# -- registry --------------------------------------------------------------------------------------


def test_register_hook_adds_by_name_and_returns_the_class():
    @register_hook
    class Audit(PostRunHook):
        hook_name = "audit"

        def _run_hook(self, task_model, host, result, vars_mgr):
            pass

    assert HOOK_REGISTRY["audit"] is Audit
    assert register_hook(Audit) is Audit  # idempotent for the same class


@pytest.mark.parametrize("name", [None, "", "   "])
def test_missing_or_empty_hook_name_is_an_error(name):
    attrs = {} if name is None else {"hook_name": name}
    cls = type("Nameless", (PreRunHook,), attrs)
    with pytest.raises(HookRegistrationError, match="Nameless must define a hook_name"):
        register_hook(cls)


def test_a_different_class_claiming_a_taken_name_names_both():
    @register_hook
    class First(PreRunHook):
        hook_name = "dup_name"

    class Second(PreRunHook):
        hook_name = "dup_name"

    with pytest.raises(HookRegistrationError) as info:
        register_hook(Second)
    message = str(info.value)
    assert "First" in message and "Second" in message and "dup_name" in message
    assert HOOK_REGISTRY["dup_name"] is First


@pytest.mark.parametrize("bad", [object, int, Hook, PreRunHook])
def test_only_pre_or_post_hook_subclasses_register(bad):
    with pytest.raises(HookRegistrationError):
        register_hook(bad)


def test_reserved_and_non_identifier_names_are_refused():
    with pytest.raises(HookRegistrationError, match="task field"):
        register_hook(type("Named", (PreRunHook,), {"hook_name": "args"}))
    with pytest.raises(HookRegistrationError, match="identifier"):
        register_hook(type("Dashed", (PreRunHook,), {"hook_name": "my-hook"}))


def test_builtins_are_registered():
    assert HOOK_REGISTRY["set_to"].phase == "post"
    assert HOOK_REGISTRY["output"].phase == "pre" and HOOK_REGISTRY["output"].run_once_per_task


# -- RunnableModel.create ---------------------------------------------------------------------------


def test_create_moves_hook_keys_into_hooks_and_freezes_nested_values(impl):
    data = {
        "name": "collect",
        "args": {"cmd": "show version"},
        "set_to": {"facts": "result", "first": "result.items[0].name"},
        "output": False,
    }
    task = TaskModel.create(data)
    assert task.args == {"cmd": "show version"}
    assert list(task.hooks) == ["set_to", "output"]
    frozen = task.hooks["set_to"]
    assert isinstance(frozen, FrozenDict)
    with pytest.raises(TypeError):
        frozen["facts"] = "x"  # type: ignore[index]
    assert hash(frozen) == hash(TaskModel.create(data).hooks["set_to"])
    assert "set_to" not in data or data["set_to"] == {"facts": "result", "first": "result.items[0].name"}


def test_create_accepts_an_explicit_hooks_mapping_and_freezes_lists(impl):
    @register_hook
    class Labels(PreRunHook):  # "tags" is a built-in hook (change control)
        hook_name = "labels"

        def _run_hook(self, task_model, host, vars_mgr):
            return True

    task = TaskModel.create({"name": "t", "hooks": {"labels": ["a", {"b": [1, 2]}]}})
    value = task.hooks["labels"]
    assert isinstance(value, FrozenList) and isinstance(value[1], FrozenDict)
    assert isinstance(value[1]["b"], FrozenList)
    hook = task.get_pre_hooks()[0]
    assert hook.value is value


def test_unknown_key_lists_valid_keys_and_closest_hook():
    with pytest.raises(WorkflowError) as info:
        TaskModel.create({"name": "t", "set_too": "x"}, file="flow.yaml", line=7)
    err = info.value
    assert err.key == "set_too" and err.file == "flow.yaml" and err.line == 7 and err.task == "t"
    assert "Did you mean 'set_to'?" in err.message
    assert "valid keys:" in err.message and "args" in err.message and "output" in err.message


def test_unknown_hook_under_hooks_and_duplicate_hook_are_errors():
    with pytest.raises(WorkflowError, match=r"unknown hook 'outptu'.*Did you mean 'output'"):
        TaskModel.create({"name": "t", "hooks": {"outptu": True}})
    with pytest.raises(WorkflowError, match="given twice"):
        TaskModel.create({"name": "t", "output": True, "hooks": {"output": False}})


def test_unhashable_hook_value_is_an_error_naming_task_and_hook():
    class Opaque:
        __hash__ = None  # type: ignore[assignment]

    with pytest.raises(HookValidationError) as info:
        TaskModel.create({"name": "t", "set_to": {"x": Opaque()}})
    assert info.value.hook == "set_to" and info.value.task == "t"
    assert "not hashable" in info.value.message


def test_bad_field_types_are_workflow_errors():
    with pytest.raises(WorkflowError) as info:
        TaskModel.create({"name": "t", "args": ["not", "a", "mapping"]})
    assert info.value.key == "args"
    with pytest.raises(WorkflowError):
        TaskModel.create({"args": {}})
    with pytest.raises(WorkflowError, match="must be a mapping"):
        TaskModel.create(["a"])  # type: ignore[arg-type]


# -- instances, validation --------------------------------------------------------------------------


def test_instances_come_from_the_flyweight_cache(impl):
    tasks = [TaskModel.create({"name": f"t{i}", "set_to": "facts", "output": i % 2 == 0}) for i in range(50)]
    instances = {id(h) for t in tasks for h in (*t.get_pre_hooks(), *t.get_post_hooks())}
    assert len(instances) == 3  # set_to facts, output true, output false
    assert len(_HOOK_INSTANCE_CACHE) == 3 or len(impl_cache()) == 3
    assert _HOOK_CACHE_LOCK is not None
    t = tasks[0]
    assert t._get_or_create_hook_instance(HOOK_REGISTRY["set_to"], "facts") is t.get_post_hooks()[0]


def impl_cache():
    from nornflow import _hotpath

    return _hotpath.HOOK_CACHE


def test_validation_collects_every_problem_once(impl):
    calls = []

    @register_hook
    class Strict(PreRunHook):
        hook_name = "strict"

        def validate_value(self):
            calls.append(self.value)
            if not isinstance(self.value, int):
                raise ValueError("must be an integer")

        def validate_task_compatibility(self, task_model):
            return (task_model.name != "forbidden", "not for forbidden tasks")

        def _run_hook(self, task_model, host, vars_mgr):
            return True

    task = TaskModel.create({"name": "forbidden", "strict": "x", "output": "yes", "set_to": "_bad"})
    with pytest.raises(HookValidationError) as info:
        task._validate_all_hooks()
    problems = info.value.problems  # type: ignore[attr-defined]
    assert {p.hook for p in problems} == {"strict", "output", "set_to"}
    assert "must be an integer" in str(info.value) and "true or false" in str(info.value)

    ok = TaskModel.create({"name": "fine", "strict": 3})
    ok._validate_all_hooks()
    ok._validate_all_hooks()
    ok.dispatcher  # noqa: B018
    assert calls.count(3) == 1  # validated once per model

    bad_compat = TaskModel.create({"name": "forbidden", "strict": 4})
    with pytest.raises(HookValidationError, match="not for forbidden tasks"):
        bad_compat._validate_all_hooks()


def test_set_to_validation_rejects_bad_paths_and_reserved_names(impl):
    for value, message in [
        ({"x": "result..a"}, "cannot parse"),
        ({"x": "nope.a"}, "must start with one of"),
        ({"host": "result"}, "reserved"),
        (["a"], "variable name or a mapping"),
        ({}, "at least one"),
    ]:
        task = TaskModel.create({"name": "t", "set_to": value})
        with pytest.raises(HookValidationError, match=message):
            task._validate_all_hooks()


def test_set_to_stores_payload_and_paths_per_host(impl):
    from nornir.core.task import Result

    from nornflow.vars import VarsManager

    vm = VarsManager()
    whole = TaskModel.create({"name": "t", "set_to": "facts"})
    parts = TaskModel.create(
        {"name": "t2", "set_to": {"first": "result.items[0].name", "ok": "failed", "ch": "changed"}}
    )
    h1, h2 = SimpleNamespace(name="r1"), SimpleNamespace(name="r2")
    payload = {"items": [{"name": "eth0"}, {"name": "eth1"}]}
    for task in (whole, parts):
        task._validate_all_hooks()
    whole.get_post_hooks()[0].run(whole, h1, impl.outcome_of(h1, Result(host=None, result=payload)), vm)
    whole.get_post_hooks()[0].run(whole, h2, impl.outcome_of(h2, Result(host=None, result="other")), vm)
    changed = impl.outcome_of(h1, Result(host=None, result=payload, changed=True))
    parts.get_post_hooks()[0].run(parts, h1, changed, vm)
    assert vm.get_runtime_vars(h1) == {"facts": payload, "first": "eth0", "ok": False, "ch": True}
    assert vm.get_runtime_vars(h2) == {"facts": "other"}
    with pytest.raises(ValueError, match=r"index \[0\] out of range"):
        parts.get_post_hooks()[0].run(parts, h2, impl.Outcome(h2, {"items": []}), vm)


def test_output_is_a_task_option_read_once_not_a_per_host_hook(impl):
    """``output`` configures the task when it is prepared: the dispatcher never calls it per host (no
    tracker claim per host), and a direct call (the spec's run()) still lets the host run."""
    from nornflow import _hotpath
    from nornflow.vars import VarsManager

    task = TaskModel.create({"name": "t", "output": False})
    hook = task.get_pre_hooks()[0]
    assert task.setup.options == {"print_output": False}
    assert task.dispatcher.empty and hook not in task.dispatcher.pre_hooks
    vm = VarsManager()
    run = _hotpath.TRACKER.begin_run(task)
    results = [hook.run(task, SimpleNamespace(name=f"h{i}"), vm) for i in range(5)]
    assert results == [True] * 5
    _hotpath.TRACKER.end_run(run)


def test_runnable_model_is_the_public_base():
    assert issubclass(TaskModel, RunnableModel)


# -- the spec's section 6 example, from a user's module ---------------------------------------------

SPEC_EXAMPLE = '''
import logging

logger = logging.getLogger("my_hooks")

from nornflow.hooks.base import PostRunHook
from nornflow.hooks.registry import register_hook

@register_hook
class MyCustomHook(PostRunHook):
    """Custom hook for special processing."""

    hook_name = "my_custom"  # This is the field name in YAML

    # Optional: Configure execution mode
    run_once_per_task = False  # Default is per-host

    def _run_hook(self, task_model, host, result, vars_mgr) -> None:
        """Execute custom post-task logic."""
        # Your hook implementation here
        if self.value is not None:
            # Do something with self.value
            logger.info(f"MyCustomHook executed for {host.name} with value {self.value}")

    def validate_task_compatibility(self, task_model) -> tuple[bool, str]:
        """Optional validation logic."""
        if task_model.name == "incompatible_task":
            return (False, "MyCustomHook is not compatible with this task")
        return (True, "")
'''


def test_spec_example_works_as_written_from_a_user_module(tmp_path, impl, caplog):
    from nornflow.hooks.loader import load_hook_dirs

    hooks_dir = tmp_path / "hooks"
    hooks_dir.mkdir()
    (hooks_dir / "my_hooks.py").write_text(textwrap.dedent(SPEC_EXAMPLE))
    load_hook_dirs([hooks_dir])
    assert "my_custom" in HOOK_REGISTRY

    task = TaskModel.create({"name": "some_task", "args": {"param": "value"}, "my_custom": "custom_value"})
    assert task.hooks == {"my_custom": "custom_value"}
    (_hook,) = task.get_post_hooks()
    dispatcher = task.dispatcher
    with caplog.at_level(logging.INFO, logger="my_hooks"):
        for name in ("r1", "r2"):
            host = SimpleNamespace(name=name)
            dispatcher.run_post(task, host, impl.Outcome(host), None)
    assert [r.getMessage() for r in caplog.records] == [
        "MyCustomHook executed for r1 with value custom_value",
        "MyCustomHook executed for r2 with value custom_value",
    ]
    bad = TaskModel.create({"name": "incompatible_task", "my_custom": 1})
    with pytest.raises(HookValidationError, match="MyCustomHook is not compatible with this task"):
        bad._validate_all_hooks()


def test_broken_hook_module_is_an_error_naming_the_file(tmp_path):
    from nornflow.hooks.loader import load_hook_dirs

    (tmp_path / "broken.py").write_text("import nonexistent_module_xyz\n")
    with pytest.raises(HookImportError) as info:
        load_hook_dirs([tmp_path])
    assert info.value.file.endswith("broken.py") and "nonexistent_module_xyz" in info.value.message

    other = tmp_path / "other"
    other.mkdir()
    (other / "clash.py").write_text(
        "from nornflow.hooks import PreRunHook, register_hook\n"
        "@register_hook\nclass Clash(PreRunHook):\n    hook_name = 'set_to'\n"
    )
    with pytest.raises(HookImportError) as info:
        load_hook_dirs([other])
    assert "already registered" in info.value.message and info.value.file.endswith("clash.py")


def test_registration_is_thread_safe():
    classes = [type(f"H{i}", (PreRunHook,), {"hook_name": f"threaded_{i % 8}"}) for i in range(64)]
    errors = []
    barrier = threading.Barrier(64)

    def reg(cls):
        barrier.wait()
        try:
            register_hook(cls)
        except HookRegistrationError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reg, args=(c,)) for c in classes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 64 - 8  # one winner per name, every other class refused
    assert {HOOK_REGISTRY[f"threaded_{i}"].hook_name for i in range(8)} == {f"threaded_{i}" for i in range(8)}
