"""Scheduler calls after SUBSCRIBE: framework/stream checks, then ACCEPT, DECLINE, REVIVE,
SUPPRESS, KILL, ACKNOWLEDGE, RECONCILE, TEARDOWN (and accepted no-ops).

Checks in Mesos' order: unknown framework → 400, not subscribed → 403, missing or wrong
``Mesos-Stream-Id`` → 400. Invalid offers and invalid tasks are no HTTP error: they come
back as master-made updates (no ``uuid``).
"""
from __future__ import annotations

import logging
from typing import Any

from ...mesos.protocol import TaskState
from .allocator import refuse
from .frameworks import FrameworksMixin
from .model import Framework, Offer, Task
from .resources import EMPTY, add, is_empty, subtract
from .state import CallError
from .tasks import validate_task

log = logging.getLogger(__name__)
MAX_REFUSE_S = 365 * 24 * 3600.0
DEFAULT_KILL_GRACE_S = 3.0


class CallsMixin(FrameworksMixin):
    """``handle_call`` and the handlers behind it (all under ``self.lock``)."""

    def handle_call(self, master: Any, call: dict[str, Any], stream_id: str | None,
                    principal: str | None = None) -> None:
        """Run one validated non-SUBSCRIBE call; raises CallError for 400/403."""
        framework_id = call["framework_id"]["value"]
        with self.lock:
            framework = self.frameworks.get(framework_id)
            if framework is None:
                raise CallError(400, "Framework cannot be found")
            if principal is not None and principal != framework.info.get("principal"):
                raise CallError(400, f"Authenticated principal '{principal}' does not match "
                                     f"principal '{framework.info.get('principal', '')}' set in `FrameworkInfo`")
            stream = framework.subscriber
            if stream is None or stream.master is not master:
                raise CallError(403, "Framework is not subscribed")
            if stream_id is None:
                raise CallError(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header")
            if stream_id != stream.stream_id:
                raise CallError(400, f"The stream ID '{stream_id}' included in this request didn't match "
                                     f"the stream ID currently associated with framework ID {framework_id}")
            kind = call["type"]
            body = call.get(kind.lower()) or {}
            if kind == "TEARDOWN":
                self.remove_framework(framework)
            elif kind == "ACCEPT":
                self.accept(framework, body)
            elif kind == "DECLINE":
                self.decline(framework, body)
            elif kind in ("REVIVE", "SUPPRESS"):
                self.revive_or_suppress(framework, kind, body)
            elif kind == "KILL":
                self.kill(framework, body)
            elif kind == "ACKNOWLEDGE":
                self.acknowledge(framework, body)
            elif kind == "RECONCILE":
                self.reconcile(framework, body.get("tasks") or [])
            # MESSAGE, REQUEST, SHUTDOWN, *_INVERSE_OFFERS: accepted, nothing to do here.

    def _refuse_s(self, body: dict[str, Any]) -> float:
        value = (body.get("filters") or {}).get("refuse_seconds")
        refuse_s = self.default_refuse_s if value is None else float(value)
        if refuse_s < 0:
            refuse_s = self.default_refuse_s   # Mesos: invalid → default, with a warning
        return min(refuse_s, MAX_REFUSE_S)

    def _offers_error(self, framework: Framework, offer_ids: list[str]) -> str | None:
        seen: set[str] = set()
        agent_id = role = None
        for offer_id in offer_ids:
            if offer_id in seen:
                return f"Duplicate offer {offer_id} in offer list"
            seen.add(offer_id)
            offer = self.offers.get(offer_id)
            if offer is None:
                return f"Offer {offer_id} is no longer valid"
            if offer.framework_id != framework.framework_id:
                return (f"Offer {offer_id} has invalid framework {offer.framework_id} while "
                        f"framework {framework.framework_id} is expected")
            if agent_id is not None and offer.agent_id != agent_id:
                return (f"Aggregated offers must belong to one single agent. Offer {offer_id} uses "
                        f"agent {offer.agent_id} and agent {agent_id}")
            if role is not None and offer.role != role:
                return f"Aggregated offers must be allocated to the same role. Offer {offer_id} uses role '{offer.role}'"
            agent_id, role = offer.agent_id, offer.role
        return None

    def accept(self, framework: Framework, body: dict[str, Any]) -> None:
        offer_ids = [o["value"] for o in body.get("offer_ids") or []]
        tasks = [t for op in body.get("operations") or [] for t in op["launch"].get("task_infos") or []]
        error = self._offers_error(framework, offer_ids) if offer_ids else "No offers specified"
        if error is not None:
            self.invalid_accepts += 1
            self.invalid_accept_tasks += len(tasks)
            for offer_id in offer_ids:   # the valid ones go back, without a filter
                offer = self.offers.get(offer_id)
                if offer is not None and offer.framework_id == framework.framework_id:
                    self.remove_offer(offer, rescind=False)
            state = TaskState.DROPPED if framework.partition_aware else TaskState.LOST
            for task in tasks:
                self.master_update(framework, task["task_id"]["value"], task["agent_id"]["value"], state,
                                   "REASON_INVALID_OFFERS", "Task launched with invalid offers: " + error)
            self.request_allocation()
            return
        offers: list[Offer] = [self.offers.pop(i) for i in offer_ids]
        agent = self.agents[offers[0].agent_id]
        available = EMPTY
        for offer in offers:
            available = add(available, offer.resources)
            agent.offers.discard(offer.offer_id)
            framework.offers.pop(offer.offer_id, None)
            framework.offered_agents.discard(offer.agent_id)
            framework.allocated_cpus = max(0.0, framework.allocated_cpus - offer.resources.cpus)
        busy = {tid for fid, tid in agent.tasks if fid != framework.framework_id}
        launching: set[str] = set()
        for info in tasks:
            needed, error = validate_task(info, framework, agent, available, launching, busy)
            task_id = info["task_id"]["value"]
            if error is not None:
                self.master_update(framework, task_id, info["agent_id"]["value"], TaskState.ERROR,
                                   "REASON_TASK_INVALID", error)
                continue
            available = subtract(available, needed)
            launching.add(task_id)
            task = Task(task_id, framework.framework_id, agent.agent_id, needed, info)
            self.add_task(framework, agent, task)
            agent.runner.launch(agent.info, info, self)
        if not is_empty(available):
            agent.available = add(agent.available, available)
            refuse(framework, agent.agent_id, self._refuse_s(body), self.now())
            self.mark_dirty(agent.agent_id)
        self.request_allocation()

    def decline(self, framework: Framework, body: dict[str, Any]) -> None:
        refuse_s = self._refuse_s(body)
        for offer_id in (o["value"] for o in body.get("offer_ids") or []):
            offer = self.offers.get(offer_id)
            if offer is None or offer.framework_id != framework.framework_id:
                log.info("ignoring decline of offer %s: it is no longer valid", offer_id)
                continue
            self.remove_offer(offer, rescind=False)
            refuse(framework, offer.agent_id, refuse_s, self.now())
        self.request_allocation()

    def revive_or_suppress(self, framework: Framework, kind: str, body: dict[str, Any]) -> None:
        roles = list(body.get("roles") or [])
        if any(role not in framework.roles for role in roles):
            log.warning("dropping %s of framework %s: roles %s are not all subscribed",
                        kind, framework.framework_id, roles)
            return
        targets = set(roles) if roles else set(framework.roles)
        if kind == "SUPPRESS":
            framework.suppressed |= targets
            return
        framework.suppressed -= targets
        framework.filters.clear()
        self.request_allocation(full=True)

    def kill(self, framework: Framework, body: dict[str, Any]) -> None:
        task_id = body["task_id"]["value"]
        agent_id = (body.get("agent_id") or {}).get("value")
        task = framework.tasks.get(task_id)
        if task is None or not self.task_known(task):
            # an unknown task: answered as reconciliation would (Master::kill), nothing
            # while its agent may still re-register
            answer = self.reconcile_answer(framework, task_id, agent_id)
            if answer is not None:
                self.master_update(framework, task_id, agent_id, answer[0],
                                   "REASON_RECONCILIATION", answer[1])
            return
        agent = self.agents[task.agent_id]
        if agent.lost or task.state.terminal:
            return
        policy = body.get("kill_policy") or task.info.get("kill_policy") or {}
        nanos = (policy.get("grace_period") or {}).get("nanoseconds")
        grace_s = DEFAULT_KILL_GRACE_S if nanos is None else int(nanos) / 1e9
        if agent.partitioned:       # it does not get it now; Mesos sends it on its return
            self.hold_kill(agent.agent_id, framework.framework_id, task_id, grace_s)
            return
        agent.runner.kill(agent.info, task_id, grace_s, self)

    def reconcile(self, framework: Framework, wanted: list[dict[str, Any]]) -> None:
        """RECONCILE: implicit (empty) → every task the leader knows; explicit → each
        named task as ``Master::_reconcileTasks`` answers (:meth:`reconcile_answer`)."""
        self.reconcile_calls.append(wanted)

        def known(task: Task) -> None:
            self.master_update(framework, task.task_id, task.agent_id, task.update_state or task.state,
                               "REASON_RECONCILIATION", "Reconciliation: Latest task state",
                               task.status_fields())
        if not wanted:
            for task in list(framework.tasks.values()):
                if self.task_known(task):
                    known(task)
            return
        for item in wanted:
            task_id = item["task_id"]["value"]
            agent_id = (item.get("agent_id") or {}).get("value")
            found = framework.tasks.get(task_id)
            if found is not None and self.task_known(found):
                known(found)                                        # (1)
                continue
            answer = self.reconcile_answer(framework, task_id, agent_id)
            if answer is not None:
                self.master_update(framework, task_id, agent_id, answer[0],
                                   "REASON_RECONCILIATION", answer[1])
