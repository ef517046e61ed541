"""What the pool monitor sees in one tick: an immutable snapshot of startds and jobs.

Units: cpus in cores, memory in MiB, times in seconds of the injected clock (``taken_at``,
``idle_since``) or of the epoch where HTCondor gives them (``last_heard``).
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class StartdInfo:
    """One executor's startd: its partitionable slot and what is claimed of it."""

    name: str                  # the partitionable slot's Name (slot1@host)
    task_id: str               # HTCMESOS_TASK_ID: which Mesos task runs it
    site: str                  # HTCMESOS_SITE
    cpus: float                # TotalSlotCpus
    memory: float              # TotalSlotMemory, MiB
    cpus_free: float           # Cpus left in the partitionable slot
    memory_free: float         # Memory left, MiB
    claims: int                # dynamic slots (claims) it holds now
    draining: bool             # a drain is in progress (it takes no new claims)
    last_heard: float          # LastHeardFrom (epoch s)
    idle_since: float | None = None   # clock s since which it held no claim (None: busy)
    address: str = ""          # MyAddress (sinful string, CCB included), for drains

    @property
    def idle(self) -> bool:
        return self.claims == 0


@dataclass(frozen=True)
class JobShape:
    """``count`` idle jobs of one request shape, wanting one site (None: any)."""

    cpus: float
    memory: float              # MiB
    site: str | None
    count: int


@dataclass(frozen=True)
class PoolSnapshot:
    """The pool at ``taken_at``: fresh, or stale with the reason its query failed.

    A stale snapshot keeps the last good data (and when it was taken, ``data_at``) so views
    can show it; the planner never scales in on it."""

    taken_at: float
    fresh: bool
    startds: tuple[StartdInfo, ...] = ()
    idle_jobs: tuple[JobShape, ...] = ()
    running_jobs: dict[str, int] = field(default_factory=dict)   # site → running jobs
    error: str | None = None
    data_at: float | None = None      # when the data was taken (fresh: == taken_at)

    def age(self, now: float) -> float:
        """Seconds since the data in this snapshot was taken."""
        return now - (self.data_at if self.data_at is not None else self.taken_at)

    def stale_copy(self, now: float, error: str) -> "PoolSnapshot":
        """This snapshot's data, marked stale at ``now`` because of ``error``."""
        return PoolSnapshot(now, False, self.startds, self.idle_jobs, dict(self.running_jobs),
                            error, self.data_at if self.data_at is not None else self.taken_at)

    def idle_job_count(self) -> int:
        return sum(shape.count for shape in self.idle_jobs)

    def by_task(self) -> dict[str, StartdInfo]:
        return {s.task_id: s for s in self.startds if s.task_id}


def empty(now: float, error: str) -> PoolSnapshot:
    """A stale snapshot with no data at all (the first query failed)."""
    return PoolSnapshot(now, False, error=error, data_at=None)
