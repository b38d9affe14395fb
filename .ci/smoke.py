"""Smoke-test an installed nornflow wheel: the package comes from site-packages, the hot path is the one
expected, and ``nornflow init demo && cd demo && nornflow run hello`` works with the installed command.

Run by cibuildwheel's test command (every platform) and by .ci/run, as
``python .ci/smoke.py --expect compiled|pure``; it exits non-zero with a message on any failure.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path


def fail(message: str) -> None:
    """Stop the smoke test with ``message`` on stderr (exit status 1)."""
    sys.stderr.write(f"smoke: FAILED: {message}\n")
    raise SystemExit(1)


def check_installed(expect: str) -> None:
    """nornflow and its hot path are imported from the installed wheel, and the hot path is ``expect``."""
    import nornflow
    from nornflow import _hotpath

    site = {Path(sysconfig.get_paths()[key]).resolve() for key in ("purelib", "platlib")}
    package = Path(nornflow.__file__).resolve().parent
    if package.parent not in site:
        fail(f"nornflow is imported from {package}, not from site-packages ({', '.join(map(str, site))})")
    spec = importlib.util.find_spec("nornflow._hotpath_c")
    if expect == "pure":
        if spec is not None or _hotpath.IMPLEMENTATION != "python":
            fail(
                f"expected the pure-Python hot path, found {_hotpath.IMPLEMENTATION} ({spec and spec.origin})"
            )
        return
    if spec is None:
        fail("the compiled hot path nornflow._hotpath_c is not in the installed wheel")
    import nornflow._hotpath_c as compiled

    if _hotpath.IMPLEMENTATION != "cython":
        fail(f"nornflow._hotpath_c imports but the hot path in use is {_hotpath.IMPLEMENTATION}")
    origin = Path(compiled.__file__)
    print(f"smoke: compiled hot path {origin}")


def command() -> str:
    """The installed ``nornflow`` console script (next to this interpreter, else on PATH)."""
    scripts = sysconfig.get_paths()["scripts"]
    found = shutil.which("nornflow", path=scripts) or shutil.which("nornflow")
    if not found:
        fail(f"the nornflow command is not installed (looked in {scripts} and PATH)")
    return found


def run(args: list[str], cwd: Path) -> str:
    """Run a command in ``cwd`` and return its stdout, failing the smoke test if it exits non-zero."""
    out = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)
    if out.returncode != 0:
        fail(f"{' '.join(args)} exited {out.returncode}\n{out.stdout}{out.stderr}")
    return out.stdout


def main() -> None:
    """Check where nornflow comes from, then init and run the starter project with the command."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--expect", choices=("compiled", "pure"), required=True)
    args = parser.parse_args()
    check_installed(args.expect)
    nornflow = command()
    with tempfile.TemporaryDirectory() as tmp:
        where = Path(tmp)
        version = run([nornflow, "--version"], where).strip()
        label = "pure Python" if args.expect == "pure" else "compiled"
        if f"hot path: {label};" not in version:
            fail(f"`nornflow --version` says {version!r}, expected hot path {label}")
        print(f"smoke: {version}")
        run([nornflow, "init", "demo"], where)
        recap = run([nornflow, "run", "hello"], where / "demo")
        written = sorted(p.name for p in (where / "demo" / "output").glob("*.cfg"))
        if not written:
            fail(f"`nornflow run hello` wrote no configs\n{recap}")
    print(f"smoke: OK (nornflow init demo && nornflow run hello wrote {', '.join(written)})")


if __name__ == "__main__":
    os.environ.pop("NORNFLOW_NO_EXTENSIONS", None)  # test the wheel as installed, not a forced twin
    main()
