"""Per-host variables: precedence, the live ``HostVars`` view templates render against, host names."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from nornir.core.inventory import Host

from nornflow.templating import TemplateError, compile_args, compile_expression
from nornflow.vars import HostVars, VarsManager, host_name, static_layers


def make_vm() -> VarsManager:
    return VarsManager(
        static_layers(
            environment={"site": "env", "only_env": 1},
            defaults={"site": "defaults", "level": "defaults"},
            workflow_vars={"site": "workflow"},
            cli_vars={"level": "cli"},
        )
    )


def test_precedence_runtime_over_cli_over_workflow_over_defaults_over_env() -> None:
    vm, r1 = make_vm(), Host("r1")
    ctx = vm.context(r1)
    assert (ctx["site"], ctx["level"], ctx["only_env"]) == ("workflow", "cli", 1)
    vm.set_runtime_var(r1, "level", "runtime")
    assert ctx["level"] == "runtime" and vm.get(r1, "level") == "runtime"
    assert ctx["host"] is r1 and ctx["range"] is range  # Jinja2's globals are the lowest layer


def test_context_is_a_live_view_and_hosts_never_see_each_other() -> None:
    vm, r1, r2 = make_vm(), Host("r1"), Host("r2")
    before = vm.context(r1)  # built before the host has any runtime variable
    assert "facts" not in before and before.get("facts", "none") == "none"
    vm.set_runtime_var(r1, "facts", {"os": "ios"})
    assert before["facts"] == {"os": "ios"} and "facts" in before
    assert "facts" not in vm.context(r2)
    with pytest.raises(KeyError):
        vm.context(r2)["facts"]


def test_context_is_a_complete_mapping() -> None:
    vm, r1 = make_vm(), Host("r1")
    vm.set_runtime_var(r1, "site", "runtime")
    ctx = vm.context(r1)
    keys = list(ctx)
    assert keys[:2] == ["host", "site"] and len(keys) == len(set(keys)) == len(ctx)
    assert {"level", "only_env", "range", "namespace"} <= set(keys)
    assert dict(ctx)["site"] == "runtime" and isinstance(ctx, HostVars) and "r1" in repr(ctx)


def test_templates_render_against_the_view() -> None:
    vm, r1 = make_vm(), Host("r1", platform="ios")
    vm.set_runtime_var(r1, "n", 3)
    args = compile_args({"a": "{{ host.name }}-{{ site }}", "b": "{{ range(n) | list }}", "c": "x"})
    assert args.render(vm.context(r1)) == {"a": "r1-workflow", "b": [0, 1, 2], "c": "x"}
    assert compile_expression("host.platform == 'ios' and level == 'cli'").evaluate(vm.context(r1)) is True
    with pytest.raises(TemplateError) as info:
        compile_expression("missing + 1").evaluate(vm.context(r1))
    assert info.value.undefined == "missing"


def test_expressions_see_jinja_globals_filters_and_tests() -> None:
    ctx = make_vm().context(Host("r1"))
    assert compile_expression("namespace(a=1).a + (site | length)").evaluate(ctx) == 9
    assert compile_expression("nothing is defined").evaluate(ctx) is False
    assert compile_expression("{{ [3, 1] | sort }}").evaluate(ctx) == [1, 3]


@pytest.mark.parametrize(
    "source",
    [
        "1) %}{% for i in [1] %}{% endfor %}{% set y = (2",
        "1) %}{{ 2 }}{% set y = (3",
        "x) %}{% block b %}{% endblock %}{% set z = (1",
    ],
)
def test_an_expression_cannot_smuggle_statements_in(source: str) -> None:
    with pytest.raises(TemplateError, match="not a single expression"):
        compile_expression(source)


def test_host_name_is_read_through_the_slot_and_works_for_any_host_like_object() -> None:
    assert host_name(Host("r1")) == "r1" and host_name(SimpleNamespace(name="fake")) == "fake"
    vm = make_vm()
    fake = SimpleNamespace(name="fake")
    vm.set_runtime_var(fake, "x", 1)
    assert vm.context(fake)["x"] == 1 and vm.get_runtime_vars(fake) == {"x": 1}


def test_runtime_snapshot_copies_unless_told_to_hand_over() -> None:
    vm, r1 = make_vm(), Host("r1")
    vm.set_runtime_var(r1, "x", 1)
    copied, handed = vm.runtime_snapshot(), vm.runtime_snapshot(copy=False)
    vm.set_runtime_var(r1, "y", 2)
    assert copied == {"r1": {"x": 1}} and handed == {"r1": {"x": 1, "y": 2}}


def test_many_threads_set_and_read_their_own_hosts() -> None:
    """Hammer: 32 threads, 200 hosts each, set and read through the view concurrently."""
    vm = make_vm()
    expr = compile_expression("v * 2")
    problems: list[str] = []

    def worker(t: int) -> None:
        for i in range(200):
            host = Host(f"t{t}-h{i}")
            ctx = vm.context(host)
            vm.set_runtime_var(host, "v", i)
            if expr.evaluate(ctx) != i * 2:
                problems.append(host.name)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    snapshot = vm.runtime_snapshot()
    assert problems == [] and len(snapshot) == 32 * 200
    assert all(values == {"v": int(name.split("-h")[1])} for name, values in snapshot.items())
