"""Framework mode's small parts: options, the status record, FrameworkInfo, the
pymesos callbacks htcmesos does not act on, and the reasons that don't back off."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ...autoscaler.backoff import BackoffPolicy
from ...spec import ClusterSpec
from .offers import SiteMatcher

log = logging.getLogger("framework.backends.mesos.framework")


@dataclass
class Options:
    refuse_s: float = 5.0              # decline filter while something is wanted
    idle_refuse_s: float = 60.0        # decline filter when nothing is wanted
    reconcile_settle_s: float = 2.0    # quiet time after RECONCILE before launching
    reconcile_first_retry_s: float = 1.0   # ask the unanswered again after this, doubling …
    reconcile_retry_s: float = 4.0     # … up to this (reconcile.py)
    reconcile_per_agent: bool = True   # retries ask one task per agent (reconcile.py)
    implicit_reconcile_s: float = 600.0    # a periodic implicit RECONCILE
    forget_ended_s: float = 600.0      # ended tasks stay visible (status, late updates) this long
    launch_timeout_s: float = 30.0     # no update this long after ACCEPT → reconcile the task
    kill_retry_s: float = 30.0         # no terminal update this long after KILL → kill again
    unreachable_reconcile_s: float = 30.0  # ask for unreachable tasks this often
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)


@dataclass(frozen=True)
class PoolStatus:
    """One status record: counts per (role, site, phase) and why launches wait."""

    connected: bool
    reconciling: bool
    counts: dict[tuple[str, str, str], int]
    reasons: list[tuple[str, str]]
    master_address: str | None
    launches: int
    failures: int


def framework_info(spec: ClusterSpec, framework_id: str | None, hostname: str) -> dict:
    m = spec.backend.mesos
    assert m is not None
    # PARTITION_AWARE: a task behind a partition is TASK_UNREACHABLE, not TASK_LOST, and
    # keeps running when its agent returns (without it Mesos < 1.5 kills it then): the
    # jobs of a returning executor are not lost (docs/failover.md)
    caps = [{"type": "MULTI_ROLE"}, {"type": "TASK_KILLING_STATE"}, {"type": "PARTITION_AWARE"}]
    if SiteMatcher(spec.sites).region_aware:
        caps.append({"type": "REGION_AWARE"})
    info: dict[str, Any] = {"user": m.user, "name": m.framework_name, "roles": [m.role],
                            "capabilities": caps, "failover_timeout": m.failover_timeout_s,
                            "checkpoint": True, "hostname": hostname}
    if m.principal:
        info["principal"] = m.principal
    if framework_id:
        info["id"] = {"value": framework_id}
    return info


class QuietCallbacks:
    """pymesos scheduler callbacks that only log (the framework learns what matters from
    status updates and reconciliation)."""

    def offerRescinded(self, driver: Any, offer_id: Any) -> None:
        log.debug("offer %s rescinded", offer_id.get("value"))

    def slaveLost(self, driver: Any, agent_id: Any) -> None:
        log.warning("agent %s lost", agent_id.get("value"))

    def executorLost(self, driver: Any, executor_id: Any, agent_id: Any, status: Any) -> None:
        log.warning("executor %s on agent %s lost", executor_id, agent_id)

    def frameworkMessage(self, driver: Any, executor_id: Any, agent_id: Any, data: Any) -> None:
        log.info("message from executor %s", executor_id)

    def processHeartBeat(self, driver: Any) -> None:
        """HEARTBEAT: the driver's watchdog already noted the event."""

    def inverseOffers(self, driver: Any, offers: list) -> None:
        """Maintenance inverse offers: not used (agents drain through HTCondor)."""

    def inverseOfferRescinded(self, driver: Any, offer_id: Any) -> None:
        """See :meth:`inverseOffers`."""

    def operationStatusUpdate(self, driver: Any, status: Any) -> None:
        """Offer operation feedback: htcmesos only LAUNCHes."""


#: Reasons of ends that say nothing about the site or the task (the agent went away, the
#: master answered a reconciliation or refused an offer): replaced without back-off.
NOT_THE_SITE = frozenset({"REASON_AGENT_REMOVED", "REASON_AGENT_DISCONNECTED",
                           "REASON_AGENT_REMOVED_BY_OPERATOR", "REASON_SLAVE_REMOVED",
                           "REASON_SLAVE_DISCONNECTED", "REASON_RECONCILIATION",
                           "REASON_INVALID_OFFERS"})
BACKGROUND = frozenset({"launchTasks", "declineOffer", "killTask"})


def task_ip(status: dict) -> str | None:
    try:
        nets = status["container_status"]["network_infos"]
        return nets[0]["ip_addresses"][0]["ip_address"]
    except (KeyError, IndexError, TypeError):
        return None
