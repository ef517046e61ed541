"""Marathon's wire details the client needs: statuses mapped to errors (the only place),
Server-Sent-Events frames, the credentials file, and ending a stream from another thread."""
from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any, Iterable, Iterator

import requests

from ...errors import (BackendError, MarathonError, MarathonInvalid, MarathonLocked,
                       MarathonNotFound, MarathonUnavailable)


def read_credentials(path: Path) -> tuple[str, str]:
    """(user, password) from a ``user:password`` file; the content is never logged or
    put in an error."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise BackendError(f"cannot read backend.marathon.credentials_file {path}: "
                           f"{getattr(exc, 'strerror', None) or type(exc).__name__}") from None
    user, sep, password = text.partition(":")
    if not sep or not user or "\n" in text:
        raise BackendError(f"backend.marathon.credentials_file {path} must hold one line "
                           f"user:password")
    return user, password


def body_of(resp: requests.Response) -> Any:
    try:
        return resp.json()
    except ValueError:
        return resp.text


def error_for(status: int, body: Any, url: str, what: str = "") -> MarathonError:
    """The exception for one error answer (the only place statuses are mapped)."""
    message = (body.get("message") if isinstance(body, dict) else None) or \
        (str(body).strip()[:200] if body else f"HTTP {status}")
    if status == 409:
        ids = [str(d.get("id")) for d in (body.get("deployments") or [])
               if isinstance(d, dict)] if isinstance(body, dict) else []
        return MarathonLocked(status, f"{what or url}: {message}", body, ids)
    if status in (400, 422):
        details = []
        for d in (body.get("details") or []) if isinstance(body, dict) else []:
            if isinstance(d, dict):
                errors = d.get("errors") or []
                details.append((str(d.get("path", "/")),
                                [str(e) for e in (errors if isinstance(errors, list)
                                                  else [errors])]))
        return MarathonInvalid(status, message, body, details, what or url)
    if status == 404:
        return MarathonNotFound(status, f"{what or url}: {message}", body)
    if status in (401, 403):
        return MarathonError(status, f"Marathon at {url} refused the credentials "
                                     f"(HTTP {status}); check backend.marathon."
                                     f"credentials_file", body)
    if status >= 500:
        return MarathonUnavailable(status, f"Marathon at {url} cannot answer (HTTP {status}): "
                                           f"{message}", body)
    return MarathonError(status, f"HTTP {status} from {url}: {message}", body)


def parse_sse(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """(event type, data) per Server-Sent-Events frame; data is parsed JSON when it is."""
    kind, data = "message", []
    for line in lines:
        if line == "":
            if data:
                text = "\n".join(data)
                try:
                    value: Any = json.loads(text)
                except ValueError:
                    value = text
                yield kind, value
            kind, data = "message", []
        elif line.startswith(":"):
            continue                       # a comment (keep-alive)
        else:
            field, _, value_text = line.partition(":")
            value_text = value_text[1:] if value_text.startswith(" ") else value_text
            if field == "event":
                kind = value_text
            elif field == "data":
                data.append(value_text)


def abort_stream(resp: requests.Response) -> None:
    """End a streamed response now: closing alone does not wake a thread blocked reading
    its socket, shutting the socket down does."""
    conn = getattr(resp.raw, "_connection", None) or getattr(resp.raw, "connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:           # a closing connection lets go of it; the reader still has it
        reader = getattr(getattr(resp.raw, "_fp", None), "fp", None)
        sock = getattr(getattr(reader, "raw", None), "_sock", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    resp.close()
