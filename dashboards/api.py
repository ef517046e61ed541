"""The REST API, ``/api/v1`` (documented in :mod:`.openapi`; docs/operators.md).

Reads need no token. Changes need a bearer token of the token file (401 without one or
with a wrong one, 403 when the pool has no token file: changes are off), unless the
source checks it itself (a remote framework); then the body is checked
(:func:`.strict.json_object`) and the source carries the change out. Nothing changes on a
refused request: every check comes before the source is asked.
"""
from __future__ import annotations

from typing import Any, Callable

from flask import Blueprint, Response, current_app, request

from . import openapi
from .auth import TokenBook, who
from .source import Caller, PoolSource
from .strict import BodyError, count, error, json_object, json_response

#: default points of ``/history`` (one a tick: 20 min at 2 s) and decisions listed
HISTORY_LIMIT, DECISIONS_LIMIT = 600, 50
#: a ``limit`` above this is this (more than a status log keeps); its digits
MAX_LIMIT, LIMIT_DIGITS = 10**9, 9
BEARER = {"WWW-Authenticate": 'Bearer realm="htcmesos"'}


def _source() -> PoolSource:
    return current_app.extensions["htcmesos.source"]


def _tokens() -> TokenBook | None:
    return current_app.extensions["htcmesos.tokens"]


def _no_params(*allowed: str) -> None:
    unknown = [k for k in request.args if k not in allowed]
    if unknown:
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes none"
        raise BodyError(f"unknown query parameter {unknown[0]!r}: {takes}")


def _limit(default: int) -> int:
    _no_params("limit")
    given = request.args.getlist("limit")
    if len(given) > 1:
        raise BodyError(f"limit is given {len(given)} times: give it once")
    raw = given[0] if given else None
    if raw is None:
        return default
    digits = raw.lstrip("0") if raw.isascii() and raw.isdigit() else ""
    if not digits:
        raise BodyError(f"limit must be a whole number ≥ 1, got {raw!r}")
    # more than any log keeps is all there is (and int() refuses 4300 digits or more)
    return MAX_LIMIT if len(digits) > LIMIT_DIGITS else min(int(digits), MAX_LIMIT)


def caller() -> Caller:
    """Who asks for a change; raises the 401/403 answer when they may not."""
    tokens, source = _tokens(), _source()
    header = request.headers.get("Authorization")
    address = request.remote_addr
    if tokens is None:
        if source.forwards_auth:
            return Caller(who(None, address), header)
        raise Refused(error(403, "mutations are disabled: set api.token_file"))
    if not header:
        raise Refused(error(401, "a bearer token is required to change the pool "
                                 "(Authorization: Bearer <a token of api.token_file>)", BEARER))
    name = tokens.name_of(header)
    if name is None:
        raise Refused(error(401, "the bearer token is not one of api.token_file's", BEARER))
    return Caller(who(name, address), header)


class Refused(Exception):
    """A change refused before anything was looked at: carries the answer."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def change(handler: Callable[..., tuple[int, Any]]) -> Callable[..., Response]:
    """A view that changes the pool: the caller's token first, then ``handler``."""

    def view(**kw: Any) -> Response:
        try:
            who_ = caller()
        except Refused as exc:
            return exc.response
        _no_params()
        status, doc = handler(who_, **kw)
        return json_response(status, doc)

    view.__name__ = handler.__name__
    view.__doc__ = handler.__doc__
    return view


def blueprint() -> Blueprint:
    bp = Blueprint("api", __name__, url_prefix="/api/v1")

    def route(rule: str, methods: list[str]) -> Callable:
        return bp.route(rule, methods=methods, provide_automatic_options=False)

    @route("/status", ["GET"])
    def status() -> Response:
        _no_params()
        return json_response(200, _source().status())

    @route("/sites", ["GET"])
    def sites() -> Response:
        _no_params()
        return json_response(200, _source().sites())

    @route("/sites/<site>", ["GET"])
    def site(site: str) -> Response:
        _no_params()
        return json_response(200, _source().site(site))

    def set_site(who_: Caller, site: str) -> tuple[int, Any]:
        body = json_object(request, ("min", "max", "desired"), required=True)
        count(body, "min")
        count(body, "max")
        count(body, "desired", nullable=True)
        return 200, _source().set_site(site, body, who_)

    bp.add_url_rule("/sites/<site>", "set_site", change(set_site), methods=["PATCH", "PUT"],
                    provide_automatic_options=False)

    def simple(rule: str, name: str, status: int, act: Callable[..., Any]) -> None:
        def handler(who_: Caller, **kw: Any) -> tuple[int, Any]:
            json_object(request, (), required=False)
            return status, act(who_, **kw)
        handler.__name__ = name
        bp.add_url_rule(rule, name, change(handler), methods=["POST"],
                        provide_automatic_options=False)

    simple("/sites/<site>/drain", "drain_site", 202,
           lambda c, site: _source().drain_site(site, c))
    simple("/sites/<site>/undrain", "undrain_site", 200,
           lambda c, site: _source().undrain_site(site, c))
    simple("/nodes/<node>/drain", "drain_node", 202,
           lambda c, node: _source().drain_node(node, c))
    simple("/autoscaling/pause", "pause", 200, lambda c: _source().pause(c))
    simple("/autoscaling/resume", "resume", 200, lambda c: _source().resume(c))

    @route("/autoscaling", ["GET"])
    def autoscaling() -> Response:
        _no_params()
        return json_response(200, _source().autoscaling())

    @route("/history", ["GET"])
    def history() -> Response:
        return json_response(200, _source().history(_limit(HISTORY_LIMIT)))

    @route("/decisions", ["GET"])
    def decisions() -> Response:
        return json_response(200, _source().decisions(_limit(DECISIONS_LIMIT)))

    @route("/tasks", ["GET"])
    def tasks() -> Response:
        _no_params()
        return json_response(200, _source().tasks())

    @route("/openapi.json", ["GET"])
    def openapi_json() -> Response:
        _no_params()
        return json_response(200, openapi.document())

    return bp
