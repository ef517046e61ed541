"""The core of :class:`~framework.sim.mesos.cluster.SimCluster`: state, ids, events, offers.

Everything here runs under ``self.lock`` (re-entrant). Times are clock seconds
(``clock.now()``); status timestamps use ``clock.wall()`` (epoch seconds).
"""
from __future__ import annotations

import base64
import itertools
import logging
import random
import threading
import uuid
from typing import Any

from ...clock import Clock, WallClock
from ...mesos.protocol import TaskState
from .allocator import allocate, take_back
from .model import Agent, Framework, Offer, Task
from .resources import add
from .tasks import master_status
from .timers import TimerService
from ..runner import TaskRunner
from ..simrunner import SimTaskRunner

log = logging.getLogger(__name__)


class CallError(Exception):
    """A call the master refuses with an HTTP status (400, 403, …) and a message."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class ClusterCore:
    """State shared by one or two emulated masters (see the mixins for behaviour)."""

    def __init__(self, seed: int = 1, clock: Clock | None = None, runner: TaskRunner | None = None,
                 region: str | None = None, allocation_interval_s: float = 1.0,
                 update_retry_s: float = 10.0, default_refuse_s: float = 5.0):
        self.seed = seed
        self.clock: Clock = clock or WallClock()
        self.timers = TimerService(self.clock, name="sim-cluster")
        self.rng = random.Random(seed)
        self.cluster_id = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        self.lock = threading.RLock()
        self.region = region                      # the masters' fault-domain region
        self.default_refuse_s = default_refuse_s
        self._update_retry_s = update_retry_s
        self.runner: TaskRunner = runner or SimTaskRunner(self.clock, seed, timers=self.timers)
        self.agents: dict[str, Agent] = {}
        self.unreachable_agents: set[str] = set()
        self.invalid_accepts = 0      # ACCEPTs answered as invalid (e.g. a rescinded offer)
        self.invalid_accept_tasks = 0     # … and the tasks in them (TASK_DROPPED / LOST)
        self.frameworks: dict[str, Framework] = {}
        self.removed_frameworks: set[str] = set()
        self.offers: dict[str, Offer] = {}
        self.task_owner: dict[tuple[str, str], str] = {}   # (agent id, task id) → framework id
        self.leader: Any = None                              # the elected EmulatedMaster
        self._ids = {k: itertools.count() for k in ("framework", "agent", "offer", "stream")}
        self._dirty_all = True                       # next cycle looks at every agent
        self._dirty_agents: set[str] = set()         # … or only at these
        self._alloc_pending = False
        self._closed = False
        self._ticker = self.timers.every(allocation_interval_s, self._periodic)
        self._retrier = self.timers.every(max(0.05, update_retry_s / 4), self._retry_updates)

    @property
    def update_retry_s(self) -> float:
        """Clock seconds before an unacknowledged agent update is sent again."""
        return self._update_retry_s

    @update_retry_s.setter
    def update_retry_s(self, value: float) -> None:
        with self.lock:
            self._update_retry_s = value
            self._retrier.cancel()
            self._retrier = self.timers.every(max(0.05, value / 4), self._retry_updates)

    # -- ids and time --------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def wall(self) -> float:
        wall = getattr(self.clock, "wall", None)
        return float(wall()) if wall is not None else self.clock.now()

    def new_id(self, kind: str) -> str:
        n = next(self._ids[kind])
        if kind == "framework":
            return f"{self.cluster_id}-{n:04d}"
        if kind == "agent":
            return f"{self.cluster_id}-S{n}"
        if kind == "offer":
            return f"{self.cluster_id}-O{n}"
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def new_uuid_b64(self) -> str:
        return base64.b64encode(self.rng.getrandbits(128).to_bytes(16, "big")).decode("ascii")

    def stream_seed(self) -> int:
        with self.lock:
            return self.seed * 1_000_003 + next(self._ids["stream"])

    # -- events --------------------------------------------------------------------------

    def send(self, framework: Framework, event: dict[str, Any]) -> bool:
        """Queue ``event`` on the framework's stream; False (dropped) if disconnected."""
        if framework.subscriber is None:
            return False
        framework.subscriber.send(event)
        return True

    def send_update(self, framework: Framework, status: dict[str, Any]) -> bool:
        return self.send(framework, {"type": "UPDATE", "update": {"status": status}})

    def master_update(self, framework: Framework, task_id: str, agent_id: str | None,
                      state: TaskState, reason: str, message: str,
                      extra: dict[str, Any] | None = None) -> None:
        """Send a master-made update (no uuid); Mesos drops it for a disconnected framework."""
        self.send_update(framework, master_status(framework.framework_id, task_id, agent_id, state,
                                                  reason, message, self.wall(), extra))

    # -- offers --------------------------------------------------------------------------

    def mark_dirty(self, agent_id: str) -> None:
        """The agent's free resources changed: look at it in the next cycle."""
        self._dirty_agents.add(agent_id)

    def request_allocation(self, full: bool = False) -> None:
        """Allocate soon (coalesced) on the timer thread; ``full``: look at every agent
        (a framework subscribed or revived), else only at agents marked dirty."""
        with self.lock:
            if full:
                self._dirty_all = True
            if self._alloc_pending or self._closed:
                return
            self._alloc_pending = True
        self.timers.call_later(0.0, self._allocate_now)

    def _allocate_now(self) -> None:
        with self.lock:
            self._alloc_pending = False
            self.allocate_locked()

    def _periodic(self) -> None:
        with self.lock:
            now = self.now()
            for framework in self.frameworks.values():
                expired = [a for a, until in framework.filters.items() if until <= now]
                for agent_id in expired:
                    del framework.filters[agent_id]
                    self.mark_dirty(agent_id)
            self.allocate_locked()

    def allocate_locked(self) -> None:
        """One allocation cycle over the dirty agents (all of them after a subscription,
        revive or election); sends one OFFERS event per framework that got offers."""
        if self.leader is None or self._closed or not (self._dirty_all or self._dirty_agents):
            return
        if self._dirty_all:
            agents = list(self.agents.values())
        else:
            agents = [self.agents[a] for a in sorted(self._dirty_agents, key=self._agent_order)]
        self._dirty_all = False
        self._dirty_agents.clear()
        fresh = allocate(agents, list(self.frameworks.values()), self.now(),
                         self.region, lambda: self.new_id("offer"))
        for framework_id, offers in fresh.items():
            framework = self.frameworks[framework_id]
            for offer in offers:
                self.offers[offer.offer_id] = offer
            self.send(framework, {"type": "OFFERS", "offers": {"offers": [
                o.to_json(self.agents[o.agent_id]) for o in offers]}})

    def _agent_order(self, agent_id: str) -> int:
        return int(agent_id.rsplit("-S", 1)[1])

    def remove_offer(self, offer: Offer, rescind: bool) -> None:
        """Take ``offer`` back (its resources return to the agent); RESCIND it if asked."""
        self.offers.pop(offer.offer_id, None)
        framework = self.frameworks.get(offer.framework_id)
        agent = self.agents[offer.agent_id]
        take_back(offer, agent, framework)
        if rescind and framework is not None:
            self.send(framework, {"type": "RESCIND", "rescind": {"offer_id": {"value": offer.offer_id}}})
        self.mark_dirty(offer.agent_id)

    def drop_offers(self, framework: Framework, rescind: bool) -> None:
        for offer in list(framework.offers.values()):
            self.remove_offer(offer, rescind)

    # -- tasks ---------------------------------------------------------------------------

    def add_task(self, framework: Framework, agent: Agent, task: Task) -> None:
        framework.tasks[task.task_id] = task
        agent.tasks.add((framework.framework_id, task.task_id))
        self.task_owner[(agent.agent_id, task.task_id)] = framework.framework_id
        framework.allocated_cpus += task.resources.cpus

    def release_task(self, framework: Framework, task: Task) -> None:
        """Give a task's resources back (once): it is terminal or gone."""
        if task.released:
            return
        task.released = True
        agent = self.agents.get(task.agent_id)
        if agent is not None and not agent.lost:
            agent.available = add(agent.available, task.resources)
        framework.allocated_cpus = max(0.0, framework.allocated_cpus - task.resources.cpus)
        self.mark_dirty(task.agent_id)
        self.request_allocation()

    def forget_task(self, framework: Framework, task: Task, completed: bool = True) -> None:
        """Remove a task from the master (after its terminal update, or with its agent)."""
        self.release_task(framework, task)
        framework.tasks.pop(task.task_id, None)
        self.task_owner.pop((task.agent_id, task.task_id), None)
        agent = self.agents.get(task.agent_id)
        if agent is not None:
            agent.tasks.discard((framework.framework_id, task.task_id))
        if completed:
            framework.completed.append({"id": task.task_id, "agent_id": task.agent_id,
                                        "state": task.state.value, "name": task.info.get("name")})

    def _retry_updates(self) -> None:
        """Re-send agent updates unacknowledged for ``update_retry_s`` (like the agent does)."""
        with self.lock:
            deadline = self.now() - self.update_retry_s
            for framework in self.frameworks.values():
                if framework.subscriber is None:
                    continue
                for task in framework.tasks.values():
                    if task.pending and task.head_sent_at is not None and task.head_sent_at <= deadline:
                        self.forward_head(framework, task)

    def task_known(self, task: Task) -> bool:
        """Does the leader know this task? (Not while its agent is away after a leader
        change: :mod:`.failover`.)"""
        return True

    def forward_head(self, framework: Framework, task: Task) -> None:
        """Send the oldest unacknowledged agent update of ``task`` (if connected; an agent
        that has not re-registered with the leader keeps its updates)."""
        if not task.pending:
            return
        agent = self.agents.get(task.agent_id)
        if not self.task_known(task) or (agent is not None and agent.partitioned):
            task.head_sent_at = None
            return
        head = task.pending[0]
        if self.send_update(framework, head):
            task.update_state = TaskState(head["state"])
            task.head_sent_at = self.now()
        else:
            task.head_sent_at = None

    def close(self) -> None:
        """Stop timers and the default runner (masters must be stopped first)."""
        with self.lock:
            self._closed = True
            self._ticker.cancel()
            self._retrier.cancel()
        runners = {id(a.runner): a.runner for a in self.agents.values()}
        runners[id(self.runner)] = self.runner
        for runner in runners.values():
            runner.close()
        self.timers.close()
