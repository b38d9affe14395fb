"""Blueprints (reusable task lists, ``- blueprint: NAME``), domain variables, and hook values decided
when the workflow loads; through the engine and the CLI."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from nornflow.cli.app import app
from nornflow.exceptions import NornFlowError, WorkflowError
from nornflow.freeze import thaw
from nornflow.run.api import NornFlow
from nornflow.settings import Settings
from nornflow.workflow.blueprints import BlueprintCatalog

HOSTS = """\
r1: {platform: ios, groups: [core], data: {role: core}}
r2: {platform: eos, groups: [edge], data: {role: edge}}
r3: {platform: ios, groups: [edge], data: {role: edge}}
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write(
        tmp_path,
        "nornflow.yaml",
        "inventory: {host_file: inventory/hosts.yaml, group_file: inventory/groups.yaml}\n",
    )
    write(tmp_path, "inventory/hosts.yaml", HOSTS)
    write(tmp_path, "inventory/groups.yaml", "core: {}\nedge: {}\n")
    write(
        tmp_path,
        "blueprints/checks.yaml",
        """\
        description: Gather and report
        tasks:
          - name: set
            args: {checked: "{{ host.name }}"}
          - name: echo
            args: {msg: "checked {{ checked }}"}
            set_to: report
        """,
    )
    write(
        tmp_path,
        "blueprints/nested/outer.yml",
        """\
        tasks:
          - name: echo
            args: {msg: outer}
          - blueprint: checks
          - blueprint: "{{ flavour }}_extra.yaml"
        """,
    )
    write(tmp_path, "blueprints/ios_extra.yaml", "tasks:\n  - name: echo\n    args: {msg: ios extra}\n")
    write(tmp_path, "blueprints/eos_extra.yaml", "tasks:\n  - name: echo\n    args: {msg: eos extra}\n")
    return tmp_path


def nf(project: Path, **kw: Any) -> NornFlow:
    return NornFlow(Settings.load(project / "nornflow.yaml"), workers=2, environ={}, **kw)


def names(prepared: Any) -> list[tuple[str, Any]]:
    return [(t.name, t.model.args.get("msg")) for t in prepared.tasks]


def test_a_blueprint_by_name_with_or_without_extension(project: Path) -> None:
    write(
        project,
        "workflows/w.yaml",
        """\
        workflow:
          tasks:
            - blueprint: checks.yaml
            - name: echo
              args: {msg: between}
            - blueprint: checks
        """,
    )
    engine = nf(project)
    prepared = engine.load_workflow("w")
    assert prepared.model.name == "w"  # no name: the file's
    included = [("set", None), ("echo", "checked {{ checked }}")]
    assert names(prepared) == [*included, ("echo", "between"), *included]
    file, line = prepared.tasks[1].model.source
    assert file == str(project / "blueprints/checks.yaml") and line == 5
    assert (
        prepared.tasks[1].model.origin
        == f"in blueprint 'checks.yaml' included from {project}/workflows/w.yaml:3"
    )
    res = engine.run(prepared)
    assert res.exit_code == 0 and res.variables["r2"]["report"] == "checked r2"


def test_nested_blueprints_and_a_name_rendered_from_static_variables(project: Path) -> None:
    write(
        project,
        "workflows/w.yaml",
        """\
        workflow:
          name: nested
          vars: {flavour: ios}
          tasks:
            - blueprint: outer
        """,
    )
    engine = nf(project)
    assert [m for _, m in names(engine.load_workflow("w"))][-1] == "ios extra"
    assert [m for _, m in names(engine.load_workflow("w", vars={"flavour": "eos"}))][-1] == "eos extra"
    inner = engine.load_workflow("w").tasks[1].model
    assert inner.origin == (
        f"in blueprint 'checks.yaml' included from {project}/blueprints/nested/outer.yml:4, "
        f"from {project}/workflows/w.yaml:5"
    )


def test_a_static_condition_is_decided_at_load_and_a_false_one_is_never_looked_up(project: Path) -> None:
    write(
        project,
        "workflows/w.yaml",
        """\
        workflow:
          vars: {env: prod}
          tasks:
            - blueprint: checks
              if: "{{ env == 'prod' }}"
            - blueprint: "{{ missing_var }}_nowhere"
              if: "env == 'dev'"
            - blueprint: checks
              when: false
        """,
    )
    prepared = nf(project).load_workflow("w")
    assert len(prepared.tasks) == 2 and "if" not in prepared.tasks[0].model.hooks
    with pytest.raises(WorkflowError, match="unknown blueprint 'x_nowhere'") as info:
        nf(project).load_workflow("w", vars={"env": "dev", "missing_var": "x"})
    assert info.value.line == 6


