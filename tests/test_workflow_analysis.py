"""Static validation: ``nornflow validate`` (and ``run``, before the first task) finds undefined
variables, unknown host keys and arguments that do not fit the task function, naming the file, line,
task and variable with the closest known name; what only may fail is a warning that never blocks."""

from __future__ import annotations

import textwrap
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from nornflow.cli.project import create_project
from nornflow.exceptions import WorkflowError
from nornflow.inventory import inventory_from_data
from nornflow.run.api import NornFlow
from nornflow.settings import Settings
from nornflow.workflow.analysis import analyze
from tests.cli_runner import cli

TASKS = """\
from nornir.core.task import Result, Task


def configure(task: Task, banner: str, vlan: int, dry_run: bool = False) -> Result:
    return Result(host=task.host, result=f"{banner} {vlan}")


def anything(task: Task, **kwargs) -> Result:
    return Result(host=task.host, result=kwargs)


def needs_injected(task: Task, nornflow_vars, print_output: bool) -> Result:
    nornflow_vars.set_runtime_var(task.host, "dynamic", "set at run time")
    return Result(host=task.host, result="ok")
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    create_project(tmp_path)
    (tmp_path / "tasks" / "more.py").write_text(TASKS)
    hosts = tmp_path / "inventory" / "hosts.yaml"
    hosts.write_text(
        hosts.read_text().replace("    role: edge\n", "    role: edge\n    loopback: 10.0.0.2\n")
    )
    return tmp_path


def flow(project: Path, name: str, body: str) -> Path:
    path = project / "workflows" / f"{name}.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def test_an_undefined_variable_is_an_error_naming_file_line_task_variable_and_the_closest_name(project: Path):
    flow(
        project,
        "typo",
        """\
        workflow:
          name: typo
          tasks:
            - name: echo
              args: {msg: ok}
            - name: echo
              args:
                msg: "{{ ntp_server | join(',') }}"
        """,
    )
    result = cli(project, "validate", "typo")
    assert result.exit_code == 3, result.output
    assert (
        "typo.yaml:6, task 'echo', key 'args.msg': undefined variable 'ntp_server': not in vars, --vars, "
        "vars/defaults.yaml or NORNFLOW_VAR_ntp_server, and no earlier task sets it; "
        "did you mean 'ntp_servers'?"
    ) in result.output
    assert "Traceback" not in result.output


def test_every_source_of_a_name_is_known(project: Path):
    (project / "vars" / "defaults.yaml").write_text("from_defaults: 1\nntp_servers: [a]\n")
    flow(
        project,
        "known",
        """\
        workflow:
          name: known
          vars: {from_workflow: 1}
          tasks:
            - name: set
              args: {from_set: "{{ from_workflow }}"}
            - name: echo
              args: {msg: "{{ from_set }} {{ from_defaults }} {{ from_cli }} {{ from_env }}"}
              set_to: from_set_to
            - name: echo
              args: {msg: "x"}
              set_to: {mapped: result, also_mapped: failed}
            - name: echo
              args:
                msg: >-
                  {% set local = 1 %}{% for n in range(3) %}{{ n }}{{ loop.index }}{% endfor %}
                  {{ local }} {{ from_set_to }} {{ mapped }} {{ also_mapped }} {{ item }} {{ dict(a=1) }}
                  {{ host.name }} {{ host.platform }} {{ host.site }} {{ host.data.role }}
                  {{ host['vendor'] }}
              loop: "{{ ntp_servers }}"
              failed_when: "result is none or item == 'x' or from_set_to == 1"
              retries: {count: 1, until: "not failed and result"}
              if: "host.platform != 'x' and from_set"
        """,
    )
    result = cli(project, "validate", "known", "--vars", "from_cli=2", env={"NORNFLOW_VAR_from_env": "3"})
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "warning" not in result.output
    # without --vars the CLI variable is missing, as it would be at run time
    missing = cli(project, "validate", "known", env={"NORNFLOW_VAR_from_env": "3"})
    assert missing.exit_code == 3 and "undefined variable 'from_cli'" in missing.output


def test_guarded_names_are_not_errors(project: Path):
    flow(
        project,
        "guarded",
        """\
        workflow:
          name: guarded
          tasks:
            - name: echo
              args: {msg: "{{ maybe | default('none') }} {{ host.maybe_key | d(1) }}"}
            - name: echo
              args: {msg: "{{ facts.version }}"}
              if: "facts is defined"
            - name: echo
              args: {msg: "{% if other is defined %}{{ other }}{% endif %}"}
        """,
    )
    result = cli(project, "validate", "guarded")
    assert result.exit_code == 0, result.output


def test_a_name_set_later_or_item_without_loop_say_so(project: Path):
    flow(
        project,
        "order",
        """\
        workflow:
          name: order
          tasks:
            - name: echo
              args: {msg: "{{ facts.role }} {{ item }}"}
            - name: describe_host
              set_to: facts
        """,
    )
    out = cli(project, "validate", "order").output
    assert "undefined variable 'facts': it is set only by a later task (task 2)" in out
    assert "undefined variable 'item': 'item' is defined only in tasks with a loop" in out
    assert out.startswith("error: found several problems:")


def test_hook_expressions_are_checked_and_named(project: Path):
    flow(
        project,
        "hooks",
        """\
        workflow:
          name: hooks
          tasks:
            - name: echo
              if: "host.platfrom == 'cisco_ios'"
            - name: echo
              loop: ["{{ missing_list }}", "b"]
            - name: echo
              retries: {count: 2, until: "'ok' in reslt"}
        """,
    )
    out = cli(project, "validate", "hooks").output
    assert "task 'echo', hook 'if': host.platfrom: no host of the run has an attribute or data key" in out
    assert "did you mean 'platform'?" in out
    assert "hook 'loop', key 'loop[0]': undefined variable 'missing_list'" in out
    assert "hook 'retries', key 'retries.until': undefined variable 'reslt'" in out
    assert "did you mean 'result'?" in out


def test_host_keys_missing_everywhere_only_in_groups_or_on_some_hosts(project: Path):
    flow(
        project,
        "keys",
        """\
        workflow:
          name: keys
          tasks:
            - name: echo
              args: {msg: "{{ host.sit }} {{ host.data.site }} {{ site }}"}
        """,
    )
    out = cli(project, "validate", "keys").output
    assert "host.sit: no host of the run has an attribute or data key 'sit'; did you mean 'site'?" in out
    assert "host.data.site: no host has 'site' in its own data, it comes from groups or defaults" in out
    assert "use host.site" in out
    assert "undefined variable 'site'" in out and "did you mean 'host.site'?" in out
    flow(
        project,
        "some",
        """\
        workflow:
          name: some
          tasks:
            - name: echo
              args: {msg: "{{ host.loopback }}"}
            - name: echo
              args: {msg: "{{ host.loopback }}"}
              if: {hosts: r2}
        """,
    )
    result = cli(project, "validate", "some")
    assert result.exit_code == 0, result.output  # a warning does not fail validation
    assert "warning:" in result.output and "1 warning(s)" in result.output
    assert "host.loopback: only 1 of 4 hosts have 'loopback'; the others will fail this task" in result.output
    # the filters of the run decide which hosts count
    assert "warning" not in cli(project, "validate", "some", "--limit", "r2").output


def test_arguments_must_fit_the_task_function(project: Path):
    flow(
        project,
        "args",
        """\
        workflow:
          name: args
          tasks:
            - name: configure
              args: {bannr: hi, vlan: 10}
            - name: anything
              args: {whatever: 1}
            - name: needs_injected
            - name: nornflow.workflow.tasks.echo
              args: {mesage: hi}
        """,
    )
    out = cli(project, "validate", "args").output
    assert "task 'configure', key 'args.bannr': unknown argument 'bannr' for task 'configure'" in out
    assert "(it takes: banner, vlan, dry_run); did you mean 'banner'?" in out
    assert "key 'args': missing required argument 'banner' of task 'configure'" in out
    assert "'anything'" not in out and "'needs_injected'" not in out  # **kwargs; nornflow's own arguments
    assert "unknown argument 'mesage' for task 'nornflow.workflow.tasks.echo'" in out


def test_after_a_task_that_may_set_any_variable_an_unknown_name_is_a_warning(project: Path):
    flow(
        project,
        "dynamic",
        """\
        workflow:
          name: dynamic
          tasks:
            - name: needs_injected
            - name: echo
              args: {msg: "{{ dynamic }}"}
        """,
    )
    validated = cli(project, "validate", "dynamic")
    assert validated.exit_code == 0, validated.output
    assert "undefined variable 'dynamic'" in validated.output
    assert "unless set at run time: task 'needs_injected' takes nornflow_vars" in validated.output
    ran = cli(project, "run", "dynamic", "--json")
    assert ran.exit_code == 0, ran.output  # the warning did not block the run, and the name was set
    assert "set at run time" in ran.stdout


def test_a_project_hook_may_set_variables_so_its_task_only_warns(project: Path):
    (project / "hooks" / "dyn.py").write_text(
        textwrap.dedent(
            """\
            from nornflow.hooks.base import PreRunHook
            from nornflow.hooks.registry import register_hook


            @register_hook
            class DynSet(PreRunHook):
                \"\"\"Sets a variable before the task runs.\"\"\"

                hook_name = "dyn_set"

                def _run_hook(self, task_model, host, vars_mgr):
                    vars_mgr.set_runtime_var(host, "from_hook", "hooked")
                    return True
            """
        )
    )
    flow(
        project,
        "hooked",
        """\
        workflow:
          name: hooked
          tasks:
            - name: echo
              args: {msg: "{{ from_hook }}"}
              dyn_set: true
            - name: echo
              args: {msg: "{{ own }}"}
              set_to: own
        """,
    )
    validated = cli(project, "validate", "hooked")
    assert "unless set at run time: hook 'dyn_set' of task 'echo' is a project hook" in validated.output
    # the second task reads its own set_to variable: said, as a warning after a project hook
    assert validated.exit_code == 0 and "undefined variable 'own'" in validated.output
    assert "this task sets it (set_to), but only once the task has run" in validated.output


def test_a_task_that_reads_its_own_set_to_variable_is_told_why(project: Path):
    flow(
        project,
        "own",
        "workflow:\n  name: own\n  tasks:\n    - name: echo\n"
        "      args: {msg: '{{ mine }}'}\n      set_to: mine\n",
    )
    result = cli(project, "validate", "own")
    assert result.exit_code == 3
    assert (
        "undefined variable 'mine': this task sets it (set_to), but only once the task has run"
        in result.output
    )


def test_a_run_does_not_start_on_a_workflow_validate_rejects(project: Path):
    flow(
        project,
        "late",
        """\
        workflow:
          name: late
          tasks:
            - name: write_file
              args: {filename: "marker-{{ host.name }}", content: x}
            - name: echo
              args: {msg: "{{ undefined_thing }}"}
        """,
    )
    result = cli(project, "run", "late")
    assert result.exit_code == 3 and "undefined variable 'undefined_thing'" in result.output
    assert not list(project.glob("marker-*")), "a task ran before the error was found"


def test_warnings_of_a_run_are_printed_and_the_run_goes_on(project: Path):
    flow(
        project,
        "warn",
        "workflow:\n  name: warn\n  tasks:\n    - name: echo\n      args: {msg: '{{ host.loopback }}'}\n",
    )
    result = cli(project, "run", "warn")
    assert result.exit_code == 1  # the three hosts without a loopback fail, as the warning said
    assert "warning: " in result.output and "only 1 of 4 hosts have 'loopback'" in result.output
    assert "FAILED 4 host(s): 1 ok, 3 failed" in result.output


def test_the_api_validate_and_run_raise_located_errors(project: Path):
    engine = NornFlow(project / "nornflow.yaml")
    body = {"workflow": {"name": "api", "tasks": [{"name": "echo", "args": {"msg": "{{ who }}"}}]}}
    with pytest.raises(WorkflowError, match="undefined variable 'who'"):
        engine.validate(body)
    with pytest.raises(WorkflowError, match="undefined variable 'who'") as info:
        engine.run(body)
    assert info.value.task == "echo" and info.value.key == "args.msg"
    assert engine.validate(body, vars={"who": "me"}).model.name == "api"
    assert engine.run(body, vars={"who": "me"}).exit_code == 0


def test_host_keys_are_checked_quickly_on_a_100k_host_run():
    """One pass over the hosts per distinct host key; groups' keys collected once per group."""
    groups = [SimpleNamespace(data={"site": f"s{i}"}, groups=[]) for i in range(10)]
    hosts = [
        SimpleNamespace(
            data={"mgmt_vlan": i} if i % 2 else {"mgmt_vlan": i, "rare": 1}, groups=[groups[i % 10]]
        )
        for i in range(100_000)
    ]
    engine = NornFlow(Settings(base_dir=Path.cwd()), inventory=inventory_from_data({"r1": {}}))
    body = {
        "workflow": {
            "name": "big",
            "tasks": [
                {"name": "echo", "args": {"msg": "{{ host.site }} {{ host.mgmt_vlan }} {{ host.rare }}"}},
                {
                    "name": "echo",
                    "args": {"msg": "{{ host.site }} {{ host.name }}"},
                    "if": "host.mgmt_vlan > 3",
                },
            ],
        }
    }
    prepared = engine.load_workflow(body)
    started = time.perf_counter()
    analysis = analyze(prepared, variables=(), hosts=hosts, defaults=None)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - started
    assert not analysis.errors
    assert [w.message for w in analysis.warnings] == [
        "host.rare: only 50000 of 100000 hosts have 'rare'; the others will fail this task"
    ]
    assert elapsed < 3.0, f"{elapsed:.2f}s for 100,000 hosts"


