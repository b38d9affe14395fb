"""Packaging: the sdist carries csrc/, and a build without Cython or with the opt-out is pure Python."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


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
    (archive,) = tmp_path.glob("nornflow-*.tar.gz")
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
