"""The framework's HTTP API on ``api.listen``: the operators' app (:mod:`dashboards`:
the dashboard page, the REST API ``/api/v1``, ``/metrics``) and CLUES' routes (``/v1``):

- ``GET /v1/clues/nodes`` → 200, CLUES' node list (:mod:`framework.clues.view`);
- ``GET /v1/clues/jobs`` → 200, CLUES' job list;
- ``POST /v1/clues/nodes/<node>/poweron`` | ``/poweroff`` → 202 ``{"node", "message"}``.

Errors are JSON ``{"error": "..."}``: 401 (token missing or wrong, with
``WWW-Authenticate: Bearer``), 404 (no such route or node), 405 (method; ``Allow``),
409 (htcmesos sizes the pool itself: no power requests), 413 (a body over 64 KiB),
503 (no view yet: the loop has not ticked). The app is served by werkzeug's threaded
server (:class:`framework.webserve.WebServer`) in a daemon thread.
"""
from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from dashboards.auth import TokenBook

log = logging.getLogger(__name__)


class PoolEndpoint(Protocol):
    """What the API serves: the elastic loop (:class:`framework.elastic.ElasticLoop`)."""

    view: Any

    def request_power(self, node: str, on: bool) -> str: ...


class ApiServer:
    """Serves the operators' app over ``endpoint`` (the elastic loop) on ``listen``
    (``HOST:PORT``, port 0: any free one). ``token``: one token (the old API) or a
    :class:`dashboards.auth.TokenBook`; None: no change through ``/api/v1`` (403), CLUES'
    routes open."""

    def __init__(self, listen: str, endpoint: PoolEndpoint,
                 token: "str | TokenBook | None" = None) -> None:
        from dashboards import create_app
        from dashboards.auth import TokenBook
        from dashboards.source import LocalSource

        from ..webserve import WebServer

        tokens = TokenBook.of(token) if isinstance(token, str) else token
        self._server = WebServer(listen, create_app(LocalSource(endpoint), tokens=tokens),
                                 "API")

    def start(self) -> "ApiServer":
        self._server.start()
        log.info("API and dashboard on %s", self.url)
        return self

    @property
    def url(self) -> str:
        return self._server.url

    def stop(self) -> None:
        self._server.stop()
