"""The run's control flow beyond "every task on every host": blocks (``block``/``rescue``/``always``),
rolling batches (``serial``, ``max_fail_percentage``) and check mode's skips.

The driver (``nornflow.run.driver``) keeps its flat loop for workflows without blocks or batches; it
hands the others to :func:`run_flow`, which walks the block tree once per batch and asks the executor
to run each task on the positions that reach it. A host that fails leaves the rest of its sequence
(``skip-failed``, ``fail-fast``; ``run-all`` keeps it), runs its block's ``rescue`` (and is
``rescued`` when that succeeds: the block's failures then do not count), and runs ``always``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from nornflow._hotpath import FAILED, NOT_RUN, OK, SKIPPED
from nornflow.models.blocks import Block, Node, leaves
from nornflow.models.serial import batch_sizes
from nornflow.run.results import TaskResult, WorkflowResult
from nornflow.settings import FailureStrategy

__all__ = ["CHECK_SKIP_REASON", "FlowRun", "batches_of", "check_skipped", "run_flow"]

#: The skip reason of a task that does not declare check-mode support, in check mode.
CHECK_SKIP_REASON = "not check-mode safe"


def check_skipped(task: Any, dry_run: bool, tr: TaskResult, positions: Sequence[int] | None) -> bool:
    """In check mode, mark a task that is not check-mode safe skipped on ``positions`` (all: None)."""
    if not dry_run or task.check_safe:
        return False
    for i in range(len(tr.hosts)) if positions is None else positions:
        tr.codes[i] = SKIPPED
        tr.skip_reasons[i] = CHECK_SKIP_REASON
    return True


def batches_of(sizes: Sequence[int | float] | None, total: int) -> list[range]:
    """The batches of host positions: one of every host without ``serial``."""
    if not sizes:
        return [range(total)]
    out, start = [], 0
    for n in batch_sizes(sizes, total):
        out.append(range(start, start + n))
        start += n
    return out


@dataclass
class FlowRun:
    """One run's walk: what runs a task on positions, and the run's shared pieces."""

    #: (task index, positions or None for all) -> None: runs the task through the driver's path
    run_task: Callable[[int, list[int] | None], None]
    result: WorkflowResult
    strategy: FailureStrategy
    stopped: Callable[[], bool]
    total: int
    rescued: set[int] = field(default_factory=set)
    #: fail-fast: hold (True) and release (False) the stop on a failure while a block that has a
    #: rescue runs, so that its rescue gets its chance; a failure the rescue does not save stops it then
    hold: Callable[[bool], None] | None = None

    def sequence(
        self, nodes: Sequence[Node], hosts: list[int], over: Callable[[set[int]], bool] | None = None
    ) -> set[int]:
        """Run ``nodes`` in order on ``hosts``; the positions that failed (counted, not rescued).
        ``over`` (the batch's top level) is asked after each task or whole block whether the failures
        exceed the limit: then the sequence stops there."""
        failed: set[int] = set()
        keep_failed = self.strategy is FailureStrategy.RUN_ALL
        for node in nodes:
            if over is not None and failed and over(failed):
                break
            active = hosts if keep_failed or not failed else [p for p in hosts if p not in failed]
            if isinstance(node, int):
                failed |= self._task(
                    node, active, [p for p in hosts if p in failed] if not keep_failed else []
                )
            else:
                failed |= self.block(node, active)
        return failed

    def _task(self, index: int, active: list[int], left_out: list[int]) -> set[int]:
        tr = self.result.tasks[index]
        for i in left_out:
            tr.codes[i] = SKIPPED
            tr.skip_reasons[i] = "failed in an earlier task"
        if not active:
            return set()
        self.run_task(index, None if len(active) == self.total else active)
        codes = tr.codes
        return {p for p in active if codes[p] == FAILED}

    def block(self, block: Block, hosts: list[int]) -> set[int]:
        """A block on ``hosts``: its tasks, ``rescue`` for the hosts that failed, ``always`` for all."""
        held = bool(block.rescue) and self.hold is not None
        if held:
            self.hold(True)  # type: ignore[misc]
        try:
            failed = self.sequence(block.block, hosts)
        finally:
            if held:
                self.hold(False)  # type: ignore[misc]
        if block.rescue:
            to_rescue = [p for p in hosts if p in failed]
            self._not_entered(
                block.rescue, [p for p in hosts if p not in failed], "no task of the block failed"
            )
            if to_rescue:
                still = self.sequence(block.rescue, to_rescue)
                saved = failed - still
                self._rescue(block.block, saved)
                failed = still
        if block.always:
            failed |= self.sequence(block.always, hosts)
        return failed

    def _not_entered(self, nodes: Sequence[Node], hosts: list[int], reason: str) -> None:
        for index in leaves(nodes):
            tr = self.result.tasks[index]
            for i in hosts:
                tr.codes[i] = SKIPPED
                tr.skip_reasons[i] = reason

    def _rescue(self, nodes: Sequence[Node], saved: set[int]) -> None:
        """The failures of ``saved`` hosts in ``nodes`` no longer count: they were rescued."""
        if not saved:
            return
        self.rescued |= saved
        for index in leaves(nodes):
            tr = self.result.tasks[index]
            for i in saved:
                if tr.codes[i] == FAILED:
                    tr.codes[i] = OK
                    error = tr.errors.get(i)
                    if error is not None:
                        error.ignored = True
                        error.rescued = True


def run_flow(
    tree: Sequence[Node] | None,
    n_tasks: int,
    result: WorkflowResult,
    run_task: Callable[[int, list[int] | None], None],
    *,
    strategy: FailureStrategy,
    stopped: Callable[[], bool],
    notice: Callable[[str], None],
    serial: Sequence[int | float] | None,
    max_fail_percentage: float | None,
    hold: Callable[[bool], None] | None = None,
) -> None:
    """Walk ``tree`` (or the flat task list) once per batch; stop the run when the failures of a batch
    exceed ``max_fail_percentage`` (checked after each top-level task or block, so a rescue counts)."""
    nodes: list[Node] = list(tree) if tree is not None else list(range(n_tasks))
    total = len(result.hosts)
    flow = FlowRun(run_task, result, strategy, stopped, total, hold=hold)
    batches = batches_of(serial, total)
    if serial:
        result.batches = [[result.hosts[i] for i in batch] for batch in batches]
    aborted: str | None = None
    for number, batch in enumerate(batches, 1):
        if aborted is not None or stopped():
            reason = aborted or "run stopped before this batch"
            for tr in result.tasks:
                for i in batch:
                    if tr.codes[i] == NOT_RUN:
                        tr.skip_reasons[i] = reason
            continue
        if serial:
            notice(f"batch {number}/{len(batches)}: {len(batch)} host(s)")
        size = len(batch)

        def over(failed: set[int], size: int = size) -> bool:
            return max_fail_percentage is not None and 100 * len(failed) / size > max_fail_percentage

        failed = flow.sequence(nodes, list(batch), over if max_fail_percentage is not None else None)
        if over(failed):
            aborted = (
                f"max_fail_percentage {max_fail_percentage:g}% exceeded: {len(failed)} of {size} "
                f"host(s) failed in batch {number}; the run stopped there (later tasks and batches not run)"
            )
            result.stopped = result.stopped or aborted
            notice(aborted)
            for tr in result.tasks:  # the batch's own later tasks
                for i in batch:
                    if tr.codes[i] == NOT_RUN:
                        tr.skip_reasons[i] = aborted
    if flow.rescued:
        result.rescued_hosts = [result.hosts[i] for i in sorted(flow.rescued)]
