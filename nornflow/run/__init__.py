"""The run layer: the ``NornFlow`` API, preparing a workflow, the per-host step, run state and failure
strategies, results, and the executors and Nornir runner that run a task's hosts."""
