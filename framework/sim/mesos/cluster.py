"""SimCluster: the agents, frameworks, tasks and offers behind one or two emulated masters.

Thread-safe (one re-entrant lock), seeded (ids, uuids and the simulated runner's choices
come from ``seed``), clock injected (``clock.now()`` seconds drive offers' filters,
failover timeouts, update retries and the simulated tasks). Built from a layout::

    cluster = SimCluster.build([SiteLayout("dc", agents=3, cpus=8, mem=16384),
                                SiteLayout("cloud", agents=2, region="eu-west")],
                               seed=1, clock=WallClock(), region="eu-central")
"""
from __future__ import annotations

import ipaddress
from typing import Any, Iterable

from ...clock import Clock
from ...mesos.protocol import Resources, TaskState
from .calls import CallsMixin
from .failover import RecoveryMixin
from .partition import PartitionMixin
from .model import Agent, SiteLayout, attributes_json
from ..runner import TaskRunner
from ..simrunner import SimTaskRunner

AGENT_NET = ipaddress.ip_network("10.254.0.0/16")   # where emulated agents' own IPs come from


class SimCluster(RecoveryMixin, PartitionMixin, CallsMixin):
    """Cluster state shared by emulated masters; see the module docstring.

    Args: ``seed``; ``clock`` (default wall clock); ``runner`` (default: a
    :class:`SimTaskRunner` on the cluster's timer thread); ``region``: the masters'
    fault-domain region (agents elsewhere go to REGION_AWARE frameworks only);
    ``allocation_interval_s`` (batch allocation period; events also trigger allocation);
    ``update_retry_s`` (re-send unacknowledged agent updates); ``default_refuse_s``.
    """

    def __init__(self, seed: int = 1, clock: Clock | None = None, runner: TaskRunner | None = None,
                 region: str | None = None, allocation_interval_s: float = 1.0,
                 update_retry_s: float = 10.0, default_refuse_s: float = 5.0):
        super().__init__(seed, clock, runner, region, allocation_interval_s, update_retry_s,
                         default_refuse_s)
        self.sites: dict[str, SiteLayout] = {}
        self._recovery_init()
        self._partition_init()

    @classmethod
    def build(cls, sites: Iterable[SiteLayout], seed: int = 1, clock: Clock | None = None,
              **kwargs: Any) -> "SimCluster":
        """A cluster with ``site.agents`` agents per :class:`SiteLayout`."""
        cluster = cls(seed=seed, clock=clock, **kwargs)
        for site in sites:
            cluster.sites[site.name] = site
            for _ in range(site.agents):
                cluster.add_agent(site)
        return cluster

    # -- agents --------------------------------------------------------------------------

    def add_agent(self, site: SiteLayout | str, hostname: str | None = None) -> str:
        """Add one agent shaped like ``site`` (a layout or a known site name); its id."""
        layout = self.sites[site] if isinstance(site, str) else site
        with self.lock:
            self.sites.setdefault(layout.name, layout)
            agent_id = self.new_id("agent")
            n = len(self.agents)
            ip = str(AGENT_NET.network_address + 1 + n)
            total = Resources(layout.cpus, layout.mem, layout.disk,
                              ((int(layout.ports[0]), int(layout.ports[1])),) if layout.ports else ())
            attributes: dict[str, str | float] = dict(layout.attributes) if layout.attributes is not None \
                else {"site": layout.name}
            agent = Agent(agent_id, hostname or f"{layout.name}-agent-{n}", ip, layout.name, total, total,
                          attributes_json(attributes), layout.region, layout.zone,
                          layout.all_networks(), layout.runner or self.runner, layout.private)
            self.agents[agent_id] = agent
            self.mark_dirty(agent_id)
            self.request_allocation()
            return agent_id

    def lose_agent(self, agent_id: str) -> None:
        """The agent vanishes: offers rescinded, tasks TASK_UNREACHABLE (partition-aware
        frameworks) or TASK_LOST, reason REASON_AGENT_REMOVED, then a FAILURE event."""
        with self.lock:
            agent = self.agents[agent_id]
            if agent.lost:
                return
            for offer_id in list(agent.offers):
                self.remove_offer(self.offers[offer_id], rescind=True)
            told = agent_id in self.unreachable_agents   # reported unreachable already
            self.agent_dead(agent_id)
            agent.runner.lose_agent(agent.info)
            unreachable = {"unreachable_time": {"nanoseconds": int(self.wall() * 1e9)}}
            for framework_id, task_id in sorted(agent.tasks):
                framework = self.frameworks.get(framework_id)
                task = framework.tasks.get(task_id) if framework else None
                if framework is None or task is None:
                    continue
                pa = framework.partition_aware
                task.state = TaskState.UNREACHABLE if pa else TaskState.LOST
                task.pending.clear()
                self.forget_task(framework, task, completed=not pa)
                if pa:
                    framework.unreachable[task_id] = agent_id
                if not told:
                    self.master_update(framework, task_id, agent_id, task.state,
                                       "REASON_AGENT_REMOVED",
                                       f"Agent {agent.hostname} removed: agent lost",
                                       unreachable if pa else None)
            if told:
                return
            for framework in self.frameworks.values():
                self.send(framework, {"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}})

    def agent_ids(self, site: str | None = None) -> list[str]:
        with self.lock:
            return [a.agent_id for a in self.agents.values()
                    if not a.lost and (site is None or a.site == site)]

    # -- fault injection -----------------------------------------------------------------

    def _sim_runners(self, site: str) -> list[SimTaskRunner]:
        with self.lock:
            runners = {id(a.runner): a.runner for a in self.agents.values() if a.site == site}
        if not runners and isinstance(self.runner, SimTaskRunner):
            runners = {id(self.runner): self.runner}
        found = [r for r in runners.values() if isinstance(r, SimTaskRunner)]
        if not found:
            raise ValueError(f"site {site!r} has no simulated runner to inject faults into")
        return found

    def black_hole(self, site: str, after_s: float = 1.0, probability: float = 1.0,
                   count: int | None = None) -> None:
        """Tasks at ``site`` reach RUNNING, then FAIL ``after_s`` clock seconds later."""
        for runner in self._sim_runners(site):
            runner.black_hole(site, after_s, probability, count)

    def fail_at_launch(self, site: str, probability: float = 1.0, count: int | None = None) -> None:
        """Tasks at ``site`` fail to launch (TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED)."""
        for runner in self._sim_runners(site):
            runner.fail_at_launch(site, probability, count)

    def fail_health(self, site: str, after_s: float = 0.0, probability: float = 1.0,
                    count: int | None = None) -> None:
        """Health checks of tasks at ``site`` fail from ``after_s`` after RUNNING; Mesos
        kills a task after its ``consecutive_failures`` (framework/sim/simrunner.py)."""
        for runner in self._sim_runners(site):
            runner.fail_health(site, after_s, probability, count)

    def set_start_delay(self, site: str, starting_s: float, running_s: float) -> None:
        """Clock seconds from launch to TASK_STARTING, then to TASK_RUNNING, at ``site``."""
        for runner in self._sim_runners(site):
            runner.set_start_delay(site, starting_s, running_s)

    def clear_faults(self, site: str | None = None) -> None:
        sites = [site] if site is not None else list(self.sites)
        for name in sites:
            for runner in self._sim_runners(name):
                runner.clear_faults(name)

    def finish_task(self, framework_id: str, task_id: str,
                    state: TaskState = TaskState.FINISHED, message: str = "") -> bool:
        """End a simulated task now with ``state`` (its process exited)."""
        with self.lock:
            task = self.frameworks[framework_id].tasks.get(task_id)
            agent = self.agents[task.agent_id] if task else None
        if task is None or agent is None or not isinstance(agent.runner, SimTaskRunner):
            return False
        return agent.runner.finish(agent.agent_id, task_id, state, message)

    def rescind(self, offer_id: str | None = None) -> list[str]:
        """Rescind one outstanding offer (``offer_id``, or the oldest); the ids rescinded."""
        with self.lock:
            if offer_id is None:
                if not self.offers:
                    return []
                offer_id = next(iter(self.offers))
            if offer_id not in self.offers:
                return []               # accepted or declined meanwhile
            self.remove_offer(self.offers[offer_id], rescind=True)
            self.request_allocation()
            return [offer_id]

    def rescind_all(self) -> list[str]:
        """Rescind every outstanding offer; the ids rescinded."""
        with self.lock:
            ids = list(self.offers)
            for offer_id in ids:
                self.remove_offer(self.offers[offer_id], rescind=True)
            self.request_allocation()
            return ids

    def send_raw(self, framework_id: str, event: dict[str, Any] | bytes, framed: bool = True) -> bool:
        """Send ``event`` as is to a framework's stream: a dict (e.g. unknown type, UPDATE
        without status) or bytes (e.g. malformed JSON) in one RecordIO record, or with
        ``framed=False`` raw bytes into the stream (broken RecordIO). False if not connected."""
        with self.lock:
            framework = self.frameworks.get(framework_id)
            stream = framework.subscriber if framework else None
            if stream is None:
                return False
            stream.send(event, framed=framed)
            return True

    # -- views for tests -----------------------------------------------------------------

    def task_states(self, framework_id: str) -> dict[str, str]:
        """Latest state of each task the master holds for the framework."""
        with self.lock:
            framework = self.frameworks.get(framework_id)
            return {t.task_id: t.state.value for t in framework.tasks.values()} if framework else {}

    def outstanding_offers(self, framework_id: str | None = None) -> list[str]:
        with self.lock:
            return [o.offer_id for o in self.offers.values()
                    if framework_id is None or o.framework_id == framework_id]

    def state_json(self) -> dict[str, Any]:
        """A minimal ``/state``: frameworks (with tasks and offers) and agents."""
        with self.lock:
            frameworks = [{
                "id": f.framework_id, "name": f.info.get("name"), "active": f.connected,
                "connected": f.connected, "roles": f.roles, "capabilities": sorted(f.capabilities),
                "principal": f.info.get("principal"), "suppressed_roles": sorted(f.suppressed),
                "tasks": [{"id": t.task_id, "name": t.info.get("name"), "framework_id": f.framework_id,
                           "agent_id": t.agent_id, "slave_id": t.agent_id, "state": t.state.value,
                           "resources": {"cpus": t.resources.cpus, "mem": t.resources.mem,
                                         "disk": t.resources.disk}} for t in f.tasks.values()],
                "unreachable_tasks": [{"id": tid, "agent_id": aid} for tid, aid in f.unreachable.items()],
                "completed_tasks": list(f.completed),
                "offers": [{"id": o.offer_id, "agent_id": o.agent_id} for o in f.offers.values()],
            } for f in self.frameworks.values()]
            agents = [{
                "id": a.agent_id, "hostname": a.hostname, "site": a.site, "active": not a.lost,
                "attributes": {x["name"]: x.get("text", {}).get("value", x.get("scalar", {}).get("value"))
                               for x in a.attributes},
                "resources": {"cpus": a.total.cpus, "mem": a.total.mem, "disk": a.total.disk},
                "available": {"cpus": a.available.cpus, "mem": a.available.mem, "disk": a.available.disk},
                "domain": a.template().get("domain"),
            } for a in self.agents.values()]
            return {"frameworks": frameworks,
                    "completed_frameworks": [{"id": i} for i in sorted(self.removed_frameworks)],
                    "agents": agents, "slaves": agents,
                    "unreachable_agents": sorted(self.unreachable_agents)}