def test_a_condition_on_host_applies_per_host_to_every_included_task(project: Path) -> None:
    write(
        project,
        "blueprints/guarded.yaml",
        """\
        tasks:
          - name: echo
            args: {msg: plain}
          - name: echo
            args: {msg: own}
            if: "host.platform == 'ios'"
          - blueprint: checks
            if: {groups: [edge]}
        """,
    )
    write(
        project,
        "workflows/w.yaml",
        """\
        workflow:
          tasks:
            - blueprint: guarded
              if: "{{ host.data.role == 'edge' }}"
        """,
    )
    engine = nf(project)
    prepared = engine.load_workflow("w")
    hooks = [t.model.hooks.get("if") for t in prepared.tasks]
    assert hooks[0] == "{{ host.data.role == 'edge' }}"
    assert list(hooks[1]) == ["{{ host.data.role == 'edge' }}", "host.platform == 'ios'"]
    assert [thaw(h)[1] for h in hooks[2:]] == [{"groups": ["edge"]}] * 2
    res = engine.run(prepared)
    ran = [[r.host for r in t if r.status == "ok"] for t in res.tasks]
    assert ran == [["r2", "r3"], ["r3"], ["r2", "r3"], ["r2", "r3"]]


def test_a_cycle_is_refused_listing_the_chain(project: Path) -> None:
    write(project, "blueprints/a.yaml", "tasks:\n  - blueprint: b\n")
    write(project, "blueprints/b.yaml", "tasks:\n  - name: echo\n  - blueprint: a.yaml\n")
    write(project, "workflows/w.yaml", "workflow:\n  tasks:\n    - blueprint: a\n")
    with pytest.raises(WorkflowError) as info:
        nf(project).load_workflow("w")
    err = info.value
    assert err.message == "blueprint include cycle: a.yaml -> b.yaml -> a.yaml"
    assert err.file == str(project / "blueprints/b.yaml") and err.line == 3 and err.key == "blueprint"


def test_the_same_blueprint_twice_in_one_chain_branch_is_not_a_cycle(project: Path) -> None:
    write(project, "blueprints/twice.yaml", "tasks:\n  - blueprint: checks\n  - blueprint: checks\n")
    write(
        project, "workflows/w.yaml", "workflow:\n  tasks:\n    - blueprint: twice\n    - blueprint: twice\n"
    )
    assert len(nf(project).load_workflow("w").tasks) == 8


@pytest.mark.parametrize(
    ("blueprint", "reference", "expected"),
    [
        (None, "- blueprint: nope", ("w.yaml", 3, "blueprint", "unknown blueprint 'nope'")),
        (None, "- blueprint: chekcs", ("w.yaml", 3, "blueprint", "did you mean 'checks")),
        (None, "- {blueprint: checks, args: {a: 1}}", ("w.yaml", 3, "args", "unknown key 'args'")),
        (None, "- blueprint: '{{ nope }}'", ("w.yaml", 3, "blueprint", "'nope' is undefined")),
        (
            None,
            "- {blueprint: checks, if: '{{ nope }}'}",
            ("w.yaml", 3, "if", "decided when the workflow loads"),
        ),
        ("tasks: []\n", "- blueprint: bad", ("bad.yaml", 1, "tasks", "non-empty list")),
        ("tasks: [echo]\nname: x\n", "- blueprint: bad", ("bad.yaml", 2, "name", "unknown key 'name'")),
        (
            "tasks:\n  - name: echo\n    bogus: 1\n",
            "- blueprint: bad",
            ("bad.yaml", 3, "bogus", "in blueprint 'bad.yaml' included from"),
        ),
        (
            "tasks:\n  - name: no_such_task\n",
            "- blueprint: bad",
            ("bad.yaml", 2, None, "unknown task 'no_such_task'"),
        ),
        (
            "tasks:\n  - name: echo\n    set_to: _bad\n",
            "- blueprint: bad",
            ("bad.yaml", 2, None, "must not start with '_'"),
        ),
    ],
)
def test_errors_name_the_blueprint_file_line_and_key_and_the_including_workflow(
    project: Path, blueprint: str | None, reference: str, expected: tuple[str, int, str | None, str]
) -> None:
    if blueprint is not None:
        write(project, "blueprints/bad.yaml", blueprint)
    write(project, "workflows/w.yaml", f"workflow:\n  tasks:\n    {reference}\n")
    with pytest.raises(NornFlowError) as info:
        nf(project).load_workflow("w")
    err = info.value
    file, line, key, text = expected
    assert err.file.endswith(file) and err.line == line, str(err)
    if key is not None:
        assert err.key == key, str(err)
    assert text in str(err)
    if file == "bad.yaml":
        assert f"included from {project}/workflows/w.yaml:3" in str(err)


def test_a_blueprint_in_a_mapping_given_workflow_and_an_ambiguous_name(project: Path) -> None:
    write(project, "blueprints/other/checks.yaml", "tasks: [echo]\n")
    engine = nf(project)
    with pytest.raises(WorkflowError, match="ambiguous"):
        engine.load_workflow({"workflow": {"name": "m", "tasks": [{"blueprint": "checks"}]}})
    prepared = engine.load_workflow(
        {"workflow": {"name": "m", "tasks": [{"blueprint": "other/checks.yaml"}]}}
    )
    assert [t.name for t in prepared.tasks] == ["echo"]


