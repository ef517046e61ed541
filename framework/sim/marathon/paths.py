"""Marathon path ids (``/a/b/c``) and task ids.

Ids follow upstream ``state/PathId.scala``: absolute paths of segments, each matching
:data:`SEGMENT`; a relative id resolves against a base group (``".."`` goes up).
Task ids are Marathon 1.11's instance-based form, ``<segments joined by _>.instance-<uuid>._app.<n>``
(``core/task/Task.scala`` / ``core/instance/Instance.scala``).
"""
from __future__ import annotations

import re
import uuid

#: one path segment (state/PathId.scala)
SEGMENT_PATTERN = (r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*"
                   r"[a-z0-9])|(\.|\.\.)$")
SEGMENT = re.compile(SEGMENT_PATTERN[1:-1])
TASK_ID = re.compile(r"(?P<app>[a-z0-9_.\-]+)\.instance-(?P<uuid>[0-9a-f\-]{36})\._app\.(?P<n>[0-9]+)")


def segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def valid_segments(path: str) -> bool:
    """Does every segment of ``path`` match the upstream pattern?"""
    return all(SEGMENT.fullmatch(s) for s in segments(path))


def resolve(path: str, base: str = "/") -> str:
    """``path`` made absolute against ``base`` (``.`` and ``..`` applied), e.g.
    ``resolve("master", "/htc/p1") == "/htc/p1/master"``."""
    parts = [] if path.startswith("/") else segments(base)
    for seg in segments(path):
        if seg == ".":
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


def parent(path: str) -> str:
    parts = segments(path)
    return "/" + "/".join(parts[:-1])


def is_under(path: str, group: str) -> bool:
    """Is ``path`` ``group`` itself or inside it?"""
    if group in ("", "/"):
        return True
    return path == group or path.startswith(group.rstrip("/") + "/")


def new_task_id(app_id: str, rng_uuid: uuid.UUID, incarnation: int = 1) -> str:
    return f"{'_'.join(segments(app_id))}.instance-{rng_uuid}._app.{incarnation}"

