"""The framework's HTTP API server (JSON over HTTP; loopback unless a token is set).

Routes (``/v1``):

- ``GET /v1/clues/nodes`` → 200, CLUES' node list (:mod:`framework.clues.view`);
- ``GET /v1/clues/jobs`` → 200, CLUES' job list;
- ``POST /v1/clues/nodes/<node>/poweron`` | ``/poweroff`` → 202 ``{"node", "message"}``.

Errors are JSON ``{"error": "..."}``: 401 (token missing or wrong, with
``WWW-Authenticate: Bearer``), 404 (no such route or node), 405 (method; ``Allow``),
409 (htcmesos sizes the pool itself: no power requests), 413 (a body over 64 KiB),
503 (no view yet: the loop has not ticked).
"""
from __future__ import annotations

import hmac
import json
import logging
import re
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

from pathlib import Path

from ..clues.nodes import NodeError
from ..errors import HtcmesosError, NotReady
from ..httpserve import serve

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024
_POWER = re.compile(r"/v1/clues/nodes/([^/]+)/(poweron|poweroff)")
_VIEWS = {"/v1/clues/nodes": "nodes", "/v1/clues/jobs": "jobs"}


def read_token(path: Path) -> str:
    """The bearer token in ``path``: visible ASCII, one line; HtcmesosError naming the file
    otherwise."""
    try:
        token = path.read_bytes().decode("ascii").strip()
    except OSError as exc:
        raise HtcmesosError(f"the API token file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise HtcmesosError(f"the API token file {path} holds bytes that are not ASCII") from None
    if not token or not all(33 <= ord(ch) < 127 for ch in token):
        raise HtcmesosError(f"the API token file {path} must hold one token of visible "
                            f"ASCII characters (no spaces)")
    return token


class PoolEndpoint(Protocol):
    """What the API serves: the elastic loop (:class:`framework.elastic.ElasticLoop`)."""

    view: Any

    def request_power(self, node: str, on: bool) -> str: ...


class ApiServer:
    """Serves :class:`PoolEndpoint` on ``listen`` (``HOST:PORT``, port 0: any free one)."""

    def __init__(self, listen: str, endpoint: PoolEndpoint, token: str | None = None) -> None:
        host, _, port = listen.rpartition(":")
        self._bind = (host.strip("[]") or "127.0.0.1", int(port))
        self.endpoint, self.token = endpoint, token
        self._httpd: ThreadingHTTPServer | None = None

    def start(self) -> "ApiServer":
        self._httpd = serve(self._bind, _Handler, self, "API", "htcmesos-api")
        log.info("API on %s", self.url)
        return self

    @property
    def url(self) -> str:
        assert self._httpd is not None, "start() the server first"
        host, port = self._httpd.server_address[:2]
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None


class _Handler(BaseHTTPRequestHandler):
    server_version = "htcmesos-api/1"
    timeout = 10.0      # seconds a connection may stay silent (a short body included)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._route("PUT")

    def do_DELETE(self) -> None:  # noqa: N802
        self._route("DELETE")

    def do_PATCH(self) -> None:  # noqa: N802
        self._route("PATCH")

    def do_OPTIONS(self) -> None:  # noqa: N802
        self._route("OPTIONS")

    def do_HEAD(self) -> None:  # noqa: N802 - answered as GET would be, without a body
        self._head = True
        self._route("GET")

    def _route(self, method: str) -> None:
        owner: ApiServer = self.server.owner  # type: ignore[attr-defined]
        if not self._body_ok():
            return
        if owner.token is not None:
            scheme, _, given = self.headers.get("Authorization", "").strip().partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                    given.strip().encode("utf-8", "replace"), owner.token.encode()):
                self._send(401, {"error": "a bearer token is required (api.token_file)"},
                           {"WWW-Authenticate": 'Bearer realm="htcmesos"'})
                return
        path = self.path.split("?", 1)[0]
        power = _POWER.fullmatch(path)
        if path in _VIEWS:
            if method != "GET":
                self._send(405, {"error": f"{method} {path}: only GET"}, {"Allow": "GET"})
                return
            view = owner.endpoint.view
            if view is None:
                self._send(503, {"error": "no view yet: the elastic loop has not ticked"})
                return
            try:
                doc = getattr(view, _VIEWS[path])
            except Exception as exc:  # noqa: BLE001 - a bug: said, never a dropped line
                log.exception("API: %s", path)
                self._send(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})
                return
            self._send(200, doc)
        elif power:
            if method != "POST":
                self._send(405, {"error": f"{method} {path}: only POST"}, {"Allow": "POST"})
                return
            node, action = power.group(1), power.group(2)
            try:
                message = owner.endpoint.request_power(node, action == "poweron")
            except NodeError as exc:
                self._send(404, {"error": str(exc)})
            except NotReady as exc:
                self._send(503, {"error": str(exc)})
            except HtcmesosError as exc:          # PowerRefused: the pool sizes itself
                self._send(409, {"error": str(exc)})
            except Exception as exc:  # noqa: BLE001 - a bug: said, never a dropped line
                log.exception("API: power request for %s", node)
                self._send(500, {"error": f"internal error: {type(exc).__name__}: {exc}"})
            else:
                log.info("CLUES %s %s", action, node)
                self._send(202, {"node": node, "message": message})
        else:
            self._send(404, {"error": f"no such resource: {path} (see /v1/clues/nodes, "
                                      f"/v1/clues/jobs, /v1/clues/nodes/<node>/poweron|"
                                      f"poweroff)"})

    def _body_ok(self) -> bool:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._send(400, {"error": "Content-Length is not a number"})
            return False
        if length < 0:
            self._send(400, {"error": f"Content-Length {length} is negative"})
            self.close_connection = True
            return False
        if length > MAX_BODY:
            self._send(413, {"error": f"a body of {length} bytes; at most {MAX_BODY}"})
            self.close_connection = True
            return False
        if length:
            self.rfile.read(length)              # no route takes a body: read and drop
        return True

    def _send(self, status: int, doc: Any, headers: dict[str, str] | None = None) -> None:
        body = (json.dumps(doc) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if not getattr(self, "_head", False):
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        log.debug("API %s: " + format, self.client_address[0], *args)
