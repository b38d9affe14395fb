"""NornFlow 1.0 projects run unchanged with ``nornflow run``.

Two projects are written here, from NornFlow 1.0's documentation (its quick start, settings, hooks,
blueprints, variables and packages guides), not from its code: the project its ``nornflow init``
makes, and one that uses every 1.0 feature nornflow takes over. Both run through the CLI.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nornflow.cli.app import app

runner = CliRunner()


def write(root: Path, rel: str, text: str = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def line_of(path: Path, text: str) -> int:
    """The line number of the first line of ``path`` holding ``text``."""
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def nornflow(project: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    """``nornflow ARGS`` run from the project directory, as NornFlow 1.0's users do (its Nornir config
    names inventory files relative to the working directory)."""
    old = Path.cwd()
    os.chdir(project)
    try:
        return runner.invoke(app, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(old)


# -- the project NornFlow 1.0's `nornflow init` makes ------------------------------------------------


def nornflow1_init_project(root: Path) -> Path:
    """What NornFlow 1.0's ``nornflow init`` leaves in an empty folder, per its documentation: the
    settings file with every key, a Nornir config with a one-host SimpleInventory, two sample tasks,
    the hello_world workflow (which names 1.0's default processor), global vars, and the empty
    filters, hooks, blueprints and j2_filters folders."""
    write(
        root,
        "nornflow.yaml",
        """\
        nornir_config_file: "nornir_configs/config.yaml"
        local_tasks:
          - "tasks"
        local_workflows:
          - "workflows"
        local_filters:
          - "filters"
        local_hooks:
          - "hooks"
        local_blueprints:
          - "blueprints"
        local_j2_filters:
          - "j2_filters"
        vars_dir: "vars"
        dry_run: false
        failure_strategy: "skip-failed"
        processors: []
        packages: []
        redaction:
          enabled: true
        logger:
          directory: ".nornflow/logs"
          level: "INFO"
        """,
    )
    write(
        root,
        "nornir_configs/config.yaml",
        """\
        inventory:
          plugin: SimpleInventory
          options:
            host_file: "nornir_configs/hosts.yaml"
            group_file: "nornir_configs/groups.yaml"
            defaults_file: "nornir_configs/defaults.yaml"
        runner:
          plugin: threaded
          options:
            num_workers: 5
        """,
    )
    write(
        root,
        "nornir_configs/hosts.yaml",
        "localhost:\n  hostname: 127.0.0.1\n  groups: [local]\n  data: {os: linux}\n",
    )
    write(root, "nornir_configs/groups.yaml", "local:\n  data: {location: local, role: localhost}\n")
    write(
        root, "nornir_configs/defaults.yaml", "data:\n  username: your_username\n  password: your_password\n"
    )
    write(
        root,
        "tasks/hello_world.py",
        """\
        from nornir.core.task import Result, Task


        def hello_world(task: Task) -> Result:
            \"\"\"Say that the project works.\"\"\"
            return Result(host=task.host, result="Hi there. NornFlow is working!")
        """,
    )
    write(
        root,
        "tasks/greet_user.py",
        """\
        from nornir.core.task import Result, Task


        def greet_user(task: Task, greeting: str = "Hello", user: str = "User") -> Result:
            \"\"\"Greet a user from the host.\"\"\"
            return Result(host=task.host, result=f"{greeting}, {user}! Greetings from {task.host.name}")
        """,
    )
    write(
        root,
        "workflows/hello_world.yaml",
        """\
        workflow:
          name: Hello World Workflow
          description: "A simple workflow that just works"
          inventory_filters:
            hosts:
            groups:
          processors:
            - class: "nornflow.builtins.DefaultNornFlowProcessor"
              args: {}
          tasks:
            - name: hello_world
            - name: greet_user
              args:
                greeting: "Hello"
                user: "you beautiful person"
        """,
    )
    write(root, "vars/defaults.yaml", "# global variables of every workflow\n")
    for folder in ("filters", "hooks", "blueprints", "j2_filters"):
        (root / folder).mkdir()
    return root


def test_the_nornflow1_init_project_runs_unchanged(tmp_path: Path) -> None:
    project = nornflow1_init_project(tmp_path)
    ran = nornflow(project, "run", "hello_world.yaml", "--json")
    assert ran.exit_code == 0, ran.output
    data = json.loads(ran.stdout)
    assert data["workflow"] == "Hello World Workflow"
    tasks = {t["name"]: t["hosts"]["localhost"] for t in data["tasks"]}
    assert tasks["hello_world"]["result"] == "Hi there. NornFlow is working!"
    assert tasks["greet_user"]["result"] == "Hello, you beautiful person! Greetings from localhost"
    [log_file] = (project / ".nornflow/logs").glob("hello_world_*.log")  # 1.0's logger setting
    assert "exit code 0" in log_file.read_text()

    # a bare name that is a workflow and a task: the workflow runs, and a note says how to run the task
    both = nornflow(project, "run", "hello_world")
    assert both.exit_code == 0 and "you beautiful person" in both.output
    assert "is a workflow" in both.stderr and "run the task as local.hello_world" in both.stderr
    task = nornflow(project, "run", "local.hello_world")  # the quick start's first run: the task alone
    assert task.exit_code == 0 and "Hi there. NornFlow is working!" in task.output
    assert "you beautiful person" not in task.output
    greeted = nornflow(project, "run", "greet_user", "--args", "greeting='Hello', user='Network Team'")
    assert greeted.exit_code == 0 and "Hello, Network Team! Greetings from localhost" in greeted.output
    assert nornflow(project, "validate", "hello_world.yaml").exit_code == 0
    settings = nornflow(project, "show", "settings").output
    assert "task_dirs: local_tasks" in settings and "log_dir: logger.directory" in settings


# -- a project using every NornFlow 1.0 feature -----------------------------------------------------


def nornflow1_full_project(root: Path, site: Path) -> Path:
    """A NornFlow 1.0 project using every feature nornflow takes over: 1.0 settings (in a file found
    by NORNFLOW_SETTINGS), a package, processors, redaction and logger, project filters, hooks and
    Jinja2 filters, blueprints (conditional, nested, a templated name), domain variables, store_as,
    shush, single, if in braces, 1.0's Jinja2 filters, the pause task and qualified task names."""
    write(site, "nf1_audit/__init__.py")
    write(site, "nf1_audit/tasks/__init__.py")
    write(
        site,
        "nf1_audit/tasks/facts.py",
        """\
        from nornir.core.task import Result, Task


        def get_facts(task: Task) -> Result:
            \"\"\"A napalm-like facts result.\"\"\"
            n = int(task.host.name[-1])
            return Result(host=task.host, result={"facts": {"vendor": "acme", "serial": f"SN{n}",
                          "uptime": n * 3600}, "environment": {"cpu": {0: {"%usage": 10 * n}}},
                          "vlans": [[10, 20], [20, 30]]})
        """,
    )
    write(site, "nf1_audit/processors/__init__.py")
    write(
        site,
        "nf1_audit/processors/audit.py",
        """\
        import json
        from pathlib import Path


        class AuditProcessor:
            \"\"\"Append one line per host and task to a file.\"\"\"

            def __init__(self, path: str) -> None:
                self.path = Path(path)

            def task_started(self, task): pass
            def task_completed(self, task, result): pass
            def task_instance_started(self, task, host): pass
            def subtask_instance_started(self, task, host): pass
            def subtask_instance_completed(self, task, host, result): pass

            def task_instance_completed(self, task, host, result):
                with self.path.open("a") as f:
                    f.write(json.dumps([task.name, host.name]) + "\\n")
        """,
    )
    write(
        root,
        "nornflow-prod.yaml",
        """\
        nornir_config_file: "nornir_configs/config.yaml"
        local_tasks: ["tasks"]
        local_workflows: ["workflows"]
        local_filters: ["filters"]
        local_hooks: ["hooks"]
        local_blueprints: ["blueprints"]
        local_j2_filters: ["j2_filters"]
        vars_dir: "vars"
        dry_run: false
        failure_strategy: "run-all"
        processors:
          - class: "nornflow.builtins.DefaultNornFlowProcessor"
          - class: "nf1_audit.processors.audit.AuditProcessor"
            args: {path: "audit-settings.jsonl"}
        packages:
          - name: nf1_audit
            include: [tasks, processors]
        redaction:
          enabled: true
          sensitive_names: [vendor_pin]
        logger:
          directory: ".nornflow/logs"
          level: "DEBUG"
        """,
    )
    write(
        root,
        "nornir_configs/config.yaml",
        """\
        inventory:
          plugin: SimpleInventory
          options:
            host_file: "nornir_configs/hosts.yaml"
            group_file: "nornir_configs/groups.yaml"
        """,
    )
    write(
        root,
        "nornir_configs/hosts.yaml",
        """\
        r1: {platform: ios, groups: [core], data: {region: west, vendor_pin: "4711"}}
        r2: {platform: eos, groups: [edge], data: {region: west, vendor_pin: "4712"}}
        r3: {platform: ios, groups: [edge], data: {region: east, vendor_pin: "4713"}}
        r4: {platform: ios, groups: [core], data: {region: west, vendor_pin: "4714"}}
        """,
    )
    write(root, "nornir_configs/groups.yaml", "core: {data: {tier: 1}}\nedge: {data: {tier: 2}}\n")
    write(
        root,
        "filters/regions.py",
        """\
        from nornir.core.inventory import Host


        def in_region(host: Host, region: str) -> bool:
            \"\"\"Hosts of a region.\"\"\"
            return host.data.get("region") == region
        """,
    )
    write(
        root,
        "j2_filters/net.py",
        """\
        def add_prefix(value, prefix="NF_"):
            \"\"\"Prefix a value.\"\"\"
            return f"{prefix}{value}"
        """,
    )
    write(
        root,
        "hooks/stamp.py",
        """\
        from nornflow.hooks.base import PostRunHook
        from nornflow.hooks.registry import register_hook


        @register_hook
        class StampHook(PostRunHook):
            \"\"\"Store a stamp variable on every host that ran the task.\"\"\"

            hook_name = "stamp"

            def _run_hook(self, task_model, host, result, vars_mgr):
                vars_mgr.set_runtime_var(host, "stamp", self.value)
        """,
    )
    write(
        root,
        "tasks/report.py",
        """\
        from nornir.core.task import Result, Task


        def report(task: Task, lines: list) -> Result:
            \"\"\"Join lines into a report.\"\"\"
            return Result(host=task.host, result="\\n".join(str(x) for x in lines))
        """,
    )
    write(root, "vars/defaults.yaml", "backup_enabled: true\nvalidation_level: basic\nowner: global\n")
    write(root, "vars/net/defaults.yaml", "validation_level: thorough\nowner: net-team\n")
    write(
        root,
        "blueprints/collect.yaml",
        """\
        description: Facts of every host, stored as runtime variables
        tasks:
          - name: nf1_audit.get_facts
            store_as: dev
          - name: get_facts
            store_as:
              vendor: facts.vendor
              cpu: "environment.cpu.0.%usage"
              step_failed: failed
            shush: true
          - blueprint: "validation_{{ validation_level }}.yaml"
        """,
    )
    write(
        root,
        "blueprints/validation_thorough.yaml",
        """\
        tasks:
          - name: nornflow.set
            args:
              vlans: "{{ dev.vlans | flatten_list | unique_list }}"
              uptime_ok: "{{ dev.facts.uptime > 3600 }}"
        """,
    )
    write(
        root,
        "blueprints/core_only.yml",
        """\
        tasks:
          - name: echo
            args: {msg: "core {{ host.name }}"}
            if: "{{ uptime_ok }}"
        """,
    )
    write(
        root,
        "workflows/net/deploy.yaml",
        """\
        workflow:
          name: Deploy
          description: Every NornFlow 1.0 feature at once
          vars:
            quiet: false
          inventory_filters:
            in_region: west
          processors:
            - class: "nornflow.builtins.DefaultNornFlowProcessor"
              args: {}
            - class: "nf1_audit.processors.audit.AuditProcessor"
              args: {path: "audit-workflow.jsonl"}
          tasks:
            - blueprint: collect
              if: "{{ backup_enabled }}"
            - blueprint: core_only
              if: "{{ 'core' in host.groups }}"
            - blueprint: skipped_everywhere.yaml
              if: "{{ env == 'dev' }}"
            - name: pause
              args: {timer: 0.01, msg: settle}
              single: true
            - name: nornflow.echo
              args:
                msg: >-
                  {{ owner | add_prefix('OWNER_') }} {{ vendor }} cpu={{ cpu }}
                  vlans={{ vlans | joinx(',') }}
              store_as: summary
              stamp: done
              shush: "{{ quiet }}"
            - name: report
              args:
                lines: "{{ [summary, 'pin=' ~ host.data.vendor_pin, stamp] }}"
              if: "{{ 'summary' | is_set and host.name | startswith('r') }}"
              store_as: pin_report
        """,
    )
    return root


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m == "nf1_audit" or m.startswith("nf1_audit.")]:
        del sys.modules[name]


