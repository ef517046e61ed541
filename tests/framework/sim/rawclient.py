"""A raw-HTTP scheduler for emulator tests: sockets for the event stream (so every HTTP
chunk boundary stays visible), one keep-alive ``http.client`` connection for calls.

Nothing here sleeps for luck: waits are conditions with deadlines.
"""
from __future__ import annotations

import base64
import http.client
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from framework.mesos.protocol import RecordIODecoder

WAIT_S = 10.0


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def _read_head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"connection closed in the response head: {buf!r}")
        buf += data
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, rest


class Stream:
    """One SUBSCRIBE: status, headers and (for 200) the decoded events, chunk by chunk."""

    def __init__(self, host: str, port: int, body: dict[str, Any] | bytes,
                 headers: dict[str, str] | None = None):
        payload = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs = {"Host": f"{host}:{port}", "Content-Type": "application/json",
                "Accept": "application/json", "Content-Length": str(len(payload))}
        hdrs.update(headers or {})
        request = "POST /api/v1/scheduler HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in hdrs.items()) + "\r\n"
        self.sock = socket.create_connection((host, port), timeout=WAIT_S)
        self.sock.sendall(request.encode("latin-1") + payload)
        self.status, self.headers, self._rest = _read_head(self.sock)
        self.chunks: list[bytes] = []
        self.records: list[tuple[int, int, dict[str, Any] | None, bytes]] = []  # start, end, event
        self.ended = False       # terminating chunk seen
        self.broken = False      # EOF without it
        self._cond = threading.Condition()
        self.body = b""
        if self.status == 200 and "chunked" in self.headers.get("transfer-encoding", ""):
            self.stream_id = self.headers.get("mesos-stream-id")
            threading.Thread(target=self._read, daemon=True).start()
        else:
            length = int(self.headers.get("content-length", "0"))
            while len(self._rest) < length:
                self._rest += self.sock.recv(65536)
            self.body = self._rest[:length]
            self.sock.close()

    # -- reading ---------------------------------------------------------------------------

    def _readline(self) -> bytes:
        while b"\r\n" not in self._rest:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self._rest += data
        line, self._rest = self._rest.split(b"\r\n", 1)
        return line

    def _readn(self, n: int) -> bytes:
        while len(self._rest) < n:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            self._rest += data
        out, self._rest = self._rest[:n], self._rest[n:]
        return out

    def _read(self) -> None:
        decoder, offset = RecordIODecoder(), 0
        try:
            while True:
                size = int(self._readline(), 16)
                if size == 0:
                    with self._cond:
                        self.ended = True
                        self._cond.notify_all()
                    return
                chunk = self._readn(size)
                self._readline()
                records = list(decoder.feed(chunk))
                with self._cond:
                    self.chunks.append(chunk)
                    for rec in records:
                        start = offset
                        offset += len(str(len(rec))) + 1 + len(rec)
                        try:
                            event = json.loads(rec)
                        except ValueError:
                            event = None
                        self.records.append((start, offset, event, rec))
                    self._cond.notify_all()
        except (EOFError, OSError, ValueError):
            with self._cond:
                self.broken = not self.ended
                self._cond.notify_all()

    # -- waiting ---------------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._cond:
            return [e for _, _, e, _ in self.records if e is not None]

    def wait(self, pred: Callable[[dict[str, Any]], bool], timeout: float = WAIT_S,
             after: int = 0) -> dict[str, Any]:
        """The first event (index ≥ ``after``) matching ``pred``; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for _, _, event, _ in self.records[after:]:
                    if event is not None and pred(event):
                        return event
                left = deadline - time.monotonic()
                if left <= 0 or self.ended or self.broken:
                    types = [e.get("type") for e in self.events]
                    raise AssertionError(f"no matching event within {timeout} s; got {types[-30:]}"
                                         f" (ended={self.ended}, broken={self.broken})")
                self._cond.wait(left)

    def wait_type(self, kind: str, timeout: float = WAIT_S, after: int = 0) -> dict[str, Any]:
        return self.wait(lambda e: e.get("type") == kind, timeout, after)

    def wait_closed(self, timeout: float = WAIT_S) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not (self.ended or self.broken):
                left = deadline - time.monotonic()
                assert left > 0, "stream still open"
                self._cond.wait(left)

    def count(self, kind: str) -> int:
        return sum(1 for e in self.events if e.get("type") == kind)

    def mark(self) -> int:
        with self._cond:
            return len(self.records)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@dataclass
class Scheduler:
    """A framework speaking raw HTTP: one stream, calls on one keep-alive connection."""

    host: str
    port: int
    info: dict[str, Any] = field(default_factory=lambda: {"user": "test", "name": "raw"})
    stream: Stream | None = None
    framework_id: str | None = None
    auth: tuple[str, str] | None = None
    conn: http.client.HTTPConnection | None = None

    def _auth_headers(self) -> dict[str, str]:
        if self.auth is None:
            return {}
        token = base64.b64encode(f"{self.auth[0]}:{self.auth[1]}".encode()).decode()
        return {"Authorization": "Basic " + token}

    def subscribe(self, timeout: float = WAIT_S, **extra: Any) -> Stream:
        info = dict(self.info)
        call: dict[str, Any] = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info, **extra}}
        if self.framework_id:
            info["id"] = {"value": self.framework_id}
            call["framework_id"] = {"value": self.framework_id}
        self.stream = Stream(self.host, self.port, call, self._auth_headers())
        assert self.stream.status == 200, (self.stream.status, self.stream.body)
        event = self.stream.wait(lambda e: e["type"] in ("SUBSCRIBED", "ERROR"), timeout)
        if event["type"] == "SUBSCRIBED":
            self.framework_id = event["subscribed"]["framework_id"]["value"]
        return self.stream

    def call(self, kind: str, payload: dict[str, Any] | None = None, *,
             stream_id: str | None | bool = True, framework_id: str | None | bool = True,
             headers: dict[str, str] | None = None) -> Response:
        body: dict[str, Any] = {"type": kind}
        fid = self.framework_id if framework_id is True else framework_id
        if fid:
            body["framework_id"] = {"value": fid}
        if payload is not None:
            body[kind.lower()] = payload
        hdrs = {"Content-Type": "application/json", **self._auth_headers(), **(headers or {})}
        sid = self.stream.stream_id if stream_id is True and self.stream else stream_id
        if sid:
            hdrs["Mesos-Stream-Id"] = sid
        return self.raw("POST", json.dumps(body).encode(), hdrs)

    def raw(self, method: str, body: bytes, headers: dict[str, str],
            path: str = "/api/v1/scheduler") -> Response:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=WAIT_S)
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def ack(self, status: dict[str, Any]) -> Response:
        return self.call("ACKNOWLEDGE", {"agent_id": status["agent_id"], "task_id": status["task_id"],
                                         "uuid": status["uuid"]})

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()
        if self.conn is not None:
            self.conn.close()


def eventually(check: Callable[[], bool], timeout: float = WAIT_S, interval: float = 0.02) -> bool:
    """Poll ``check`` until it is true (→ True) or ``timeout`` seconds pass (→ False)."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def task_info(task_id: str, offer: dict[str, Any], cpus: float = 0.5, mem: float = 64.0,
              ports: list[tuple[int, int]] | None = None, network: str | None = "calico-dc",
              health: bool = False, **extra: Any) -> dict[str, Any]:
    """A Docker TaskInfo on the offer's agent, on Calico network ``network`` (USER)."""
    resources: list[dict[str, Any]] = [
        {"name": "cpus", "type": "SCALAR", "scalar": {"value": cpus}},
        {"name": "mem", "type": "SCALAR", "scalar": {"value": mem}}]
    if ports:
        resources.append({"name": "ports", "type": "RANGES",
                          "ranges": {"range": [{"begin": b, "end": e} for b, e in ports]}})
    docker: dict[str, Any] = {"image": "htcondor/execute:latest", "network": "USER" if network else "HOST"}
    container: dict[str, Any] = {"type": "DOCKER", "docker": docker}
    if network:
        container["network_infos"] = [{"name": network}]
    task = {"name": task_id, "task_id": {"value": task_id}, "agent_id": offer["agent_id"],
            "resources": resources, "command": {"shell": False}, "container": container}
    if health:
        task["health_check"] = {"type": "TCP", "tcp": {"port": 9618}, "delay_seconds": 1.0}
    task.update(extra)
    return task


def launch(offers: list[dict[str, Any]], tasks: list[dict[str, Any]],
           refuse_s: float | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"offer_ids": [o["id"] for o in offers],
                            "operations": [{"type": "LAUNCH", "launch": {"task_infos": tasks}}]}
    if refuse_s is not None:
        body["filters"] = {"refuse_seconds": refuse_s}
    return body


def is_update(task_id: str, state: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def pred(event: dict[str, Any]) -> bool:
        if event.get("type") != "UPDATE":
            return False
        status = event["update"]["status"]
        return status["task_id"]["value"] == task_id and (state is None or status["state"] == state)
    return pred
