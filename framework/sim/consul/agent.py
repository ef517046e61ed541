"""The emulated Consul agent's state: services, their checks (really run), the index.

One agent that is also its datacenter's catalog (a single-node "cluster"). Every change
(register, deregister, a check changing status) raises the Raft-like ``index``, which
blocking queries wait on (``?index=N&wait=…``, answered with ``X-Consul-Index``;
website/content/api-docs/features/blocking.mdx). Checks run for real against the
registered address: ``TCP`` connects, ``HTTP`` does a GET (2xx passing, 429 warning, else
critical), each every ``Interval`` with its ``Timeout`` (default 10 s); a new check starts
critical (agent/agent.go AddCheck). A service whose check stays critical longer than its
``DeregisterCriticalServiceAfter`` is removed (the agent's reaper; upstream runs it every
30 s with a one-minute floor, here every loop and without the floor, so tests stay short).
TTL checks stay as registered (no ``/v1/agent/check/pass`` here); script, gRPC, H2PING,
UDP, alias and OS-service checks are refused (not emulated).
"""
from __future__ import annotations

import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Callable

from .decode import Invalid

NODE, DATACENTER, NODE_ADDRESS = "htcmesos-sim", "dc1", "127.0.0.1"
NODE_ID = "00000000-0000-4000-8000-000000000001"
DEFAULT_CHECK_TIMEOUT_S = 10.0
_NOT_EMULATED = ("args", "scriptargs", "grpc", "h2ping", "udp", "aliasservice", "aliasnode",
                 "osservice", "dockercontainerid")


@dataclass
class Check:
    check_id: str
    name: str
    service_id: str
    kind: str                     # "tcp" | "http" | "ttl"
    target: str                   # host:port or URL ("" for ttl)
    interval_s: float
    timeout_s: float
    deregister_after_s: float
    status: str = "critical"
    output: str = ""
    notes: str = ""
    method: str = "GET"
    next_run: float = 0.0
    critical_since: float | None = None
    running: bool = False


@dataclass
class Service:
    body: dict[str, Any]          # decoded registration (lower-case keys)
    create_index: int
    modify_index: int
    checks: list[str] = field(default_factory=list)


def run_check(check: Check) -> tuple[str, str]:
    """(status, output) of one real run of ``check`` (agent/checks/check.go wording)."""
    if check.kind == "tcp":
        host, _, port = check.target.rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), check.timeout_s).close()
        except (OSError, ValueError) as exc:
            return "critical", f"dial tcp {check.target}: {exc}"
        return "passing", f"TCP connect {check.target}: Success"
    request = urllib.request.Request(check.target, method=check.method)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=check.timeout_s) as resp:
            code, body = resp.status, resp.read(4096)
    except urllib.error.HTTPError as exc:
        code, body = exc.code, exc.read(4096)
    except (OSError, ValueError) as exc:
        return "critical", f"Get \"{check.target}\": {exc}"
    status = "passing" if 200 <= code < 300 else "warning" if code == 429 else "critical"
    return status, f"HTTP {check.method} {check.target}: {code} Output: " \
                   f"{body.decode('utf-8', 'replace')}"


