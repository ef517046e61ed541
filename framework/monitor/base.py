"""The monitor's interface: one snapshot of the pool per tick."""
from __future__ import annotations

import abc

from .snapshot import PoolSnapshot


class PoolMonitor(abc.ABC):
    """Something that can tell what the pool looks like (real HTCondor or simulated)."""

    @abc.abstractmethod
    def snapshot(self, now: float) -> PoolSnapshot:
        """The pool at ``now`` (clock seconds). Never raises: a failed or slow query gives
        a stale snapshot that says why."""
