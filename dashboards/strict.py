"""Strict HTTP for the app: bodies, JSON errors, methods.

- :class:`StrictHttp` (WSGI middleware, before any routing): a ``Content-Length`` that is
  not a number or is negative → 400, a body over :data:`MAX_BODY` → 413 (it is never
  read), ``Content-Length`` with ``Transfer-Encoding`` → 400.
- :func:`install_errors`: every error is JSON ``{"error": "..."}``: 404 names the path,
  405 says which methods (and ``Allow``), 413/415/400 say what is wrong, ControlError by
  its ``status``, NotReady 503, a remote source's errors as it gave them, a bug 500.
- :func:`json_object`: the body of a change: a JSON object (``application/json``) with
  known fields only (no key twice, no NaN, not nested too deeply), or nothing at all
  where no field is taken; :func:`count`: a field that is a count (0 to
  :data:`MAX_COUNT`).
- :func:`harden`: every answer says ``nosniff``; any but the page runs nothing (CSP).
"""
from __future__ import annotations

import json
import logging
import re
from typing import Any, Callable, Iterable, Mapping

from flask import Flask, Request, Response, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from framework.controls import ControlError
from framework.errors import NotReady

from .source import SourceError

log = logging.getLogger(__name__)

#: bytes a request body may have
MAX_BODY = 64 * 1024
#: the largest count (executors) a change may set: beyond any pool, and exact as a float
#: (the metrics) and as a JavaScript number (the page)
MAX_COUNT = 1_000_000
_LENGTH = re.compile(r"-?[0-9]+")


def json_response(status: int, doc: Any, headers: Mapping[str, str] | None = None) -> Response:
    """``doc`` as JSON (keys in their order) with ``status``."""
    body = json.dumps(doc, ensure_ascii=False) + "\n"
    resp = Response(body, status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        resp.headers[name] = value
    return resp


def error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(status, {"error": message}, headers)


#: what a browser may do with an answer that is not the page: run nothing, load nothing
NOT_A_PAGE = "default-src 'none'; frame-ancestors 'none'"


def harden(resp: Response) -> Response:
    """Every answer: its type as said (no sniffing: a JSON error that names a path is never
    read as HTML); an answer that is not the page (it sets its own policy) runs nothing."""
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers.setdefault("Content-Security-Policy", NOT_A_PAGE)
    return resp


class StrictHttp:
    """WSGI middleware: refuses bad or oversized bodies before the app sees them."""

    def __init__(self, app: Callable, max_body: int = MAX_BODY) -> None:
        self.app, self.max_body = app, max_body

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        raw = (environ.get("CONTENT_LENGTH") or "").strip()
        problem = None
        if raw:
            if not _LENGTH.fullmatch(raw):
                problem = 400, "Content-Length is not a number"
            elif int(raw) < 0:
                problem = 400, f"Content-Length {raw} is negative"
            elif int(raw) > self.max_body:
                problem = 413, f"a body of {int(raw)} bytes; at most {self.max_body}"
            elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
                problem = 400, "a request has Content-Length or Transfer-Encoding, not both"
        if problem is None:
            return self.app(environ, start_response)
        return harden(error(*problem))(environ, start_response)


def _allowed(exc: MethodNotAllowed) -> list[str]:
    return sorted(m for m in (exc.valid_methods or []) if m not in ("HEAD", "OPTIONS"))


def install_errors(app: Flask, routes_hint: str) -> None:
    """JSON errors for everything the app refuses (see the module docstring)."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> Response:
        path = request.path
        if isinstance(exc, NotFound):        # no route, or no such file under /static
            return error(404, f"no such resource: {path} ({routes_hint})")
        if isinstance(exc, MethodNotAllowed):
            allowed = _allowed(exc)
            return error(405, f"{request.method} {path}: only {', '.join(allowed)}",
                         {"Allow": ", ".join(allowed)})
        if exc.code == 413:
            return error(413, f"a body over {MAX_BODY} bytes")
        return error(exc.code or 500, exc.description or exc.name)

    @app.errorhandler(ControlError)
    def _control(exc: ControlError) -> Response:
        return error(exc.status, str(exc))

    @app.errorhandler(NotReady)
    def _not_ready(exc: NotReady) -> Response:
        return error(503, str(exc))

    @app.errorhandler(SourceError)
    def _source(exc: SourceError) -> Response:
        return error(exc.status, exc.message, exc.headers)

    @app.errorhandler(Exception)
    def _bug(exc: Exception) -> Response:
        log.exception("%s %s", request.method, request.path)
        return error(500, f"internal error: {type(exc).__name__}: {exc}")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"field {key!r} is given twice")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


class BodyError(ControlError):
    """The body of a request is not what the route takes (400, or 415 for its type)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def json_object(req: Request, fields: Iterable[str], required: bool) -> dict[str, Any]:
    """The request's body as a JSON object with only ``fields``; an empty body is ``{}``
    unless ``required``. BodyError (400/415) saying what is wrong otherwise."""
    data = req.get_data(cache=True)         # at most MAX_BODY + 1 bytes (create_app)
    if len(data) > MAX_BODY:
        raise BodyError(f"a body over {MAX_BODY} bytes", 413)
    allowed = list(fields)
    if not data:
        if required:
            raise BodyError(f"nothing to change: give {', '.join(allowed)}")
        return {}
    if req.mimetype != "application/json":
        raise BodyError(f"the body must be JSON (Content-Type: application/json), not "
                        f"{req.mimetype or 'untyped'}", 415)
    try:
        text = data.decode("utf-8")
        doc = json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except UnicodeDecodeError:
        raise BodyError("the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise BodyError(f"the body is not valid JSON: {exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}") from None
    except ValueError as exc:
        raise BodyError(f"the body is not valid JSON: {exc}") from None
    except RecursionError:
        raise BodyError("the body is not valid JSON: it is nested too deeply") from None
    if not isinstance(doc, dict):
        raise BodyError(f"the body must be a JSON object, not {_json_type(doc)}")
    unknown = [k for k in doc if k not in allowed]
    if unknown:
        takes = f"it takes {', '.join(allowed)}" if allowed else "it takes no field"
        raise BodyError(f"unknown field {unknown[0]!r}: {takes}")
    if required and not doc:
        raise BodyError(f"nothing to change: give {', '.join(allowed)}")
    return doc


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array"


def count(doc: Mapping[str, Any], name: str, nullable: bool = False) -> None:
    """BodyError unless ``doc[name]`` (when there) is a whole number from 0 to
    :data:`MAX_COUNT` (or null when ``nullable``), e.g. "min must be a whole number ≥ 0,
    got 1.5"."""
    if name not in doc:
        return
    value = doc[name]
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        what = "a whole number ≥ 0" + (" or null (the queue decides)" if nullable else "")
        raise BodyError(f"{name} must be {what}, got {json.dumps(value)}")
    if value > MAX_COUNT:
        digits = len(str(value))
        shown = str(value) if digits <= 20 else f"a number of {digits} digits"
        raise BodyError(f"{name} must be at most {MAX_COUNT}, got {shown}")
