"""nornflow: run network-automation workflows written in YAML on Nornir, extended by hooks.

``from nornflow import NornFlow`` is the Python API; the hooks framework lives in ``nornflow.hooks``.
Heavy modules load on first use so ``nornflow --version`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nornflow._version import __version__
from nornflow.exceptions import NornFlowError

if TYPE_CHECKING:
    from nornflow.run.api import NornFlow
    from nornflow.run.results import WorkflowResult

__all__ = ["NornFlow", "NornFlowError", "WorkflowResult", "__version__"]


def __getattr__(name: str) -> Any:
    if name == "NornFlow":
        from nornflow.run.api import NornFlow

        return NornFlow
    if name == "WorkflowResult":
        from nornflow.run.results import WorkflowResult

        return WorkflowResult
    raise AttributeError(f"module 'nornflow' has no attribute {name!r}")
