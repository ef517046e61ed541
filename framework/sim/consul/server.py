"""HTTP front of the emulated Consul agent (real HTTP on loopback).

Routes (hashicorp/consul ``agent/http_register.go``; methods as registered there, any
other method is ``405`` with ``Allow``):

- ``PUT /v1/agent/service/register[?replace-existing-checks]`` → 200, empty body;
- ``PUT /v1/agent/service/deregister/<id>`` → 200, or 404 for an unknown id;
- ``GET /v1/agent/services`` → ``{id: AgentService}``;
- ``GET /v1/health/service/<name>[?passing]`` and ``GET /v1/catalog/service/<name>``,
  both blocking queries (``?index=N&wait=5s``; ``X-Consul-Index`` on every answer;
  "Invalid index", "Invalid wait time", "Invalid value for ?passing" are 400s,
  agent/http.go parseWait and agent/health_endpoint.go).

Errors are plain text as the agent writes them (:mod:`.decode`). Every request is recorded
in ``requests`` as (method, path, status).
"""
from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from ...httpserve import serve
from .agent import AgentState
from .decode import Invalid, decode_registration, parse_duration
from ..httpreply import send_reply

log = logging.getLogger(__name__)
MAX_WAIT_S, DEFAULT_WAIT_S = 600.0, 300.0
CHECK_LOOP_S = 0.05


class ConsulHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        log.debug("%s %s", self.address_string(), format % args)

    @property
    def owner(self) -> "EmulatedConsul":
        return self.server.owner  # type: ignore[attr-defined]

    def _reply(self, status: int, body: Any = None, text: str | None = None,
               headers: dict[str, str] | None = None) -> None:
        send_reply(self, self.owner, status, body, text, headers)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path, query = unquote(url.path), parse_qs(url.query, keep_blank_values=True)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            self._route(path, query, raw)
        except Invalid as exc:
            self._reply(exc.status, text=exc.text)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - an emulator bug is a 500, logged
            log.exception("consul emulator: %s %s failed", self.command, self.path)
            self._reply(500, text=f"{type(exc).__name__}: {exc}")

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _dispatch

    def _only(self, method: str) -> bool:
        """Answer 405 (True) unless the request's method is ``method``."""
        if self.command == method:
            return False
        self._reply(405, text=f"method {self.command} not allowed", headers={"Allow": method})
        return True

    def _route(self, path: str, query: dict[str, list[str]], raw: bytes) -> None:
        state = self.owner.state
        if path == "/v1/agent/service/register":
            if not self._only("PUT"):
                self._register(query, raw)
        elif path.startswith("/v1/agent/service/deregister/"):
            if not self._only("PUT"):
                state.deregister(path[len("/v1/agent/service/deregister/"):])
                self._reply(200)
        elif path == "/v1/agent/services":
            if not self._only("GET"):
                with state.cond:
                    self._reply(200, state.agent_services())
        elif path.startswith("/v1/health/service/") and len(path) > 19:
            if not self._only("GET"):
                passing = _passing(query)
                self._blocking(query, lambda: state.health(path[19:], passing))
        elif path.startswith("/v1/catalog/service/") and len(path) > 20:
            if not self._only("GET"):
                self._blocking(query, lambda: state.catalog(path[20:]))
        else:
            self._reply(404, text="404 page not found")

    def _register(self, query: dict[str, list[str]], raw: bytes) -> None:
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise Invalid(f"Request decode failed: {exc}") from None
        if body is None:
            raise Invalid("Request decode failed: EOF")
        svc = decode_registration(body)
        replace = query.get("replace-existing-checks", ["false"])[-1] in ("", "true")
        self.owner.state.register(svc, replace)
        self._reply(200)

    def _blocking(self, query: dict[str, list[str]], read: Any) -> None:
        index, wait = _wait(query)
        state = self.owner.state
        with state.cond:
            if index > 0:
                state.cond.wait_for(lambda: state.index > index or self.owner.stopping.is_set(),
                                    wait)
            body = read()
            current = state.index
        self._reply(200, body, headers={"X-Consul-Index": str(current),
                                        "X-Consul-KnownLeader": "true",
                                        "X-Consul-LastContact": "0"})


def _passing(query: dict[str, list[str]]) -> bool:
    if "passing" not in query:
        return False
    value = query["passing"][-1].strip().lower()
    if value in ("", "1", "t", "true"):
        return True
    if value in ("0", "f", "false"):
        return False
    raise Invalid("Invalid value for ?passing")


def _wait(query: dict[str, list[str]]) -> tuple[int, float]:
    """(index, wait seconds) of a blocking query (index 0: not blocking)."""
    index = 0
    if query.get("index"):
        text = query["index"][-1]
        if not text.isdigit():
            raise Invalid("Invalid index")
        index = int(text)
    wait = DEFAULT_WAIT_S
    if query.get("wait"):
        try:
            wait = parse_duration(query["wait"][-1])
        except Invalid:
            raise Invalid("Invalid wait time") from None
    return index, min(max(wait, 0.0), MAX_WAIT_S)


class EmulatedConsul:
    """A Consul agent on ``host`` (a free port): ``start()``, ``url``, ``stop()``."""

    def __init__(self, host: str = "127.0.0.1", state: AgentState | None = None) -> None:
        self.state = state or AgentState()
        self.requests: list[tuple[str, str, int]] = []
        self.stopping = threading.Event()
        self._host = host
        self._lock = threading.Lock()
        self._httpd: Any = None
        self._loop: threading.Thread | None = None

    def start(self) -> "EmulatedConsul":
        self._httpd = serve((self._host, 0), ConsulHandler, self, "consul emulator",
                            "consul-emulator")
        self._loop = threading.Thread(target=self._run_checks, name="consul-checks",
                                      daemon=True)
        self._loop.start()
        return self

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def _record(self, method: str, path: str, status: int) -> None:
        with self._lock:
            self.requests.append((method, path, status))

    def _run_checks(self) -> None:
        while not self.stopping.wait(CHECK_LOOP_S):
            for check in self.state.due():
                threading.Thread(target=self._one, args=(check,), daemon=True,
                                 name=f"consul-check-{check.check_id}").start()
            self.state.reap()

    def _one(self, check: Any) -> None:
        try:
            status, output = self.state.runner(check)
        except Exception as exc:  # noqa: BLE001 - a check that breaks is critical
            status, output = "critical", f"{type(exc).__name__}: {exc}"
        self.state.report(check, status, output)

    def stop(self) -> None:
        self.stopping.set()
        with self.state.cond:
            self.state.cond.notify_all()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._loop is not None:
            self._loop.join(5)