@pytest.mark.parametrize(
    ("task", "named"),
    [
        ("{name: echo, args: {msg: x}, set_to: host}", "hook 'set_to': variable name 'host' is reserved"),
        ("{name: echo, args: {msg: x}, set_to: {item: result}}", "variable name 'item' is reserved"),
        ("{name: echo, args: {msg: x}, store_as: item}", "hook 'store_as': variable name 'item' is reserved"),
        ("{name: set, args: {host: r9}}", "key 'args.host': variable name 'host' is reserved (host, item)"),
        ("{name: set, args: {item: 1, ok: 2}}", "key 'args.item': variable name 'item' is reserved"),
        (
            "{name: echo, args: {msg: x}, when: {nosuch: 1}}",
            "key 'when.nosuch': when condition: unknown filter",
        ),
        ("{name: echo, args: {msg: x}, if: {rol: core}}", "unknown filter 'rol'"),
        ("{name: echo, args: {msg: x}, if: [{groups: [ios]}, {rol: 1}]}", "key 'if[1].rol'"),
        ("{name: echo, args: {msg: x}, when: {data: {nokey: 1}}}", "unknown filter 'nokey'"),
    ],
)
def test_reserved_names_and_unknown_condition_keys_stop_the_run_naming_task_and_key(
    project: Path, task: str, named: str
):
    """Issue 13, item 20: errors before the run (exit 3), naming the file, the task and the key."""
    flow(
        project,
        "bad",
        f"""\
        workflow:
          name: bad
          tasks:
            - name: write_file
              args: {{filename: "marker-{{{{ host.name }}}}", content: x}}
            - {task}
        """,
    )
    for command in ("validate", "run"):
        result = cli(project, command, "bad")
        assert result.exit_code == 3, result.output
        assert named in result.output and "bad.yaml:6, task '" in result.output, result.output
        assert "Traceback" not in result.output
    assert not list(project.glob("marker-*")), "a task ran before the error was found"


def test_condition_keys_some_host_has_are_fine(project: Path):
    flow(
        project,
        "fine",
        """\
        workflow:
          name: fine
          tasks:
            - {name: echo, args: {msg: x}, when: {loopback: 10.0.0.2}}
            - {name: echo, args: {msg: x}, if: [{role: edge}, {data: {role: core}}, {vendor: cisco}]}
            - {name: set, args: {hosts: 1, items: 2}}
        """,
    )
    result = cli(project, "run", "fine")
    assert result.exit_code == 0, result.output