def test_catalog_lookups(project: Path) -> None:
    catalog = BlueprintCatalog([project / "blueprints"], base_dir=project)
    assert list(catalog) == ["checks.yaml", "eos_extra.yaml", "ios_extra.yaml", "outer.yml"]
    assert catalog.find("outer") == project / "blueprints/nested/outer.yml"
    assert catalog.find("nested/outer.yml") == project / "blueprints/nested/outer.yml"
    assert catalog.find(str(project / "blueprints/checks.yaml")) == project / "blueprints/checks.yaml"
    [info] = catalog.info("checks.yaml")
    assert (info.description, info.tasks) == ("Gather and report", 2)


def test_local_blueprints_is_blueprint_dirs(project: Path) -> None:
    (project / "blueprints").rename(project / "bps")
    write(project, "nornflow.yaml", "local_blueprints: [bps]\ninventory: {host_file: inventory/hosts.yaml}\n")
    assert nf(project).settings.blueprint_dirs == ["bps"]
    assert "checks.yaml" in nf(project).blueprints


def test_domain_variables_sit_between_defaults_and_workflow_vars(project: Path) -> None:
    write(project, "vars/defaults.yaml", "a: global\nb: global\nc: global\nd: global\n")
    write(project, "vars/net/defaults.yaml", "b: domain\nc: domain\nd: domain\n")
    write(
        project,
        "workflows/net/sub/w.yaml",
        """\
        workflow:
          vars: {c: workflow, d: workflow}
          tasks:
            - name: echo
              args: {msg: "{{ a }} {{ b }} {{ c }} {{ d }} {{ e }}"}
            - blueprint: "{{ b }}_bp"
        """,
    )
    write(project, "blueprints/domain_bp.yaml", "tasks:\n  - name: echo\n    args: {msg: from the domain}\n")
    write(
        project, "workflows/top.yaml", "workflow:\n  tasks:\n    - name: echo\n      args: {msg: '{{ b }}'}\n"
    )
    engine = NornFlow(Settings.load(project / "nornflow.yaml"), environ={"NORNFLOW_VAR_e": "env"})
    res = engine.run("w", vars={"d": "cli"})
    assert res.tasks[0]["r1"].result == "global domain workflow cli env"
    assert res.tasks[1]["r1"].result == "from the domain"
    assert engine.run("top").tasks[0]["r1"].result == "global"  # no domain at the top of workflows/


def test_hooks_decided_once_per_task_take_static_templates(project: Path) -> None:
    write(
        project,
        "workflows/w.yaml",
        """\
        workflow:
          vars: {quiet: true, once: "no"}
          tasks:
            - {name: echo, shush: "{{ quiet }}"}
            - {name: echo, output: "{{ not quiet }}", single: "{{ once }}"}
            - {name: echo, hooks: {run_once: "{{ quiet }}"}}
        """,
    )
    prepared = nf(project).load_workflow("w")
    assert [t.print_output for t in prepared.tasks] == [False, False, True]
    assert (
        prepared.tasks[1].model.hooks["single"] == "no" and prepared.tasks[2].model.hooks["run_once"] is True
    )
    write(project, "workflows/h.yaml", "workflow:\n  tasks:\n    - {name: echo, shush: '{{ host.name }}'}\n")
    with pytest.raises(WorkflowError) as info:
        nf(project).load_workflow("h")
    assert (
        info.value.key == "shush"
        and info.value.line == 3
        and "decided once for the task" in info.value.message
    )


def test_cli_show_blueprints_and_run_with_vars(project: Path) -> None:
    write(project, "blueprints/broken.yaml", "tasks: nope\n")
    write(
        project,
        "workflows/w.yaml",
        "workflow:\n  tasks:\n    - blueprint: '{{ which }}'\n",
    )
    runner = CliRunner()
    old = Path.cwd()
    os.chdir(project)
    try:
        shown = runner.invoke(app, ["show", "blueprints"], env={"COLUMNS": "200"})
        ran = runner.invoke(app, ["run", "w", "-e", "which=checks"])
        valid = runner.invoke(app, ["validate", "w", "--vars", "which=checks"])
        bad = runner.invoke(app, ["validate", "w", "--vars", "which=broken"])
    finally:
        os.chdir(old)
    assert shown.exit_code == 0
    assert "checks.yaml" in shown.output and "Gather and report" in shown.output and "invalid" in shown.output
    assert ran.exit_code == 0, ran.output
    assert "checked r1" in ran.output
    assert valid.exit_code == 0 and "2 task(s)" in valid.output
    assert bad.exit_code == 3 and "broken.yaml:1" in bad.output and "key 'tasks'" in bad.output
