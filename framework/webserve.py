"""A WSGI app (the dashboard and API, :mod:`dashboards`) served on ``HOST:PORT`` by
werkzeug's threaded server in a daemon thread; IPv4 or IPv6, port 0: any free one."""
from __future__ import annotations

import logging
import socket
import threading
from typing import Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from .errors import BackendError

log = logging.getLogger(__name__)


class _QuietHandler(WSGIRequestHandler):
    """Request lines at DEBUG (werkzeug logs every request at INFO); a connection silent
    for 10 s (a short body included) is dropped."""

    timeout = 10.0

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        log.debug("%s %s %s", self.address_string(), self.requestline, code)


def split_listen(listen: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``; an empty host is loopback) → (host, port);
    BackendError naming it when it is not one."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise BackendError(f"{listen!r} is not HOST:PORT")
    return host.strip("[]") or "127.0.0.1", int(port)


class WebServer:
    """Serves ``app`` on ``listen`` from :meth:`start` until :meth:`stop`."""

    def __init__(self, listen: str, app: Any, what: str = "web server") -> None:
        self.bind, self.app, self.what = split_listen(listen), app, what
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> "WebServer":
        """Listen and serve; BackendError naming ``what`` when it cannot listen."""
        host, port = self.bind
        # bound here, so that a taken port is a clear error (werkzeug would print and exit)
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise BackendError(f"the {self.what} cannot listen on {host}:{port}: "
                               f"{exc.strerror or exc}") from None
        try:
            self._server = make_server(host, port, self.app, threaded=True,
                                       request_handler=_QuietHandler, fd=sock.fileno())
        finally:
            sock.close()                     # the server holds its own duplicate
        self._server.daemon_threads = True
        server = self._server
        self._thread = threading.Thread(target=lambda: server.serve_forever(poll_interval=0.1),
                                        name=f"htcmesos-{self.what.replace(' ', '-')}",
                                        daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the server first"
        host, port = self._server.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