def test_a_project_using_every_nornflow1_feature_runs_unchanged(tmp_path: Path, site: Path) -> None:
    project = nornflow1_full_project(tmp_path / "project", site)
    env = {"NORNFLOW_SETTINGS": "nornflow-prod.yaml", "NORNFLOW_VAR_env": "prod"}
    ran = nornflow(project, "run", "deploy.yaml", "--vars", "region='ignored', extra=1", "--json", env=env)
    assert ran.exit_code == 0, ran.output
    data = json.loads(ran.stdout)
    assert data["hosts"] == ["r1", "r2", "r4"]  # inventory_filters: the project's in_region filter
    tasks = [(t["name"], {h: r["status"] for h, r in t["hosts"].items()}) for t in data["tasks"]]
    assert [name for name, _ in tasks] == [
        "nf1_audit.get_facts",
        "get_facts",
        "nornflow.set",
        "echo",
        "pause",
        "nornflow.echo",
        "report",
    ]
    statuses = dict(tasks)
    # the blueprint's host condition ('core' in host.groups) and the task's own (uptime_ok) both hold
    assert statuses["echo"] == {"r1": "skipped", "r2": "skipped", "r4": "ok"}
    assert list(statuses["pause"].values()) == ["ok", "skipped", "skipped"]  # single: the first host
    summary = {h: r["result"] for h, r in data["tasks"][5]["hosts"].items()}
    assert summary["r4"] == "OWNER_net-team acme cpu=40 vlans=10,20,30"  # domain vars over global
    variables = data["variables"]
    assert variables["r1"]["vendor"] == "acme" and variables["r1"]["step_failed"] is False
    assert variables["r2"]["stamp"] == "done" and variables["r1"]["uptime_ok"] is False
    assert variables["r4"]["pin_report"] == "OWNER_net-team acme cpu=40 vlans=10,20,30\npin=********\ndone"
    assert "4714" not in ran.stdout  # redaction.sensitive_names: vendor_pin is a secret
    audit = (project / "audit-workflow.jsonl").read_text().splitlines()
    assert len(audit) == 7 * 3 and not (project / "audit-settings.jsonl").exists()  # the workflow's list wins
    [log_file] = (project / ".nornflow/logs").glob("deploy_*.log")
    assert "DEBUG" in log_file.read_text() or "INFO" in log_file.read_text()

    console = nornflow(project, "run", "deploy.yaml", env=env)
    assert console.exit_code == 0, console.output
    assert "OWNER_net-team acme" in console.output and "4711" not in console.output
    assert console.output.count("SN1") == 1  # shown by nf1_audit.get_facts, hidden by shush: true
    shown = nornflow(project, "show", "blueprints", env=env)
    assert "Facts of every host" in shown.output and "core_only.yml" in shown.output
    assert nornflow(project, "validate", "deploy", env=env).exit_code == 0
    facts = nornflow(project, "run", "get_facts", "-f", "hosts=r3", env=env)
    assert facts.exit_code == 0 and "SN3" in facts.output  # a package's task by its bare name


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (  # both spellings of one setting
            ("nornflow-prod.yaml", "append", "task_dirs: [tasks]\n"),
            ["nornflow-prod.yaml", "'local_tasks' and 'task_dirs'", "key 'task_dirs'"],
        ),
        (  # both spellings of one hook, in a blueprint: the blueprint's file and line, the workflow
            ("blueprints/core_only.yml", "append", "    set_to: x\n    store_as: y\n"),
            [
                "core_only.yml:2",
                "included from",
                "deploy.yaml:{core_only}",
                "hook 'store_as'",
                "two spellings",
            ],
        ),
        (  # a bad value in a blueprint, several problems reported together
            ("blueprints/validation_thorough.yaml", "append", "    single: maybe\n"),
            ["validation_thorough.yaml:2", "hook 'single'", "must be true or false"],
        ),
        (  # a blueprint name that renders to a missing blueprint
            ("vars/net/defaults.yaml", "write", "validation_level: paranoid\nowner: x\n"),
            ["collect.yaml:{validation}", "unknown blueprint 'validation_paranoid.yaml'", "key 'blueprint'"],
        ),
        (  # an include cycle
            ("blueprints/core_only.yml", "append", "  - blueprint: collect\n  - blueprint: core_only\n"),
            ["blueprint include cycle: core_only.yml -> core_only"],
        ),
    ],
)
def test_errors_are_found_before_any_task_runs_naming_file_line_and_key(
    tmp_path: Path, site: Path, change: tuple[str, str, str], expected: list[str]
) -> None:
    project = nornflow1_full_project(tmp_path / "project", site)
    rel, how, text = change
    path = project / rel
    path.write_text((path.read_text() if how == "append" else "") + text)
    env = {"NORNFLOW_SETTINGS": "nornflow-prod.yaml", "NORNFLOW_VAR_env": "prod"}
    result = nornflow(project, "run", "deploy.yaml", env=env)
    assert result.exit_code == 3, result.output
    lines = {
        "core_only": line_of(project / "workflows/net/deploy.yaml", "- blueprint: core_only"),
        "validation": line_of(project / "blueprints/collect.yaml", "- blueprint:"),
    }
    output = " ".join(result.output.split())  # rich wraps long lines
    for text in expected:
        assert text.format(**lines) in output, result.output
    assert not (project / "audit-workflow.jsonl").exists()  # no task ran
