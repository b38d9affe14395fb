"""Packaging: the distribution's name, ``nornflow --version``, the sdist's contents, and pure builds
(without Cython or with the opt-out)."""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tomllib
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest

from nornflow._version import DISTRIBUTION, __version__

ROOT = Path(__file__).resolve().parent.parent
WHEEL_STEM = DISTRIBUTION.replace("-", "_")


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sources a build sees, copied so builds never write into the checkout."""
    dest = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("*.so", "*.c", "__pycache__", "*.pyc")
    shutil.copytree(ROOT / "nornflow", dest / "nornflow", ignore=ignore)
    shutil.copytree(ROOT / "csrc", dest / "csrc", ignore=ignore)
    return dest


def _setup(cwd: Path, *args: str, env: dict[str, str] | None = None, prelude: str = ""):
    code = prelude + "import sys; sys.argv = ['setup.py', *sys.argv[1:]]; exec(open('setup.py').read())"
    full = {k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_")}
    full.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", code, *args], cwd=cwd, capture_output=True, text=True, env=full, timeout=300
    )


def test_sdist_carries_the_cython_sources(source_copy: Path, tmp_path: Path):
    # even where Cython is not importable (as in a plain test environment), the sdist carries the .pyx
    out = _setup(
        source_copy,
        "-q",
        "sdist",
        "--dist-dir",
        str(tmp_path),
        prelude="import sys; sys.modules['Cython'] = None\n",
    )
    assert out.returncode == 0, out.stderr
    (archive,) = tmp_path.glob(f"{WHEEL_STEM}-*.tar.gz")
    with tarfile.open(archive) as tar:
        names = tar.getnames()
    assert any(n.endswith("csrc/_hotpath_c.pyx") for n in names)
    assert any(n.endswith("nornflow/_hotpath_py.py") for n in names)
    assert not any(n.endswith((".so", "_hotpath_c.c")) for n in names)


def test_opt_out_and_missing_cython_build_pure_python_and_say_so(source_copy: Path):
    out = _setup(source_copy, "build_ext", "--inplace", env={"NORNFLOW_NO_EXTENSIONS": "1"})
    assert out.returncode == 0, out.stderr
    assert "NORNFLOW_NO_EXTENSIONS is set; installing the pure-Python implementation" in out.stderr
    assert not list((source_copy / "nornflow").glob("_hotpath_c*.so"))

    block = "import sys; sys.modules['Cython'] = None\n"
    out = _setup(source_copy, "build_ext", "--inplace", prelude=block)
    assert out.returncode == 0, out.stderr
    assert "Cython is not available; installing the pure-Python implementation" in out.stderr
    out = _setup(
        source_copy, "build_ext", "--inplace", prelude=block, env={"NORNFLOW_REQUIRE_EXTENSIONS": "1"}
    )
    assert out.returncode != 0  # required: no silent fallback


def test_pyproject_declares_the_entry_points():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = meta["project"]
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"]["nornflow"] == "nornflow.__main__:main"
    assert (
        project["entry-points"]["nornir.plugins.runners"]["work_queue"]
        == "nornflow.run.runners:WorkQueueRunner"
    )
    assert any(req.startswith("Cython>=3.1") for req in meta["build-system"]["requires"])
    for dep in ("nornir", "pydantic", "pyyaml", "jinja2", "typer", "rich"):
        assert any(d.lower().startswith(dep) for d in project["dependencies"]), dep


def test_the_distribution_has_a_name_of_its_own():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["name"] == DISTRIBUTION
    # "nornflow" on PyPI is another project; "nornflow-*" are that project's companion packages
    assert DISTRIBUTION != "nornflow" and not DISTRIBUTION.startswith("nornflow-")


def test_the_installed_distribution_provides_the_package_command_and_plugins():
    """What pip installed (editable or wheel) is this distribution, with the version in the code."""
    dist = metadata.distribution(DISTRIBUTION)
    assert dist.version == __version__
    assert dist.metadata["Requires-Python"] == ">=3.11"
    points = {(ep.group, ep.name): ep.value for ep in dist.entry_points}
    assert points[("console_scripts", "nornflow")] == "nornflow.__main__:main"
    assert points[("nornir.plugins.runners", "work_queue")] == "nornflow.run.runners:WorkQueueRunner"
    assert (
        points[("nornir.plugins.inventory", "nornflow.YAMLInventory")] == "nornflow.inventory:YAMLInventory"
    )


# -- nornflow --version ---------------------------------------------------------------------------------

VERSION_LINE = re.compile(
    rf"^{re.escape(DISTRIBUTION)} (?P<version>\S+) "
    r"\(package nornflow, hot path: (?P<impl>compiled|pure Python); "
    r"(?P<python>\S+ \d+\.\d+\.\d+\S*); Nornir (?P<nornir>\S+)\)$"
)


def _version(env: dict[str, str], *args: str) -> str:
    """``ARGS --version`` in this test's environment (its NORNFLOW_* flags included) updated with env."""
    out = subprocess.run(
        [*args, "--version"], capture_output=True, text=True, env={**os.environ, **env}, timeout=60
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr
    return out.stdout.rstrip("\n")


def test_version_names_the_distribution_implementation_python_and_nornir():
    from nornflow import _hotpath

    line = _version({}, sys.executable, "-m", "nornflow")
    match = VERSION_LINE.match(line)
    assert match, line
    assert match["version"] == __version__
    assert match["impl"] == {"cython": "compiled", "python": "pure Python"}[_hotpath.IMPLEMENTATION]
    assert match["python"] == f"{platform.python_implementation()} {platform.python_version()}"
    assert match["nornir"] == metadata.version("nornir")
    forced = VERSION_LINE.match(_version({"NORNFLOW_NO_EXTENSIONS": "1"}, sys.executable, "-m", "nornflow"))
    assert forced and forced["impl"] == "pure Python"
    # the installed console script answers the same
    script = shutil.which("nornflow", path=os.path.dirname(sys.executable)) or shutil.which("nornflow")
    assert script and _version({}, script) == line


def test_nornir_version_is_read_beside_the_package_nornflow_would_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    from nornflow import _about
    from nornflow._about import nornir_version

    (tmp_path / "nornir").mkdir()
    (tmp_path / "nornir" / "__init__.py").write_text("")
    (tmp_path / "nornir_netmiko-1.0.1.dist-info").mkdir()  # another distribution's metadata
    monkeypatch.syspath_prepend(str(tmp_path))
    # no nornir dist-info beside that package: importlib.metadata answers (the real Nornir's)
    assert nornir_version() == metadata.version("nornir")
    (tmp_path / "nornir-9.8.7.dist-info").mkdir()
    assert nornir_version() == "9.8.7"
    monkeypatch.setattr(_about, "PathFinder", SimpleNamespace(find_spec=lambda name: None))
    assert nornir_version() == "not installed"


def test_version_imports_nothing_heavy():
    """``--version`` imports no Nornir, pydantic, typer, rich, Jinja2 or YAML (it must stay fast)."""
    code = (
        "import sys, contextlib, io\n"
        "from nornflow.__main__ import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    main(['--version'])\n"
        "heavy = {'nornir', 'pydantic', 'typer', 'rich', 'jinja2', 'yaml', 'click'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_")},
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
