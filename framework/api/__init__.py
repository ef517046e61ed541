"""The framework's HTTP API: CLUES' LRMS view and power requests (later the dashboard)."""
from __future__ import annotations

from urllib.parse import quote


def segment(name: str) -> str:
    """``name`` (a site, a node) as one URL path segment: ``/``, ``?``, ``#``, ``%`` and
    ``.`` escaped (``..`` is a name, not a step up the path), so that a name never reaches
    another route."""
    return quote(name, safe="").replace(".", "%2E")
