"""The simulated pool's records: jobs and executors (one startd, one partitionable slot).

Calibrated against the real pool of tests/test_real_pool.py (HTCondor 23.9 in containers
on the Docker runner, update interval 2 s, negotiation every 1–2 s):

- an executor's startd is in the collector 4–6 s after its task is launched (container
  start ~1 s, condor_master and startd ~2 s, the first update right after): ``boot_s`` 5;
- a job matched in a negotiation cycle runs about 1 s later (claim, activation, shadow
  and starter): ``claim_s`` 1;
- a graceful drain of an idle startd shows in its next ad (``Draining``), and a killed
  executor's running jobs go back to the queue (``requeue`` counts them).

Times are seconds of the simulation clock; cpus in cores, memory in MiB.
"""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Timings:
    """How long things take in the simulated pool (see the module docstring)."""

    boot_s: float = 5.0              # launch → startd advertised
    claim_s: float = 1.0             # matched → job running
    negotiation_s: float = 10.0      # negotiation interval (pool.negotiator_interval)


@dataclass
class Job:
    """One job: what it asks for, where it must run, how long it runs."""

    id: int
    submit: float
    runtime: float
    cpus: float = 1.0
    memory: float = 1024.0
    site: str | None = None
    start: float | None = None       # first start
    end: float | None = None
    executor: str | None = None      # task id it runs on
    starts: int = 0
    killed: int = 0                  # times a running instance was killed

    @property
    def running(self) -> bool:
        return self.executor is not None and self.end is None


@dataclass
class SimExecutor:
    """One executor task and its startd (registered once booted)."""

    task_id: str
    site: str
    cpus: float
    memory: float
    launched: float
    booted: bool = False
    draining: bool = False
    killed: bool = False
    jobs: set[int] = field(default_factory=set)
    used_cpus: float = 0.0
    used_memory: float = 0.0
    idle_since: float | None = None
    drain_request: int = 0
    exact: bool = False              # sized to a job: takes only jobs of its size

    @property
    def free_cpus(self) -> float:
        return self.cpus - self.used_cpus

    @property
    def free_memory(self) -> float:
        return self.memory - self.used_memory
