"""Packaging: the distribution's name and metadata, the in-tree build backend, the sdist and wheels,
``nornflow --version``, and (under .ci/run) the installed wheel under test.

Three kinds of test live here:
- ``source_tree``-marked tests need the checkout (setup.py, pyproject.toml, csrc/, the backend); .ci/run
  deselects them when it runs the suite against an installed wheel;
- ``dist``-marked tests check the artifacts .ci/run built (``NORNFLOW_DIST_DIR``) and skip elsewhere:
  a compiled wheel needs Cython and a compiler, which the test environment does not have;
- the rest run anywhere, in a checkout or against an installed wheel.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace

import pytest
from packaging.utils import parse_sdist_filename, parse_wheel_filename

from nornflow._version import DISTRIBUTION, __version__

ROOT = Path(__file__).resolve().parent.parent
BLOCK_CYTHON = "import sys; sys.modules['Cython'] = None\n"  # makes `import Cython` fail in that process
WHEEL_STEM = DISTRIBUTION.replace("-", "_")
source_tree = pytest.mark.source_tree


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NORNFLOW_")}
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sources a build sees, copied so builds never write into the checkout."""
    dest = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "setup.py", "README.md", "LICENSE", "MANIFEST.in"):
        shutil.copy(ROOT / name, dest / name)
    ignore = shutil.ignore_patterns("*.so", "*.c", "__pycache__", "*.pyc")
    for tree in ("nornflow", "csrc", "build_backend", "tests", "bench", "docs", "examples", ".ci"):
        shutil.copytree(ROOT / tree, dest / tree, ignore=ignore)
    # what a run of the demo leaves behind (git-ignored), which the sdist must leave out
    (dest / "examples" / "demo" / "output").mkdir(exist_ok=True)
    (dest / "examples" / "demo" / "output" / "r1.cfg").write_text("hostname r1\n")
    return dest


def _setup(cwd: Path, *args: str, env: dict[str, str] | None = None, prelude: str = ""):
    code = prelude + "import sys; sys.argv = ['setup.py', *sys.argv[1:]]; exec(open('setup.py').read())"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_clean_env(**(env or {})),
        timeout=300,
    )


def _backend(cwd: Path, call: str, env: dict[str, str] | None = None, prelude: str = ""):
    """Call a hook of the in-tree PEP 517 backend as a frontend would: in cwd, backend-path on sys.path."""
    code = (
        prelude
        + "import json, sys; sys.path.insert(0, 'build_backend'); import nornflow_build as backend\n"
        + f"print(json.dumps({call}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=_clean_env(**(env or {})),
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


# -- the distribution's name and metadata -------------------------------------------------------------


@source_tree
def test_the_distribution_has_a_name_of_its_own_and_pep639_metadata():
    meta = _pyproject()
    project = meta["project"]
    assert project["name"] == DISTRIBUTION
    # "nornflow" on PyPI is another project; "nornflow-*" are that project's companion packages
    assert DISTRIBUTION != "nornflow" and not DISTRIBUTION.startswith("nornflow-")
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License" in (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # PEP 639 forbids both
    assert all(url.startswith("https://") for url in project["urls"].values())
    assert {"Homepage", "Source", "Issues"} <= set(project["urls"])


@source_tree
def test_python_classifiers_are_the_versions_ci_tests_and_requires_python_is_their_floor():
    project = _pyproject()["project"]
    classified = {
        c.rsplit(" :: ", 1)[1]
        for c in project["classifiers"]
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    }
    ci = (ROOT / ".ci" / "wheels").read_text(encoding="utf-8")
    tested = set(re.search(r'^PYTHONS="([^"]+)"', ci, re.MULTILINE).group(1).split())
    assert classified == tested
    ordered = sorted(tested, key=lambda v: tuple(map(int, v.split("."))))
    assert project["requires-python"] == f">={ordered[0]}"
    # the cibuildwheel build selectors are the same versions
    build = _pyproject()["tool"]["cibuildwheel"]["build"].split()
    assert build == [f"cp{v.replace('.', '')}-*" for v in ordered]


@source_tree
def test_cibuildwheel_covers_the_platforms_and_smoke_tests_the_compiled_module():
    cibw = _pyproject()["tool"]["cibuildwheel"]
    assert set(cibw["linux"]["archs"]) == {"x86_64", "aarch64"}
    assert "macos" in cibw and "windows" in cibw
    assert cibw["environment"]["NORNFLOW_REQUIRE_EXTENSIONS"] == "1"
    command = shlex.split(cibw["test-command"])
    assert command[1] == "{project}/.ci/smoke.py" and command[2:] == ["--expect", "compiled"]
    assert (ROOT / ".ci" / "smoke.py").is_file()


@source_tree
def test_pyproject_declares_the_entry_points():
    meta = _pyproject()
    project = meta["project"]
    assert project["requires-python"] == ">=3.11"
    assert project["scripts"]["nornflow"] == "nornflow.__main__:main"
    assert (
        project["entry-points"]["nornir.plugins.runners"]["work_queue"]
        == "nornflow.run.runners:WorkQueueRunner"
    )
    for dep in ("nornir", "pydantic", "pyyaml", "jinja2", "typer", "rich"):
        assert any(d.lower().startswith(dep) for d in project["dependencies"]), dep
    assert not any("cython" in d.lower() for d in project["dependencies"])


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
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=_clean_env())
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- the in-tree build backend, sdist and pure wheel ----------------------------------------------------


