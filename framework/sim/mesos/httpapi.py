"""HTTP front of the emulated master: ``/api/v1/scheduler``, ``/version``,
``/master/redirect``, ``/state`` — HTTP/1.1 with keep-alive, checks in Mesos' order.

Scheduler endpoint: 401 (credentials configured, missing or wrong) → 307 to the leader
(``Location: //host:port/api/v1/scheduler``) or 503 when no leader is known → 503 while
recovering → 405 unless POST → 400 without Content-Type, 415 unless application/json →
400 bad JSON / schema / call rules → SUBSCRIBE streams; other calls 202, or 400/403.
"""
from __future__ import annotations

import base64
import binascii
import json
import logging
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ...mesos.protocol import SCHEDULER_PATH, STREAM_ID_HEADER
from .schema import SchemaError, validate_call
from .state import CallError

log = logging.getLogger(__name__)
VERSION = "1.11.0"
VERSION_JSON = {"version": VERSION, "git_tag": VERSION, "build_user": "htcmesos-emulator",
                "build_date": "2020-11-24 00:00:00", "build_time": 1606176000.0}
STATE_PATHS = ("/state", "/state.json", "/master/state", "/master/state.json")


class MasterHTTPServer(ThreadingHTTPServer):
    """Threaded server that remembers its connections so it can cut them all."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], master: Any):
        self.master = master
        self.connections: set[socket.socket] = set()
        super().__init__(address, SchedulerHandler)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        with self.master.lock:
            self.connections.add(request)
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self.master.lock:
                self.connections.discard(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away mid-request is normal here: log it quietly."""
        if isinstance(sys.exc_info()[1], OSError):
            log.debug("connection from %s ended: %s", client_address, sys.exc_info()[1])
            return
        super().handle_error(request, client_address)

    def cut_all(self) -> None:
        with self.master.lock:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class SchedulerHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"Mesos/{VERSION} (htcmesos emulator)"
    server: MasterHTTPServer

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        if log.isEnabledFor(logging.DEBUG):  # formatting every request costs at 10k calls/s
            log.debug("%s %s", self.address_string(), format % args)

    # -- plumbing ------------------------------------------------------------------------

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            parts: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _reply(self, status: int, body: str | bytes | dict | list = b"",
               headers: dict[str, str] | None = None) -> None:
        if isinstance(body, (dict, list)):
            data, ctype = json.dumps(body).encode("utf-8"), "application/json"
        else:
            data = body.encode("utf-8") if isinstance(body, str) else body
            ctype = "text/plain; charset=utf-8"
        self.send_response(status)
        if data:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        # end_headers() and the body in one write: one segment per answer on loopback
        self._headers_buffer.append(b"\r\n")
        if data and self.command != "HEAD":
            self._headers_buffer.append(data)
        self.flush_headers()

    def _principal(self) -> tuple[bool, str | None]:
        """(authenticated?, principal) against the master's credentials, if any."""
        creds = self.server.master.credentials
        if not creds:
            return True, None
        auth = self.headers.get("Authorization") or ""
        if not auth.startswith("Basic "):
            return False, None
        try:
            principal, _, secret = base64.b64decode(auth[6:], validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return False, None
        return creds.get(principal) == secret, principal

    def do_GET(self) -> None:
        self._route()

    def do_POST(self) -> None:
        self._route()

    def do_PUT(self) -> None:
        self._route()

    def do_DELETE(self) -> None:
        self._route()

    def do_PATCH(self) -> None:
        self._route()

    def do_HEAD(self) -> None:
        self._route()

    # -- routes --------------------------------------------------------------------------

    def _route(self) -> None:
        master = self.server.master
        body = self._body()
        path = self.path.split("?", 1)[0]
        if path == SCHEDULER_PATH:
            return self._scheduler(master, body)
        if path == "/version":
            return self._reply(200, VERSION_JSON)
        if path == "/health":
            return self._reply(200)
        if path in ("/master/redirect", "/redirect"):
            leader = master.leader_address()
            return self._reply(307, headers={"Location": f"//{leader}"}) if leader \
                else self._reply(503, "No leader elected")
        if path in STATE_PATHS:
            if master.is_leader:
                return self._reply(200, master.state_json())
            leader = master.leader_address()
            return self._reply(307, headers={"Location": f"//{leader}{path}"}) if leader \
                else self._reply(503, "No leader elected")
        self._reply(404, f"No such endpoint {path}")

    def _scheduler(self, master: Any, body: bytes) -> None:
        authenticated, principal = self._principal()
        if not authenticated:
            return self._reply(401, "Unauthorized",
                               {"WWW-Authenticate": 'Basic realm="mesos-master-scheduler"'})
        if not master.is_leader:
            leader = master.leader_address()
            if leader:
                return self._reply(307, headers={"Location": f"//{leader}{SCHEDULER_PATH}"})
            return self._reply(503, "No leader elected")
        if master.recovering:
            return self._reply(503, "Master has not finished recovery")
        if self.command != "POST":
            return self._reply(405, f"Expecting one of {{ 'POST' }}, but received '{self.command}'",
                               {"Allow": "POST"})
        ctype = (self.headers.get("Content-Type") or "").strip()
        if not ctype:
            return self._reply(400, "Expecting 'Content-Type' to be present")
        if ctype != "application/json":      # Mesos compares the whole value, parameters too
            return self._reply(415, f"Expecting 'Content-Type' of application/json: this emulator "
                                    f"speaks JSON only (got '{ctype}')")
        try:
            call = json.loads(body.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            return self._reply(400, f"Failed to parse body into JSON: {exc}")
        try:
            kind = validate_call(call)
        except SchemaError as exc:
            return self._reply(400, f"Failed to convert JSON into Call protobuf: {exc}")
        stream_id = self.headers.get(STREAM_ID_HEADER)
        if kind == "SUBSCRIBE":
            return self._subscribe(master, call, stream_id, principal)
        if call.get("framework_id") is None:
            return self._reply(400, "Failed to validate scheduler::Call: "
                                    "Expecting 'framework_id' to be present")
        try:
            master.cluster.handle_call(master, call, stream_id, principal)
        except CallError as exc:
            return self._reply(exc.status, exc.message)
        self._reply(202)

    def _subscribe(self, master: Any, call: dict[str, Any], stream_id: str | None,
                   principal: str | None) -> None:
        info = call["subscribe"]["framework_info"]
        if (call.get("framework_id") or {}).get("value") != (info.get("id") or {}).get("value"):
            return self._reply(400, "Failed to validate scheduler::Call: "
                                    "'framework_id' differs from 'subscribe.framework_info.id'")
        if principal is not None and info.get("principal") not in (None, principal):
            return self._reply(400, f"Failed to validate scheduler::Call: Authenticated principal "
                                    f"'{principal}' does not match principal "
                                    f"'{info['principal']}' set in `FrameworkInfo`")
        accept = (self.headers.get("Accept") or "*/*").lower()
        if not any(a.split(";")[0].strip() in ("application/json", "application/*", "*/*")
                   for a in accept.split(",")):
            return self._reply(406, "Expecting 'Accept' to allow 'application/json' "
                                    "(this emulator speaks JSON only)")
        if stream_id is not None:
            return self._reply(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
        stream = master.open_stream(self.connection, self.wfile)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header(STREAM_ID_HEADER, stream.stream_id)
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        stream.framework_id = master.cluster.subscribe(master, stream, call["subscribe"], principal)
        stream.run()
