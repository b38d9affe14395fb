"""Shared fixtures: the ``impl`` fixture runs hot-path tests on both twins; registry isolation."""

from __future__ import annotations

import importlib
import os

import pytest

from nornflow import _hotpath
from nornflow._envflags import env_flag
from nornflow.hooks.registry import HOOK_REGISTRY


def _available_impls() -> list[str]:
    if env_flag("NORNFLOW_NO_EXTENSIONS"):
        return ["python"]
    impls = ["python"]
    try:
        importlib.import_module("nornflow._hotpath_c")
        impls.append("cython")
    except ImportError:
        if env_flag("NORNFLOW_REQUIRE_EXTENSIONS"):
            raise
    return impls


IMPLS = _available_impls()
_MODULES = {"python": "nornflow._hotpath_py", "cython": "nornflow._hotpath_c"}


def pytest_report_header(config: pytest.Config) -> str:
    return (
        f"nornflow hot path: {_hotpath.IMPLEMENTATION} (default); impl fixture runs on: {', '.join(IMPLS)}; "
        f"NORNFLOW_NO_EXTENSIONS={os.environ.get('NORNFLOW_NO_EXTENSIONS', '')!r}"
    )


@pytest.fixture(params=IMPLS)
def impl(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    """One hot-path implementation module, also installed as nornflow's active hot path.

    The process-wide cache and tracker are replaced by fresh ones of that implementation, so
    everything above the hot path (hooks, models, engine) runs on it for the test.
    """
    module = importlib.import_module(_MODULES[request.param])
    cache = module.HookInstanceCache()
    tracker = module.ExecutionTracker()
    for name in module.__all__:  # the twins' public names (a parity test checks they are the same)
        monkeypatch.setattr(_hotpath, name, getattr(module, name))
    monkeypatch.setattr(_hotpath, "HOOK_CACHE", cache)
    monkeypatch.setattr(_hotpath, "TRACKER", tracker)
    from nornflow.models import runnable

    monkeypatch.setattr(runnable, "_HOOK_INSTANCE_CACHE", cache.data)
    monkeypatch.setattr(runnable, "_HOOK_CACHE_LOCK", cache.lock)
    return module


@pytest.fixture(autouse=True)
def _isolated_registry():
    """Hooks registered by a test are unregistered after it."""
    before = dict(HOOK_REGISTRY)
    yield
    HOOK_REGISTRY.clear()
    HOOK_REGISTRY.update(before)


@pytest.fixture(scope="session")
def _inventory_cache_root(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("inventory-cache")


@pytest.fixture(autouse=True)
def _isolated_inventory_cache(_inventory_cache_root, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests (and the CLI processes they start) never read or write the user's inventory cache."""
    monkeypatch.setenv("NORNFLOW_CACHE_DIR", str(_inventory_cache_root))
    monkeypatch.delenv("NORNFLOW_NO_CACHE", raising=False)
    monkeypatch.delenv("NORNFLOW_SETTINGS", raising=False)  # the developer's own settings stay out
