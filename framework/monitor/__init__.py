"""The pool monitor: what HTCondor says about the pool, as immutable snapshots."""
from .base import PoolMonitor
from .snapshot import JobShape, PoolSnapshot, StartdInfo

__all__ = ["JobShape", "PoolMonitor", "PoolSnapshot", "StartdInfo"]
