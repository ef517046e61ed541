"""Start a threaded HTTP server on ``HOST:PORT`` (IPv4 or IPv6) in a daemon thread."""
from __future__ import annotations

import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .errors import BackendError


def serve(bind: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: Any,
          what: str, thread_name: str, tls_wrap: Any = None) -> ThreadingHTTPServer:
    """A server for ``handler`` (which reads ``self.server.owner``), listening on ``bind``;
    ``tls_wrap(httpd)`` may wrap its socket before it serves. BackendError naming
    ``what`` when it cannot listen."""
    family = socket.AF_INET6 if ":" in bind[0] else socket.AF_INET
    server_cls = type("_Server", (ThreadingHTTPServer,), {"address_family": family,
                                                            "daemon_threads": True})
    try:
        httpd = server_cls(bind, handler)
    except OSError as exc:
        raise BackendError(f"{what} cannot listen on {bind[0]}:{bind[1]}: "
                           f"{exc.strerror or exc}") from None
    httpd.owner = owner  # type: ignore[attr-defined]
    if tls_wrap is not None:
        tls_wrap(httpd)
    threading.Thread(target=httpd.serve_forever, name=thread_name, daemon=True).start()
    return httpd
