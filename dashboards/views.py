"""The dashboard's page (``GET /``), its files (``/static/…``, served from this package:
no CDN, no external font) and ``GET /metrics``.

The page is a shell: ``static/app.js`` fills it from ``/api/v1`` every ``refresh_s``
seconds (the ``data-refresh-ms`` attribute of ``<body>``) and gives a request up after
``timeout_s`` (``data-timeout-ms``).
"""
from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, current_app, render_template, request, send_from_directory

STATIC = Path(__file__).resolve().parent / "static"

#: what the browser may load: this server only (the page runs no inline script)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")


def blueprint() -> Blueprint:
    bp = Blueprint("views", __name__)

    @bp.route("/", methods=["GET"], provide_automatic_options=False)
    def index() -> Response:
        source = current_app.extensions["htcmesos.source"]
        refresh_ms = int(current_app.extensions["htcmesos.refresh_s"] * 1000)
        timeout_ms = int(current_app.extensions["htcmesos.timeout_s"] * 1000)
        html = render_template("index.html", refresh_ms=refresh_ms, timeout_ms=timeout_ms,
                               remote=bool(source.forwards_auth))
        resp = Response(html, mimetype="text/html")
        resp.headers["Content-Security-Policy"] = CSP
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @bp.route("/static/<path:name>", methods=["GET"], provide_automatic_options=False)
    def static(name: str) -> Response:
        resp = send_from_directory(STATIC, name, max_age=0)
        resp.headers["X-Content-Type-Options"] = "nosniff"
        return resp

    @bp.route("/metrics", methods=["GET"], provide_automatic_options=False)
    def metrics() -> Response:
        source = current_app.extensions["htcmesos.source"]
        body, content_type = source.metrics(request.headers.get("Accept"))
        return Response(body, status=200, content_type=content_type)

    return bp
