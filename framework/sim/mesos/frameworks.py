"""Framework life cycle: subscribe, fail over, disconnect, failover timeout, teardown;
and master election (a new leader knows every framework from the shared state, as a
master recovered from the registry does, but holds no streams until they re-subscribe).
"""
from __future__ import annotations

import logging
import math
from typing import Any

from .model import Framework, Subscriber
from .updates import UpdatesMixin

log = logging.getLogger(__name__)


def validate_framework_info(info: dict[str, Any], suppressed: list[str]) -> str | None:
    """Mesos' FrameworkInfo checks (refused with an ERROR event on the stream)."""
    caps = {c.get("type") for c in info.get("capabilities") or []}
    multi = "MULTI_ROLE" in caps
    roles = list(info.get("roles") or [])
    if multi and info.get("role") is not None:
        return "'FrameworkInfo.role' must not be set when the framework is MULTI_ROLE capable"
    if not multi and roles:
        return "'FrameworkInfo.roles' must not be set when the framework is not MULTI_ROLE capable"
    if len(set(roles)) != len(roles):
        return "'FrameworkInfo.roles' contains duplicate items"
    for role in roles if multi else [info.get("role") or "*"]:
        parts = role.split("/")
        if role.startswith("-") or any(p in ("", ".", "..") for p in parts) or \
                any(c.isspace() or ord(c) < 32 or c == "\\" for c in role):
            return f"'{role}' is not a valid role"
    timeout = float(info.get("failover_timeout") or 0.0)
    if timeout < 0 or math.isinf(timeout) or timeout > 9.2e9:
        return f"The framework failover_timeout ({timeout:g}) is invalid"
    valid = set(roles) if multi else {info.get("role") or "*"}
    if set(suppressed) - valid:
        return f"Suppressed roles {sorted(set(suppressed) - valid)} are not contained in the set of roles"
    return None


class FrameworksMixin(UpdatesMixin):
    """Subscriptions and framework removal (all under ``self.lock``)."""

    def subscribe(self, master: Any, stream: Subscriber, subscribe: dict[str, Any],
                  principal: str | None = None) -> str | None:
        """Register or fail over a framework on ``stream``; returns its id (None: refused,
        the stream got an ERROR event and was closed)."""
        info = dict(subscribe["framework_info"])
        suppressed = list(subscribe.get("suppressed_roles") or [])
        if principal is not None and info.get("principal") is None:
            info["principal"] = principal
        with self.lock:
            error = validate_framework_info(info, suppressed)
            framework_id = (info.get("id") or {}).get("value") or None
            if error is None and framework_id in self.removed_frameworks:
                error = "Framework has been removed"
            framework = self.frameworks.get(framework_id) if framework_id else None
            if error is None and framework is not None and \
                    framework.info.get("principal") != info.get("principal"):
                error = "Changing framework's principal is not allowed."
            if error is not None:
                self._refuse(stream, error)
                return None
            if framework is None:
                framework_id = framework_id or self.new_id("framework")
                framework = Framework(framework_id, info)
                self.frameworks[framework_id] = framework
            else:
                for immutable in ("user", "checkpoint"):   # Mesos keeps the first value
                    if immutable in framework.info:
                        info[immutable] = framework.info[immutable]
                    else:
                        info.pop(immutable, None)
                if framework.subscriber is not None and framework.subscriber is not stream:
                    old = framework.subscriber
                    old.send({"type": "ERROR", "error": {"message": "Framework failed over"}})
                    old.close()
                self.drop_offers(framework, rescind=False)
            info["id"] = {"value": framework_id}
            framework.info = info
            framework.suppressed = set(suppressed)
            framework.subscriber = stream
            framework.disconnected_at = None
            if framework.failover_timer is not None:
                framework.failover_timer.cancel()
                framework.failover_timer = None
            stream.send({"type": "SUBSCRIBED", "subscribed": {
                "framework_id": {"value": framework_id},
                "heartbeat_interval_seconds": float(master.heartbeat_s),
                "master_info": master.master_info()}})
            stream.start_heartbeats()
            self.resend_pending(framework)
            self.request_allocation(full=True)
            return framework_id

    def _refuse(self, stream: Subscriber, message: str) -> None:
        stream.send({"type": "ERROR", "error": {"message": message}})
        stream.close()

    def stream_closed(self, stream: Subscriber) -> None:
        """The stream ended (client went away, dropped, master stopped): disconnect its
        framework, if it still is that framework's stream, and start the failover timer."""
        with self.lock:
            for framework in self.frameworks.values():
                if framework.subscriber is stream:
                    self._disconnect(framework)
                    return

    def _disconnect(self, framework: Framework) -> None:
        framework.subscriber = None
        framework.disconnected_at = self.now()
        self.drop_offers(framework, rescind=True)
        self.request_allocation()
        disconnected_at = framework.disconnected_at
        framework_id = framework.framework_id

        def expire() -> None:
            with self.lock:
                current = self.frameworks.get(framework_id)
                if current is not None and current.subscriber is None \
                        and current.disconnected_at == disconnected_at:
                    log.info("framework %s: failover timeout expired, removing it", framework_id)
                    self.remove_framework(current)

        framework.failover_timer = self.timers.call_later(framework.failover_timeout_s, expire)

    def remove_framework(self, framework: Framework) -> None:
        """TEARDOWN or failover timeout: kill its tasks, drop it, close its stream."""
        with self.lock:
            self.drop_offers(framework, rescind=False)
            for task in list(framework.tasks.values()):
                agent = self.agents.get(task.agent_id)
                if agent is not None and not agent.lost and not task.state.terminal:
                    agent.runner.kill(agent.info, task.task_id, 0.0, self)
                self.forget_task(framework, task)
            if framework.failover_timer is not None:
                framework.failover_timer.cancel()
            self.frameworks.pop(framework.framework_id, None)
            self.removed_frameworks.add(framework.framework_id)
            stream, framework.subscriber = framework.subscriber, None
            if stream is not None:
                stream.close()
            self.request_allocation()

    def set_leader(self, master: Any) -> None:
        """``master`` leads from now on: frameworks on any other master's streams count as
        disconnected until they re-subscribe here; outstanding offers are gone."""
        with self.lock:
            previous, self.leader = self.leader, master
            for framework in self.frameworks.values():
                stream = framework.subscriber
                if stream is not None and stream.master is not master:
                    self._disconnect(framework)   # that master closes its own streams
            for offer in list(self.offers.values()):
                self.remove_offer(offer, rescind=False)
            if previous is not master:
                log.info("master %s leads", getattr(master, "address", master))
            self.request_allocation(full=True)

    def leader_gone(self, master: Any) -> None:
        """``master`` stopped or lost leadership: no leader until another is elected."""
        with self.lock:
            if self.leader is master:
                self.leader = None
                for framework in self.frameworks.values():
                    if framework.subscriber is not None and framework.subscriber.master is master:
                        self._disconnect(framework)
