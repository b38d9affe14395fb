"""``packages:``: installed packages' tasks, hooks, filters, blueprints and workflows load with the
project's; qualified task names (``nornflow.echo``, ``local.NAME``, ``PACKAGE.NAME``)."""

from __future__ import annotations

import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from nornflow.exceptions import SettingsError, TaskNotFoundError
from nornflow.hooks.registry import HOOK_REGISTRY
from nornflow.run.api import NornFlow
from nornflow.settings import Settings


def write(root: Path, rel: str, text: str = "") -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def make_package(site: Path, name: str, task: str = "backup") -> None:
    write(site, f"{name}/__init__.py")
    write(site, f"{name}/helpers.py", "def greeting(host):\n    return f'backed up {host}'\n")
    write(site, f"{name}/tasks/__init__.py")
    write(
        site,
        f"{name}/tasks/ops.py",
        f"""\
        from nornir.core.task import Result, Task

        from ..helpers import greeting  # a package's own relative import


        def {task}(task: Task) -> Result:
            return Result(host=task.host, result=greeting(task.host.name))
        """,
    )
    write(site, f"{name}/hooks/__init__.py")
    write(
        site,
        f"{name}/hooks/tag.py",
        f"""\
        from nornflow.hooks.base import PostRunHook
        from nornflow.hooks.registry import register_hook


        @register_hook
        class Tag(PostRunHook):
            \"\"\"Store the value in a variable 'tag'.\"\"\"

            hook_name = "{name}_tag"

            def _run_hook(self, task_model, host, result, vars_mgr):
                vars_mgr.set_runtime_var(host, "tag", self.value)
        """,
    )
    write(site, f"{name}/j2_filters/__init__.py")
    write(
        site,
        f"{name}/j2_filters/shout.py",
        f"def {name}_shout(value):\n    return str(value).upper() + '!'\n",
    )
    write(site, f"{name}/filters/__init__.py")
    write(
        site,
        f"{name}/filters/sites.py",
        f"def {name}_even(host) -> bool:\n    return host.name[-1] in '02468'\n",
    )
    write(site, f"{name}/blueprints/{name}_steps.yaml", f"tasks:\n  - name: {name}.{task}\n")
    write(site, f"{name}/workflows/{name}_flow.yaml", f"workflow:\n  tasks:\n    - blueprint: {name}_steps\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for module in [m for m in sys.modules if m.startswith("nfpkg_")]:
        del sys.modules[module]


def project(tmp_path: Path, settings: str) -> Path:
    write(tmp_path, "nornflow.yaml", settings)
    write(tmp_path, "inventory/hosts.yaml", "r1: {}\nr2: {}\n")
    return tmp_path / "nornflow.yaml"


def test_a_packages_resources_load_with_the_projects(tmp_path: Path, site: Path) -> None:
    name = f"nfpkg_{uuid.uuid4().hex[:8]}"
    make_package(site, name)
    nf = NornFlow(project(tmp_path, f"packages:\n  - name: {name}\n"), workers=2)
    assert f"{name}_tag" in HOOK_REGISTRY
    assert nf.catalog.get("backup") is nf.catalog.get(f"{name}.backup")
    res = nf.run(
        {
            "workflow": {
                "name": "w",
                "inventory_filters": {f"{name}_even": True},
                "tasks": [
                    {"name": "backup", f"{name}_tag": "t1"},
                    {"name": "echo", "args": {"msg": f"{{{{ tag | {name}_shout }}}}"}},
                    {"blueprint": f"{name}_steps"},
                ],
            }
        }
    )
    assert res.hosts == ["r2"] and res.exit_code == 0
    assert [t["r2"].result for t in res.tasks] == ["backed up r2", "T1!", "backed up r2"]
    assert nf.run(f"{name}_flow").tasks[0]["r1"].result == "backed up r1"  # the package's workflow


def test_include_limits_the_kinds_and_warns_for_a_missing_one(
    tmp_path: Path, site: Path, caplog: pytest.LogCaptureFixture
) -> None:
    name = f"nfpkg_{uuid.uuid4().hex[:8]}"
    make_package(site, name)
    (site / name / "processors").mkdir()
    settings = Settings.load(
        project(tmp_path, f"packages:\n  - name: {name}\n    include: [tasks, blueprints]\n")
    )
    with caplog.at_level("WARNING"):
        nf = NornFlow(settings)
    assert f"{name}_tag" not in HOOK_REGISTRY and "backup" in nf.catalog
    assert nf.settings.blueprint_dirs[-1].endswith(f"{name}/blueprints") and settings.blueprint_dirs == [
        "blueprints"
    ]
    write(tmp_path, "nornflow.yaml", f"packages:\n  - name: {name}\n    include: [hooks, workflows]\n")
    (site / name / "workflows" / f"{name}_flow.yaml").unlink()
    (site / name / "workflows").rmdir()
    with caplog.at_level("WARNING"):
        NornFlow(tmp_path / "nornflow.yaml")
    assert "has no workflows/ folder" in caplog.text


def test_two_packages_providing_one_task_make_the_bare_name_ambiguous(tmp_path: Path, site: Path) -> None:
    a, b = (f"nfpkg_{uuid.uuid4().hex[:8]}" for _ in range(2))
    make_package(site, a)
    make_package(site, b)
    write(
        tmp_path,
        "tasks/mine.py",
        "from nornir.core.task import Result, Task\n\n\n"
        "def echo(task: Task) -> Result:\n    return Result(host=task.host, result='mine')\n",
    )
    nf = NornFlow(project(tmp_path, f"packages: [{{name: {a}}}, {{name: {b}}}]\n"))
    first, second = sorted([a, b])
    with pytest.raises(
        TaskNotFoundError, match=f"ambiguous: packages provide {first}.backup and {second}.backup"
    ):
        nf.catalog.get("backup")
    assert nf.catalog.get(f"{b}.backup").source.endswith("ops.py")
    assert nf.catalog.get("echo").source.endswith("mine.py")  # the project's task wins a bare name
    assert nf.catalog.get("local.echo") is nf.catalog.get("echo")
    assert nf.catalog.get("nornflow.echo").source == "nornflow (built-in)"


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ("packages:\n  - name: ''\n", "packages.0.name", "at least 1"),
        ("packages:\n  - name: not-a-package\n", "packages.0.name", "importable package name"),
        ("packages:\n  - {name: a, include: []}\n", "packages.0.include", "at least one of"),
        (
            "packages:\n  - {name: a, include: [tasks, widgets]}\n",
            "packages.0.include",
            "unknown resource kind 'widgets'",
        ),
        ("packages:\n  - {name: a}\n  - {name: a}\n", "packages", "listed twice"),
    ],
)
def test_package_settings_errors(tmp_path: Path, text: str, key: str, message: str) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load(write(tmp_path, "nornflow.yaml", text))
    assert info.value.key == key and message in info.value.message and info.value.line == 1


def test_a_package_that_is_not_installed_is_an_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as info:
        NornFlow(project(tmp_path, "packages:\n  - name: nornflow_surely_not_installed\n"))
    assert info.value.key == "packages[0].name" and "does not install packages" in info.value.message