class AgentState:
    """Services and checks of one emulated agent (thread-safe; ``cond`` guards all)."""

    def __init__(self, now: Callable[[], float] = time.monotonic,
                 runner: Callable[[Check], tuple[str, str]] = run_check) -> None:
        self.now, self.runner = now, runner
        self.cond = threading.Condition()
        self.index = 1
        self.services: dict[str, Service] = {}
        self.checks: dict[str, Check] = {}

    # -- writes -----------------------------------------------------------------------------
    def register(self, svc: dict[str, Any], replace_checks: bool = False) -> None:
        new_checks = [self._check(svc, c, i, len(svc["checks"]))
                      for i, c in enumerate(svc["checks"], 1)]
        with self.cond:
            self.index += 1
            old = self.services.get(svc["id"])
            kept = [] if old is None or replace_checks else \
                [cid for cid in old.checks if cid not in {c.check_id for c in new_checks}]
            if old is not None:
                for cid in set(old.checks) - set(kept):
                    self.checks.pop(cid, None)
            for c in new_checks:
                self.checks[c.check_id] = c
            self.services[svc["id"]] = Service(
                svc, old.create_index if old else self.index, self.index,
                kept + [c.check_id for c in new_checks])
            self.cond.notify_all()

    def deregister(self, service_id: str) -> None:
        with self.cond:
            svc = self.services.pop(service_id, None)
            if svc is None:
                # agent/acl.go vetServiceUpdateWithAuthorizer
                raise Invalid(f'Unknown service ID "{service_id}". Ensure that the service ID '
                              f'is passed, not the service name.', 404)
            for cid in svc.checks:
                self.checks.pop(cid, None)
            self.index += 1
            self.cond.notify_all()

    def _check(self, svc: dict, c: dict, n: int, count: int) -> Check:
        refused = [k for k in _NOT_EMULATED if c.get(k)]
        if refused:
            raise Invalid(f"Invalid check: {refused[0]} checks are not emulated (only TCP, "
                          f"HTTP and TTL)")
        kind = "tcp" if c.get("tcp") else "http" if c.get("http") else "ttl"
        suffix = f":{n}" if count > 1 else ""
        return Check(c.get("checkid") or f"service:{svc['id']}{suffix}",
                     c.get("name") or f"Service '{svc['name']}' check", svc["id"], kind,
                     c.get("tcp") or c.get("http") or "", c.get("interval", 0.0),
                     c.get("timeout") or DEFAULT_CHECK_TIMEOUT_S,
                     c.get("deregistercriticalserviceafter", 0.0),
                     status=c.get("status") or "critical", notes=c.get("notes", ""),
                     method=(c.get("method") or "GET").upper(), next_run=self.now(),
                     critical_since=self.now() if (c.get("status") or "critical") == "critical"
                     else None)

    # -- checks -----------------------------------------------------------------------------
    def due(self) -> list[Check]:
        """Checks to run now (marked running; :meth:`report` ends the run)."""
        now = self.now()
        with self.cond:
            out = [c for c in self.checks.values()
                   if c.kind != "ttl" and not c.running and c.next_run <= now]
            for c in out:
                c.running = True
        return out

    def report(self, check: Check, status: str, output: str) -> None:
        now = self.now()
        with self.cond:
            check.running = False
            check.next_run = now + check.interval_s
            if self.checks.get(check.check_id) is not check:
                return                                  # deregistered meanwhile
            if status != check.status:
                check.status = status
                check.critical_since = now if status == "critical" else None
                self.index += 1
                self.cond.notify_all()
            check.output = output

    def reap(self) -> list[str]:
        """Deregister services critical beyond their limit; their ids."""
        now = self.now()
        with self.cond:
            gone = sorted({c.service_id for c in self.checks.values()
                           if c.deregister_after_s > 0 and c.critical_since is not None
                           and now - c.critical_since > c.deregister_after_s})
        for sid in gone:
            try:
                self.deregister(sid)
            except Invalid:
                pass
        return gone

    # -- reads (call with cond held) --------------------------------------------------------
    def agent_services(self) -> dict[str, Any]:
        return {sid: {"ID": sid, "Service": s.body["name"], "Tags": list(s.body["tags"]),
                      "Meta": dict(s.body["meta"]), "Port": s.body["port"],
                      "Address": s.body.get("address", ""),
                      "Weights": s.body.get("weights") or {"Passing": 1, "Warning": 1},
                      "EnableTagOverride": bool(s.body.get("enabletagoverride")),
                      "Datacenter": DATACENTER}
                for sid, s in sorted(self.services.items())}

    def _node(self) -> dict[str, Any]:
        return {"ID": NODE_ID, "Node": NODE, "Address": NODE_ADDRESS, "Datacenter": DATACENTER,
                "TaggedAddresses": {"lan": NODE_ADDRESS, "wan": NODE_ADDRESS}, "Meta": {},
                "CreateIndex": 1, "ModifyIndex": 1}

    def _check_json(self, c: Check) -> dict[str, Any]:
        s = self.services[c.service_id].body
        return {"Node": NODE, "CheckID": c.check_id, "Name": c.name, "Status": c.status,
                "Notes": c.notes, "Output": c.output, "ServiceID": c.service_id,
                "ServiceName": s["name"], "ServiceTags": list(s["tags"]), "Type": c.kind,
                "CreateIndex": self.services[c.service_id].create_index,
                "ModifyIndex": self.index}

    def health(self, name: str, passing: bool) -> list[dict[str, Any]]:
        serf = {"Node": NODE, "CheckID": "serfHealth", "Name": "Serf Health Status",
                "Status": "passing", "Notes": "", "Output": "Agent alive and reachable",
                "ServiceID": "", "ServiceName": "", "ServiceTags": [], "Type": "",
                "CreateIndex": 1, "ModifyIndex": 1}
        out = []
        for sid, s in sorted(self.services.items()):
            if s.body["name"] != name:
                continue
            checks = [serf] + [self._check_json(self.checks[cid]) for cid in s.checks]
            if passing and any(c["Status"] != "passing" for c in checks):
                continue
            out.append({"Node": self._node(), "Service": self._service_json(sid, s),
                        "Checks": checks})
        return out

    def _service_json(self, sid: str, s: Service) -> dict[str, Any]:
        body = self.agent_services()[sid]
        body.pop("Datacenter")
        body.update(CreateIndex=s.create_index, ModifyIndex=s.modify_index)
        return body

    def catalog(self, name: str) -> list[dict[str, Any]]:
        node = self._node()
        return [{"ID": NODE_ID, "Node": NODE, "Address": NODE_ADDRESS, "Datacenter": DATACENTER,
                 "TaggedAddresses": node["TaggedAddresses"], "NodeMeta": {},
                 "ServiceKind": "", "ServiceID": sid, "ServiceName": name,
                 "ServiceTags": list(s.body["tags"]), "ServiceAddress": s.body.get("address", ""),
                 "ServiceWeights": s.body.get("weights") or {"Passing": 1, "Warning": 1},
                 "ServiceMeta": dict(s.body["meta"]), "ServicePort": s.body["port"],
                 "ServiceEnableTagOverride": bool(s.body.get("enabletagoverride")),
                 "CreateIndex": s.create_index, "ModifyIndex": s.modify_index}
                for sid, s in sorted(self.services.items()) if s.body["name"] == name]