@source_tree
def test_build_system_needs_no_cython_and_the_backend_asks_for_it_only_for_a_compiled_build(
    source_copy: Path,
):
    system = _pyproject()["build-system"]
    assert not any("cython" in r.lower() for r in system["requires"])
    assert system["build-backend"] == "nornflow_build" and system["backend-path"] == ["build_backend"]
    for hook in ("get_requires_for_build_wheel", "get_requires_for_build_editable"):
        compiled, _ = _backend(source_copy, f"backend.{hook}()")
        assert "Cython>=3.1" in compiled, hook
        pure, _ = _backend(source_copy, f"backend.{hook}()", env={"NORNFLOW_NO_EXTENSIONS": "1"})
        assert not any("cython" in r.lower() for r in pure), hook
        off, _ = _backend(source_copy, f"backend.{hook}()", env={"NORNFLOW_NO_EXTENSIONS": "0"})
        assert "Cython>=3.1" in off, hook
    sdist, _ = _backend(source_copy, "backend.get_requires_for_build_sdist()")
    assert not any("cython" in r.lower() for r in sdist)


@source_tree
def test_sdist_carries_the_cython_sources_tests_and_pep639_metadata(source_copy: Path, tmp_path: Path):
    # built where Cython is not importable (an sdist never needs it)
    name, _ = _backend(source_copy, f"backend.build_sdist({str(tmp_path)!r})", prelude=BLOCK_CYTHON)
    dist, version = parse_sdist_filename(name)
    assert (dist, str(version)) == (DISTRIBUTION, __version__)
    with tarfile.open(tmp_path / name) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
        pkg_info = tar.extractfile(f"{WHEEL_STEM}-{__version__}/PKG-INFO").read().decode()
    for needed in (
        "csrc/_hotpath_c.pyx",
        "build_backend/nornflow_build.py",
        "nornflow/_hotpath_py.py",
        "LICENSE",
        "tests/test_hotpath.py",
        "examples/demo/workflows/hello.yaml",
        ".ci/smoke.py",
    ):
        assert needed in names, needed
    assert not any(n.endswith((".so", ".pyd", ".pyc", "_hotpath_c.c")) for n in names)
    assert not any(n.startswith("examples/demo/output") for n in names)
    info = Parser().parsestr(pkg_info)
    assert tuple(map(int, info["Metadata-Version"].split("."))) >= (2, 4)
    assert info["Name"] == DISTRIBUTION and info["Version"] == __version__
    assert info["License-Expression"] == "Apache-2.0" and info["License-File"] == "LICENSE"
    assert info["Requires-Python"] == ">=3.11"


@source_tree
def test_a_pure_build_is_a_py3_none_any_wheel_made_without_cython(source_copy: Path, tmp_path: Path):
    # Cython blocked and the extension "required": a pure build must not even look for Cython
    env = {"NORNFLOW_NO_EXTENSIONS": "1", "NORNFLOW_REQUIRE_EXTENSIONS": "1"}
    name, log = _backend(
        source_copy, f"backend.build_wheel({str(tmp_path)!r})", env=env, prelude=BLOCK_CYTHON
    )
    assert "NORNFLOW_NO_EXTENSIONS is set; installing the pure-Python implementation" in log
    dist, version, _build, tags = parse_wheel_filename(name)
    assert (dist, str(version)) == (DISTRIBUTION, __version__)
    assert {str(t) for t in tags} == {"py3-none-any"}
    with zipfile.ZipFile(tmp_path / name) as whl:
        files = set(whl.namelist())
        wheel_meta = whl.read(f"{WHEEL_STEM}-{__version__}.dist-info/WHEEL").decode()
    assert "nornflow/_hotpath_py.py" in files and "nornflow/py.typed" in files
    assert not any(f.endswith((".so", ".pyd", ".pyx", ".c")) for f in files)
    assert "Root-Is-Purelib: true" in wheel_meta


@source_tree
def test_opt_out_and_missing_cython_build_pure_python_and_say_so(source_copy: Path):
    out = _setup(source_copy, "build_ext", "--inplace", env={"NORNFLOW_NO_EXTENSIONS": "1"})
    assert out.returncode == 0, out.stderr
    assert "NORNFLOW_NO_EXTENSIONS is set; installing the pure-Python implementation" in out.stderr
    assert not list((source_copy / "nornflow").glob("_hotpath_c*.so"))

    out = _setup(source_copy, "build_ext", "--inplace", prelude=BLOCK_CYTHON)
    assert out.returncode == 0, out.stderr
    assert "Cython is not available; installing the pure-Python implementation" in out.stderr
    out = _setup(
        source_copy, "build_ext", "--inplace", prelude=BLOCK_CYTHON, env={"NORNFLOW_REQUIRE_EXTENSIONS": "1"}
    )
    assert out.returncode != 0  # required: no silent fallback
    out = _setup(source_copy, "--name", env={"NORNFLOW_NO_EXTENSIONS": "maybe"})
    assert out.returncode != 0 and "NORNFLOW_NO_EXTENSIONS='maybe' is not a boolean" in out.stderr


