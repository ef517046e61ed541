"""EmulatedMarathon: a strict Marathon 1.11 (REST v2) as a Mesos framework, for tests
and the demo.

Usage::

    m = EmulatedMarathon(master.url, secrets_dir=tmp).start()
    requests.post(m.url + "/v2/apps", json={...})
    m.app("/x"), m.tasks("/x"), m.requests, m.writes()
    m.stop()

It subscribes to the Mesos master with pymesos' MesosSchedulerDriver (real HTTP), launches
instances on offers that fit (resources, constraints) and declines the rest, tracks
TASK_* updates and health, and runs deployments (:mod:`.state`, :mod:`.deploy`).

Not emulated (or only approximately), by choice:
- a secrets *plugin* is played (:mod:`.taskinfo`): real Marathon without one injects nothing;
- host ports (``portDefinitions``, ``hostPort``) are accepted but no port resources are
  taken and no service ports assigned (tasks show ``ports: []``);
- Marathon-side health checks (HTTP, HTTPS, TCP, COMMAND) are not run: their tasks count as
  healthy once running and show no ``healthCheckResults`` entries;
- readiness checks, pods, persistent volumes, ``acceptedResourceRoles``, launch throttling,
  leader election, a persistent store (a restarted emulator knows nothing), group rollback
  (a group body with ``version`` → 422) and ``scaleBy``;
- GROUP_BY placement is approximate (never on a value used more than the least used one);
- unknown top-level app fields are 422 ``error.unknown.property`` (our code word).
"""
from __future__ import annotations

import logging
import random
import threading
import uuid
from pathlib import Path
from typing import Any, Callable

from ...clock import Clock, WallClock
from ...httpserve import serve
from .events import EventHub
from .httpapi import VERSION, MarathonHandler
from .scheduler import (REFUSE_NO_DEMAND_S, REFUSE_UNFIT_S, MarathonScheduler, call_safely,
                        make_driver)
from .state import Store, iso

log = logging.getLogger(__name__)
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
REVIVE_EVERY_S = 2.0


