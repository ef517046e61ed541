"""The planner's vocabulary: executors as the backend reports them, the planner's memory
between ticks, reason codes, and the Decision of one tick."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from ..monitor.snapshot import StartdInfo


#: An executor's size: (cpus, memory MiB).
Size = tuple[float, float]


class TaskState(str, enum.Enum):
    """An executor task as the backend sees it."""

    STARTING = "starting"      # launched, not yet running and healthy
    RUNNING = "running"
    KILLING = "killing"        # a kill was asked for


@dataclass(frozen=True)
class Executor:
    """One executor task of the backend."""

    task_id: str
    site: str
    state: TaskState
    launched_at: float = 0.0   # clock s
    #: executor_size: jobs — sized to a job (cpus, memory MiB), it takes only jobs of that
    #: size (packing.job_size); 0: the executor role's size, any job that fits
    cpus: float = 0.0
    mem: float = 0.0


class Code(str, enum.Enum):
    """Why the planner did something, or did not."""

    SCALE_UP = "SCALE_UP"                      # new executors for idle jobs
    COVERED = "COVERED"                        # idle jobs fit capacity there or starting
    SITE_MAX = "SITE_MAX"                      # the site is at its executors.max
    SITE_HELD = "SITE_HELD"                    # the backend holds the site (black hole, back-off)
    POOL_MAX = "POOL_MAX"                      # the pool is at autoscaling.max_executors
    LAUNCH_LIMIT = "LAUNCH_LIMIT"              # max_launches_per_tick reached
    COOLDOWN = "COOLDOWN"                      # scale_up_cooldown after the last scale-up
    JOB_TOO_BIG = "JOB_TOO_BIG"                # no executor slot can hold these jobs
    UNKNOWN_SITE = "UNKNOWN_SITE"              # jobs pinned to a site the spec lacks
    MINIMUM = "MINIMUM"                        # executors.min / min_executors kept
    STALE = "STALE"                            # stale snapshot: nothing scales in
    DRAIN = "DRAIN"                            # idle long enough: drain it
    DRAINED = "DRAINED"                        # a fresh ad shows no claim: kill the task
    CLAIM_DURING_DRAIN = "CLAIM_DURING_DRAIN"  # a claim arrived: cancel drain and removal
    AD_MISSING = "AD_MISSING"                  # draining startd has no fresh ad: wait
    DEMAND_AT_SITE = "DEMAND_AT_SITE"          # idle jobs could use it: no scale-in there
    SCALE_DOWN_COOLDOWN = "SCALE_DOWN_COOLDOWN"  # too soon after a change at the site
    # the operator's controls (framework/controls.py)
    DESIRED = "DESIRED"                        # the operator's desired size: launch / drain to it
    PAUSED = "PAUSED"                          # autoscaling is paused: not done
    SITE_DRAINED = "SITE_DRAINED"              # the operator drained the site
    OPERATOR_DRAIN = "OPERATOR_DRAIN"          # the operator drains a node / a site's executors
    # autoscaling.driver: clues — CLUES powers virtual nodes on and off
    POWER_ON = "POWER_ON"                      # an executor for a node CLUES powered on
    POWER_OFF = "POWER_OFF"                    # drain a node CLUES powered off
    ALREADY = "ALREADY"                        # the node is already on / off
    NODE_USED = "NODE_USED"                    # power-off of a node running jobs: kept
    POWER_ON_EXPIRED = "POWER_ON_EXPIRED"      # no executor came within CLUES' wait


@dataclass(frozen=True)
class Reason:
    code: Code
    site: str
    detail: str

    def __str__(self) -> str:
        return f"{self.code.value} {self.site}: {self.detail}"


@dataclass(frozen=True)
class Drain:
    """A drain the actuator started: when, on which startd, and its request id."""

    task_id: str
    startd: str
    since: float
    request_id: str = ""
    #: asked for by the operator (a node, a drained site; a desired size drains idle ones
    #: with ordinary drains): never cancelled on a claim; running jobs finish (a long
    #: retirement), then the task is removed
    operator: bool = False


@dataclass(frozen=True)
class PlannerState:
    """What the planner remembers between ticks (it stays pure: state in, state out)."""

    last_scale_up: dict[str, float] = field(default_factory=dict)
    last_scale_in: dict[str, float] = field(default_factory=dict)
    drains: dict[str, Drain] = field(default_factory=dict)          # task id → drain
    #: site → the last time an idle job that could run there was queued
    last_demand: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    """One tick's decision; the actuator carries it out, views only read it."""

    at: float
    desired: dict[str, int]                     # executors wanted per site
    launches: dict[str, int]                    # new ones this tick, per site
    drain: tuple[StartdInfo, ...] = ()
    cancel: tuple[Drain, ...] = ()
    kill: tuple[str, ...] = ()                  # task ids
    reasons: tuple[Reason, ...] = ()
    state: PlannerState = field(default_factory=PlannerState)
    fresh: bool = True
    #: ``autoscaling.executor_size: jobs``: per site, executors wanted by size (of
    #: ``desired``; the rest are the role's size); empty with ``slot``
    sizes: dict[str, dict[Size, int]] = field(default_factory=dict)

    @property
    def changes(self) -> bool:
        return bool(sum(self.launches.values()) or self.drain or self.cancel or self.kill)

    def codes(self) -> set[Code]:
        return {r.code for r in self.reasons}