# What setup.py hands to setuptools.setup(), captured instead of building anything.
_CAPTURE = (
    "import json, setuptools\n"
    "def _capture(**kw):\n"
    "    exts = [dict(name=e.name, macros=e.define_macros, limited=e.py_limited_api)\n"
    "            for e in kw['ext_modules']]\n"
    "    print(json.dumps({'ext_modules': exts}))\n"
    "setuptools.setup = _capture\n"
)


@source_tree
def test_the_extension_is_a_full_api_build_and_none_for_a_pure_one(source_copy: Path):
    """Per-version wheels: the compiled hot path is never a Limited API build (README says why)."""

    def configured(**env: str) -> dict:
        out = _setup(source_copy, env=env, prelude=_CAPTURE)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout.strip().splitlines()[-1])

    assert configured() == {"ext_modules": [{"name": "nornflow._hotpath_c", "macros": [], "limited": False}]}
    assert configured(NORNFLOW_NO_EXTENSIONS="1") == {"ext_modules": []}


# -- the artifacts .ci/run built (NORNFLOW_DIST_DIR) -------------------------------------------------------

DIST_DIR = os.environ.get("NORNFLOW_DIST_DIR")
needs_dist = pytest.mark.skipif(
    not DIST_DIR, reason="checks the artifacts .ci/run builds (NORNFLOW_DIST_DIR)"
)


def _wheel_files(path: Path) -> set[str]:
    """The files a wheel installs, without its metadata (auditwheel also adds directory entries)."""
    with zipfile.ZipFile(path) as whl:
        return {n for n in whl.namelist() if ".dist-info/" not in n and not n.endswith("/")}


@pytest.mark.dist
@needs_dist
def test_ci_built_an_sdist_a_pure_wheel_and_manylinux_binary_wheels():
    dist = Path(DIST_DIR)
    (sdist,) = (dist / "sdist").glob("*.tar.gz")
    assert sdist.name == f"{WHEEL_STEM}-{__version__}.tar.gz"
    (pure,) = (dist / "wheelhouse").glob("*-py3-none-any.whl")
    pure_files = _wheel_files(pure)
    binaries = sorted((dist / "wheelhouse").glob("*-cp3*.whl"))
    this = f"cp{sys.version_info.major}{sys.version_info.minor}"
    assert any(f"-{this}-{this}-" in b.name for b in binaries), [b.name for b in binaries]
    for wheel in binaries:
        name, version, _build, tags = parse_wheel_filename(wheel.name)
        assert (name, str(version)) == (DISTRIBUTION, __version__)
        platforms = {t.platform for t in tags}
        assert platforms and all(
            re.fullmatch(r"manylinux(1|2010|2014|_2_\d+)_(x86_64|aarch64)", p) for p in platforms
        )
        (interpreter,) = {t.interpreter for t in tags}
        (abi,) = {t.abi for t in tags}
        files = _wheel_files(wheel)
        (module,) = [f for f in files if f.startswith("nornflow/_hotpath_c")]
        assert abi == interpreter and re.fullmatch(
            rf"nornflow/_hotpath_c\.cpython-{interpreter[2:]}-\S+\.so", module
        )
        # the same Python files as the pure wheel, plus the compiled module; no sources, no libraries
        assert files - {module} == pure_files, wheel.name
        assert not any(f.endswith((".pyx", ".c")) or ".libs/" in f for f in files)


# -- the installed wheel under test (.ci/run sets NORNFLOW_INSTALLED_WHEEL) --------------------------------

INSTALLED = os.environ.get("NORNFLOW_INSTALLED_WHEEL")


@pytest.mark.skipif(not INSTALLED, reason="only when .ci/run tests an installed wheel")
def test_the_installed_wheel_is_what_runs_without_cython_or_a_compiler():
    import importlib.util

    import nornflow
    from nornflow import _hotpath

    site = {Path(sysconfig.get_paths()[k]).resolve() for k in ("purelib", "platlib")}
    here = Path(nornflow.__file__).resolve()
    assert here.parent.parent in site, f"nornflow imported from {here}, not from the installed wheel"
    assert importlib.util.find_spec("Cython") is None
    assert not [cc for cc in ("cc", "gcc", "clang") if shutil.which(cc)]
    compiled = importlib.util.find_spec("nornflow._hotpath_c")
    if INSTALLED == "compiled":
        assert _hotpath.IMPLEMENTATION == "cython"
        assert compiled and Path(compiled.origin).resolve().parent == here.parent
    else:
        assert INSTALLED == "pure"
        assert compiled is None and _hotpath.IMPLEMENTATION == "python"
