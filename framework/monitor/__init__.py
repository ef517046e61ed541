"""The pool monitor: what HTCondor says about the pool, as immutable snapshots."""
from .snapshot import JobShape, PoolSnapshot, StartdInfo

__all__ = ["JobShape", "PoolSnapshot", "StartdInfo"]
