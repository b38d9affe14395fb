"""Static checks CI relies on: the package type-checks (mypy, configured in pyproject.toml) and is ruff clean.

They run the real tools on the checkout, so a public function losing its types, a wrong annotation or a lint
error fails the suite like any other regression.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.source_tree


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_package_type_checks(tmp_path: Path) -> None:
    """``mypy`` with the project's configuration (strict, files = nornflow) reports no error."""
    done = _run("mypy", "--cache-dir", str(tmp_path / "mypy-cache"))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Success: no issues found" in done.stdout


def test_type_check_catches_a_wrong_annotation(tmp_path: Path) -> None:
    """The check is live: an untyped public function and a wrong return type are both reported."""
    bad = tmp_path / "bad.py"
    bad.write_text("def public(x):\n    return x\n\n\ndef count() -> int:\n    return 'three'\n")
    done = _run(
        "mypy", "--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path / "c"), str(bad)
    )
    assert done.returncode == 1
    assert "no-untyped-def" in done.stdout
    assert "return-value" in done.stdout


def test_ruff_clean() -> None:
    """``ruff check`` and ``ruff format --check`` pass on the whole tree."""
    lint = _run("ruff", "check", "--no-cache", ".")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    fmt = _run("ruff", "format", "--check", "--no-cache", ".")
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
