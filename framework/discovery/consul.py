"""Publishing in Consul: the master as a service on the framework host's Consul agent.

Follows the agent HTTP API (hashicorp/consul ``website/content/api-docs/agent/service.mdx``,
``agent/agent_endpoint.go`` AgentRegisterService / AgentDeregisterService):

- ``PUT /v1/agent/service/register`` with ``Name`` (the spec's service), ``ID``
  ``<service>-<task id>`` (one registration per master task), ``Address`` the master's IP,
  ``Port`` 9618 (the shared port), ``Tags`` ``["htcondor", "central-manager"]``, ``Meta``
  ``{task_id, published_at, collector}`` and one ``Check``: ``TCP <ip>:9618`` (default) or
  ``HTTP http://<ip>:<health port>/health``, with ``Interval``, ``Timeout`` and
  ``DeregisterCriticalServiceAfter`` (the agent reaps a master that stays critical; the
  reaper's floor is one minute). A new check starts critical (agent/agent.go AddCheck), so
  ``/v1/health/service/<name>?passing`` lists the new master once its collector answers.
- the previous master's registration (found by ``GET /v1/agent/services``) is removed with
  ``PUT /v1/agent/service/deregister/<id>``; a 404 ("Unknown service ID", agent/acl.go
  vetServiceUpdateWithAuthorizer) means it is gone already.
- errors: 400 with a plain-text reason ("Request decode failed: …", "Missing service name",
  "Invalid service address", "Invalid check: …") → :class:`DiscoveryRejected`; no answer or
  5xx → :class:`DiscoveryUnavailable`.

Executors may resolve ``<service>.service.consul`` where the operator runs Consul DNS; the
role containers' follower asks the HTTP API (``/v1/health/service/<name>?passing``).
"""
from __future__ import annotations

from typing import Any

import requests

from ..errors import DiscoveryError, DiscoveryRejected, DiscoveryUnavailable
from ..model import SHARED_PORT
from .base import Publisher, Record

TAGS = ["htcondor", "central-manager"]


def _duration(seconds: float) -> str:
    """A Go duration string as Consul parses it (``10s``, ``1m0s`` is also fine)."""
    return f"{max(1, int(round(seconds)))}s"


class ConsulPublisher(Publisher):
    """The record as service ``service`` on the Consul agent at ``url``."""

    def __init__(self, url: str, service: str, *, check: str = "tcp", health_port: int = 5000,
                 interval_s: float = 10.0, timeout_s: float = 5.0,
                 deregister_after_s: float = 60.0, request_timeout_s: float = 5.0,
                 session: requests.Session | None = None) -> None:
        if check not in ("tcp", "http"):
            raise ValueError(f"check must be tcp or http, not {check!r}")
        self.url, self.service = url.rstrip("/"), service
        self.where = f"consul {self.url} service {service}"
        self.check, self.health_port = check, health_port
        self.interval_s, self.timeout_s = interval_s, timeout_s
        self.deregister_after_s = max(60.0, deregister_after_s)   # the reaper's floor
        self.request_timeout_s = request_timeout_s
        self.session = session or requests.Session()

    def registration(self, record: Record) -> dict[str, Any]:
        """The ``PUT /v1/agent/service/register`` body for ``record``."""
        host = f"[{record.address}]" if ":" in record.address else record.address
        check: dict[str, Any] = {
            "Interval": _duration(self.interval_s), "Timeout": _duration(self.timeout_s),
            "DeregisterCriticalServiceAfter": _duration(self.deregister_after_s)}
        if self.check == "tcp":
            check.update(Name="HTCondor shared port", TCP=f"{host}:{SHARED_PORT}")
        else:
            check.update(Name="htcmesos /health", HTTP=f"http://{host}:{self.health_port}/health",
                         Method="GET")
        return {"ID": self.service_id(record.task_id), "Name": self.service,
                "Address": record.address, "Port": SHARED_PORT, "Tags": list(TAGS),
                "Meta": {"task_id": record.task_id, "published_at": f"{record.published_at:.3f}",
                         "collector": record.collector},
                "Check": check}

    def service_id(self, task_id: str) -> str:
        return f"{self.service}-{task_id}"

    def _request(self, method: str, path: str, body: Any = None) -> requests.Response:
        url = self.url + path
        try:
            resp = self.session.request(method, url, json=body, timeout=self.request_timeout_s)
        except requests.RequestException as exc:
            raise DiscoveryUnavailable(f"Consul agent {self.url} not reachable: "
                                       f"{type(exc).__name__}") from None
        if resp.status_code >= 500:
            raise DiscoveryUnavailable(f"Consul agent {method} {path}: HTTP "
                                       f"{resp.status_code} {resp.text.strip()[:200]}")
        return resp

    def _ours(self) -> list[dict[str, Any]]:
        resp = self._request("GET", "/v1/agent/services")
        if resp.status_code != 200:
            raise DiscoveryRejected(f"Consul agent GET /v1/agent/services: HTTP "
                                    f"{resp.status_code} {resp.text.strip()[:200]}")
        try:
            services = resp.json()
        except ValueError:
            raise DiscoveryUnavailable("Consul agent: /v1/agent/services is not JSON") from None
        if not isinstance(services, (dict, type(None))):
            # agent/agent_endpoint.go AgentServices answers an object (id → service): not
            # a Consul agent, or not its API root
            raise DiscoveryUnavailable(f"Consul agent {self.url}: /v1/agent/services is not "
                                       f"a JSON object (got {type(services).__name__}): is "
                                       f"this a Consul agent's HTTP API?")
        return [s for s in (services or {}).values()
                if isinstance(s, dict) and s.get("Service") == self.service]

    def current(self) -> Record | None:
        found = []
        for svc in self._ours():
            meta = svc.get("Meta") if isinstance(svc.get("Meta"), dict) else {}
            try:
                found.append(Record(str(svc.get("Address") or ""), str(meta.get("task_id") or ""),
                                    float(meta.get("published_at") or 0.0)))
            except (DiscoveryError, ValueError):   # not one of our records
                continue
        return max(found, key=lambda r: r.published_at) if found else None

    def publish(self, record: Record) -> bool:
        ours = self._ours()
        mine = self.service_id(record.task_id)
        if any(s.get("ID") == mine and s.get("Address") == record.address
               and len(ours) == 1 for s in ours):
            return False
        resp = self._request("PUT", "/v1/agent/service/register", self.registration(record))
        if resp.status_code != 200:
            raise DiscoveryRejected(f"Consul agent refused the registration of "
                                    f"{record.address}: HTTP {resp.status_code} "
                                    f"{resp.text.strip()[:300]}")
        for svc in ours:                       # the previous master's registrations
            if svc.get("ID") != mine:
                old = self._request("PUT", f"/v1/agent/service/deregister/{svc.get('ID')}")
                if old.status_code not in (200, 404):
                    raise DiscoveryRejected(f"Consul agent: deregister {svc.get('ID')}: HTTP "
                                            f"{old.status_code} {old.text.strip()[:200]}")
        return True

    def close(self) -> None:
        self.session.close()
