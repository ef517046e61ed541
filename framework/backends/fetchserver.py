"""Credential files for role containers, served once each to the Mesos fetcher.

A task's keys and tokens must reach agents that are other machines than the framework's,
and never travel in the TaskInfo, the environment or a log. The framework holds them in
memory and names each file in the task's ``command.uris`` by an unguessable, single-use URL
that expires after ``ttl_s``: the agent's fetcher (``mesos-fetcher``, libcurl; it runs
before the container is created) downloads it into the task sandbox, which the Docker
containerizer mounts at ``$MESOS_SANDBOX``; the role entrypoint installs it (0600) and
deletes the sandbox copy. A second GET of the same URL gets 404, so a URL read from the
master's state after the fetch is worthless, and a stolen URL makes the real fetch fail
(TASK_FAILED, REASON_CONTAINER_LAUNCH_FAILED) instead of going unnoticed. Use ``https``
(``cert_file``/``key_file``) where the agents' network is not trusted.

Fetcher facts (apache/mesos src/launcher/fetcher.cpp, src/slave/containerizer/fetcher.cpp):
``output_file`` is relative to the sandbox; HTTP must answer exactly 200; ``cache: false``
downloads straight into the sandbox; ``extract`` only touches archive suffixes.
"""
from __future__ import annotations

import logging
import secrets
from collections import deque
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from ..errors import BackendError
from ..httpserve import serve

log = logging.getLogger(__name__)

#: Sandbox folder the files are fetched into (the role entrypoint reads it from there).
FETCH_DIR = "htcmesos-credentials"
_PATH = "/c/"


@dataclass
class _Item:
    task_id: str
    name: str
    data: bytes
    expires: float


class CredentialServer:
    """An HTTP(S) server handing out each registered file once (thread-safe).

    ``listen`` is ``host:port`` (port 0: any free port); ``url`` is what agents connect to
    (default: ``http(s)://<this host's FQDN>:<bound port>``); ``clock`` gives seconds."""

    def __init__(self, listen: str, url: str | None, clock: Callable[[], float],
                 ttl_s: float = 600.0, cert_file: str | None = None,
                 key_file: str | None = None) -> None:
        host, _, port = listen.rpartition(":")
        self._bind = (host.strip("[]") or "0.0.0.0", int(port))
        self._url, self.clock, self.ttl_s = url, clock, ttl_s
        self._tls = (cert_file, key_file) if cert_file else None
        self._lock = threading.Lock()
        self._items: dict[str, _Item] = {}
        self._by_task: dict[str, list[str]] = {}
        self._order: deque[tuple[float, str]] = deque()   # (expires, token), oldest first
        self._httpd: ThreadingHTTPServer | None = None
        self._base = ""
        self.served = 0

    # -- lifecycle -----------------------------------------------------------------
    def start(self) -> "CredentialServer":
        self._httpd = serve(self._bind, _Handler, self, "credential server",
                            "credential-server", self._wrap_tls if self._tls else None)
        self._base = self._url.rstrip("/") if self._url else self._own_url()
        return self

    def _wrap_tls(self, httpd: ThreadingHTTPServer) -> None:
        assert self._tls is not None
        try:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(*self._tls)
        except (OSError, ssl.SSLError) as exc:
            httpd.server_close()
            raise BackendError(f"credential server certificate {self._tls[0]} / key "
                               f"{self._tls[1]}: {exc}") from None
        # the handshake happens in each request's thread (on its first read, under the
        # handler's timeout), so a client that connects and stays silent holds up nobody
        httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True,
                                       do_handshake_on_connect=False)

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    @property
    def base_url(self) -> str:
        """Where agents reach this server (no trailing slash; set by :meth:`start`)."""
        assert self._base, "start() the server first"
        return self._base

    def _own_url(self) -> str:
        assert self._httpd is not None
        port = self._httpd.server_address[1]
        host = self._bind[0]
        if host in ("0.0.0.0", "::"):
            host = socket.getfqdn()
        elif ":" in host:
            host = f"[{host}]"
        return f"{'https' if self._tls else 'http'}://{host}:{port}"

    # -- registering files ---------------------------------------------------------
    def offer(self, task_id: str, files: dict[str, bytes]) -> list[dict[str, Any]]:
        """Register ``files`` (sandbox-relative name below :data:`FETCH_DIR` → content)
        for ``task_id``; the ``CommandInfo.URI`` list that fetches them."""
        base, expires = self.base_url, self.clock() + self.ttl_s
        uris = []
        with self._lock:
            self._expire()
            for name, data in files.items():
                token = secrets.token_urlsafe(32)
                self._items[token] = _Item(task_id, name, data, expires)
                self._by_task.setdefault(task_id, []).append(token)
                self._order.append((expires, token))
                uris.append({"value": f"{base}{_PATH}{token}", "extract": False,
                             "cache": False, "executable": False,
                             "output_file": f"{FETCH_DIR}/{name}"})
        return uris

    def revoke(self, task_id: str) -> None:
        """Forget the task's files not fetched yet (it runs, or it ended)."""
        with self._lock:
            for token in self._by_task.pop(task_id, ()):
                self._items.pop(token, None)

    def pending(self) -> int:
        """Files registered and not yet fetched (nor expired)."""
        with self._lock:
            self._expire()
            if not self._items:
                self._order.clear()            # revoked and fetched entries: gone too
            return len(self._items)

    def take(self, token: str) -> _Item | None:
        """The item behind ``token``, removed (single use); None if unknown or expired."""
        with self._lock:
            self._expire()
            item = self._drop(token)
            if item is not None:
                self.served += 1
            return item

    def _expire(self) -> None:
        """Drop what expired (one TTL for all: the oldest expire first; O(expired))."""
        now = self.clock()
        while self._order and self._order[0][0] <= now:
            _, token = self._order.popleft()
            item = self._drop(token)
            if item is not None:               # None: fetched or revoked meanwhile
                log.warning("credential %s of task %s was never fetched; expired", item.name,
                            item.task_id)

    def _drop(self, token: str) -> _Item | None:
        """Remove one registered file (lock held)."""
        item = self._items.pop(token, None)
        if item is not None:
            tokens = self._by_task.get(item.task_id, [])
            if token in tokens:
                tokens.remove(token)
            if not tokens:
                self._by_task.pop(item.task_id, None)
        return item


class _Handler(BaseHTTPRequestHandler):
    """``GET /c/<token>`` → 200 with the file once, then 404; nothing else is served."""

    server_version = "htcmesos-credentials/1"
    timeout = 30.0     # seconds a connection may stay silent (TLS handshake included)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        owner: CredentialServer = self.server.owner  # type: ignore[attr-defined]
        token = self.path[len(_PATH):] if self.path.startswith(_PATH) else ""
        item = owner.take(token) if token else None
        if item is None:
            log.warning("credential request from %s for an unknown, used or expired URL",
                        self.client_address[0])
            self._send(404, b"no such credential (unknown, already fetched or expired)\n")
            return
        log.info("credential %s of task %s fetched by %s", item.name, item.task_id,
                 self.client_address[0])
        self._send(200, item.data, "application/octet-stream")

    def _send(self, status: int, body: bytes, kind: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the request line holds the secret URL (only outcomes are logged)."""
