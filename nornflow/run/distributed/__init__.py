"""Scale-out: one run's hosts sharded over Dask worker processes (``pip install nornir-yamlflow[dask]``).

Importing this package does not import ``distributed``; starting a :class:`DaskExecutor` does.
See docs/scale-out.md."""

from nornflow.run.distributed.executor import DaskExecutor, ShardLost
from nornflow.run.distributed.shard import stopping

__all__ = ["DaskExecutor", "ShardLost", "stopping"]
