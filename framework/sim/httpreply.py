"""One reply of an emulator's HTTP handler: JSON, plain text or empty, with headers,
recorded by the emulator (``owner._record``) for tests that count calls."""
from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


def send_reply(handler: BaseHTTPRequestHandler, owner: Any, status: int, body: Any = None,
               text: str | None = None, headers: dict[str, str] | None = None) -> None:
    """``text`` as text/plain, else ``body`` as JSON (None: no body); no body to HEAD."""
    if text is not None:
        data, ctype = text.encode(), "text/plain; charset=utf-8"
    elif body is None:
        data, ctype = b"", ""
    else:
        data, ctype = json.dumps(body).encode(), "application/json"
    owner._record(handler.command, handler.path, status)
    handler.send_response(status)
    if ctype:
        handler.send_header("Content-Type", ctype)
    handler.send_header("Content-Length", str(len(data)))
    for k, v in (headers or {}).items():
        handler.send_header(k, v)
    handler.end_headers()
    if data and handler.command != "HEAD":
        handler.wfile.write(data)
