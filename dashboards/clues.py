"""CLUES' routes (``/v1/clues``), as the framework's API served them before the
dashboard: CLUES' LRMS plugin reads the view, its power manager asks for nodes.

- ``GET /v1/clues/nodes`` → 200, the node list (:mod:`framework.clues.view`);
- ``GET /v1/clues/jobs`` → 200, the job list;
- ``POST /v1/clues/nodes/<node>/poweron`` | ``/poweroff`` → 202 ``{"node", "message"}``.

With a token file every ``/v1/…`` request needs a token, reads too (401, checked before
the route: :func:`check_token`); without one, none does. 404 for a node that is not
one, 409 when htcmesos sizes the pool itself, 503 before the loop's first tick.
"""
from __future__ import annotations

import logging

from flask import Blueprint, Response, current_app, request

from framework.clues.nodes import NodeError
from framework.errors import HtcmesosError, NotReady

from .auth import TokenBook, who
from .strict import error, json_response

log = logging.getLogger(__name__)

UNAUTHORIZED = "a bearer token is required (api.token_file)"


def check_token() -> Response | None:
    """Before any ``/v1/`` request (routes unknown included, as before): the token."""
    tokens: TokenBook | None = current_app.extensions["htcmesos.tokens"]
    if tokens is None or not request.path.startswith("/v1/"):
        return None
    if tokens.name_of(request.headers.get("Authorization")) is None:
        return error(401, UNAUTHORIZED, {"WWW-Authenticate": 'Bearer realm="htcmesos"'})
    return None


def blueprint() -> Blueprint:
    bp = Blueprint("clues", __name__, url_prefix="/v1/clues")

    def endpoint():
        return current_app.extensions["htcmesos.source"].clues

    def view_doc(name: str) -> Response:
        view = endpoint().view
        if view is None:
            return error(503, "no view yet: the elastic loop has not ticked")
        return json_response(200, getattr(view, name))

    @bp.route("/nodes", methods=["GET"], provide_automatic_options=False)
    def nodes() -> Response:
        return view_doc("nodes")

    @bp.route("/jobs", methods=["GET"], provide_automatic_options=False)
    def jobs() -> Response:
        return view_doc("jobs")

    @bp.route("/nodes/<node>/<any(poweron, poweroff):action>", methods=["POST"],
              provide_automatic_options=False)
    def power(node: str, action: str) -> Response:
        try:
            message = endpoint().request_power(node, action == "poweron")
        except NodeError as exc:
            return error(404, str(exc))
        except NotReady as exc:
            return error(503, str(exc))
        except HtcmesosError as exc:          # PowerRefused: the pool sizes itself
            return error(409, str(exc))
        tokens: TokenBook | None = current_app.extensions["htcmesos.tokens"]
        name = tokens.name_of(request.headers.get("Authorization")) if tokens else None
        log.info("CLUES %s %s by %s", action, node, who(name, request.remote_addr))
        return json_response(202, {"node": node, "message": message})

    return bp