class EmulatedMarathon:
    """A Marathon on ``host`` (a free port) using the Mesos master at ``master_url``."""

    def __init__(self, master_url: str, *, secrets_dir: Path | None = None,
                 features: tuple[str, ...] = ("secrets",), seed: int = 1,
                 clock: Clock | None = None, deployment_poll_s: float = 0.2,
                 host: str = "127.0.0.1", task_launch_timeout_s: float = 300.0):
        self.master_url = master_url
        self.clock = clock or WallClock()
        self.features = tuple(features)
        self.deployment_poll_s = deployment_poll_s
        self._host = host
        rng = random.Random(seed)
        self.hub = EventHub(lambda: iso(self.clock.wall()))
        self.store = Store(self.hub, self.clock, self.features,
                           Path(secrets_dir) if secrets_dir is not None else None,
                           lambda: uuid.UUID(int=rng.getrandbits(128), version=4),
                           task_launch_timeout_s=task_launch_timeout_s)
        self.requests: list[tuple[str, str, int]] = []
        self._requests_lock = threading.Lock()
        self.stopping = threading.Event()
        self.scheduler = MarathonScheduler(self)
        self.driver: Any = None
        self._httpd: Any = None
        self._ticker: threading.Thread | None = None
        self._flush_lock = threading.Lock()
        self._had_demand = False
        self._last_revive = 0.0
        self.master_info: dict[str, Any] | None = None

    # -- life cycle ------------------------------------------------------------------------

    def start(self, wait_registered_s: float = 10.0) -> "EmulatedMarathon":
        self._httpd = serve((self._host, 0), MarathonHandler, self, "marathon emulator",
                            "marathon-http")
        self.driver = make_driver(self.scheduler, _host_port(self.master_url))
        self.driver.start()
        self._ticker = threading.Thread(target=self._tick_loop, name="marathon-ticker", daemon=True)
        self._ticker.start()
        if wait_registered_s and not self.scheduler.registered_event.wait(wait_registered_s):
            log.warning("marathon emulator: not registered with %s after %g s", self.master_url,
                        wait_registered_s)
        return self

    def stop(self) -> None:
        """Stop serving and leave Mesos as a failover would (tasks keep running)."""
        self.stopping.set()
        self.hub.close()
        if self.driver is not None:
            self.driver.stop(failover=True)
            self.driver.join()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._ticker is not None:
            self._ticker.join(5)

    def __enter__(self) -> "EmulatedMarathon":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def leader(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{host}:{port}"

    # -- public views ----------------------------------------------------------------------

    def writes(self) -> list[tuple[str, str, int]]:
        with self._requests_lock:
            return [r for r in self.requests if r[0] in WRITE_METHODS]

    def app(self, app_id: str) -> dict[str, Any] | None:
        return self.store.app_json(app_id)

    def tasks(self, app_id: str) -> list[dict[str, Any]]:
        return self.store.tasks_json(app_id)

    def min_healthy_during_deployment(self, app_id: str) -> int | None:
        """The fewest healthy tasks ``app_id`` had while a deployment held it (the latest
        deployment's), or None when it was never deployed."""
        with self.store.lock:
            return self.store.min_healthy.get(app_id if app_id.startswith("/") else "/" + app_id)

    def deployments(self) -> list[dict[str, Any]]:
        return self.store.deployments_json()

    def events(self) -> list[dict[str, Any]]:
        """Every event published so far (the latest few thousand)."""
        with self.hub._lock:
            return list(self.hub.published)

    def info(self) -> dict[str, Any]:
        return {"name": "marathon", "version": VERSION, "buildref": "emulator",
                "elected": True, "leader": self.leader,
                "frameworkId": self.scheduler.framework_id,
                "marathon_config": {"master": self.master_url, "features": list(self.features),
                                    "checkpoint": True, "failover_timeout": 604800,
                                    "framework_name": "marathon", "hostname": self._host,
                                    "mesos_role": "*", "task_launch_timeout": 300000},
                "http_config": {"http_port": int(self.leader.rsplit(":", 1)[1])},
                "zookeeper_config": {}, "event_subscriber": {"type": "sse"}}

    # -- internals -------------------------------------------------------------------------

    def _record(self, method: str, path: str, status: int) -> None:
        with self._requests_lock:
            self.requests.append((method, path, status))

    def _safely(self, fn: Callable[..., Any], *args: Any) -> None:
        call_safely(fn, *args)

    def _on_registered(self, master_info: dict[str, Any] | None, first: bool) -> None:
        if master_info is not None:
            self.master_info = master_info
        self.hub.publish("scheduler_registered_event" if first else "scheduler_reregistered_event",
                         {"frameworkId": self.scheduler.framework_id,
                          "master": (self.master_info or {}).get("hostname", "")})
        # explicit reconciliation of every task it knows (SchedulerActions.reconcileTasks)
        with self.store.lock:
            known = [{"task_id": {"value": t.id}, "agent_id": {"value": t.agent_id}}
                     for t in self.store.tasks.values()]
        if known:
            self._call("RECONCILE", self.driver.reconcileTasks, known)

    def _call(self, what: str, fn: Callable[..., Any], *args: Any) -> bool:
        """A driver call; False (logged) when the master is unreachable or refuses."""
        try:
            fn(*args)
            return True
        except Exception as exc:  # noqa: BLE001 - pymesos raises RuntimeError / OSError
            log.warning("marathon emulator: %s failed: %s", what, exc)
            return False

    def _on_offers(self, offers: list[dict[str, Any]]) -> None:
        launches, declines = self.store.match_offers(offers)
        for offer_id, infos in launches.items():
            if not self._call("ACCEPT", self.driver.launchTasks, [{"value": offer_id}], infos,
                              {"refuse_seconds": REFUSE_UNFIT_S}):
                self.store.launch_not_sent([i["task_id"]["value"] for i in infos])
        if declines:
            refuse = REFUSE_UNFIT_S if self.store.pending_launches() else REFUSE_NO_DEMAND_S
            self._call("DECLINE", self.driver.declineOffer, [{"value": o} for o in declines],
                       {"refuse_seconds": refuse})
        self._flush()

    def _on_status(self, status: dict[str, Any]) -> None:
        self.store.on_status(status)
        self._flush()

    def _flush(self) -> None:
        """Send queued kills; revive offers when launches wait."""
        if self.driver is None or self.stopping.is_set():
            return
        with self._flush_lock:
            for task_id, _agent_id in self.store.take_kills():
                # not sent: the store sends it again after KILL_RETRY_S
                self._call("KILL", self.driver.killTask, {"value": task_id})
            demand = self.store.pending_launches() > 0
            now = self.clock.now()
            if demand and (not self._had_demand or now - self._last_revive >= REVIVE_EVERY_S):
                self._last_revive = now
                self._call("REVIVE", self.driver.reviveOffers)
            self._had_demand = demand

    def _tick_loop(self) -> None:
        while not self.stopping.wait(self.deployment_poll_s):
            try:
                self.store.reconcile()
                self._flush()
            except Exception:  # noqa: BLE001 - keep ticking
                log.exception("marathon emulator: tick failed")


def _host_port(url: str) -> str:
    """``http://host:port[/]`` → ``host:port`` (what pymesos wants)."""
    rest = url.split("://", 1)[-1]
    return rest.split("/", 1)[0]
