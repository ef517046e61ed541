"""What survives a framework restart: the framework id, the tasks we launched and the
operators' controls.

Stored as one small JSON document in a ZooKeeper node or a local file, written before
an ACCEPT is sent, so a restarted framework reconciles every task it ever launched; the
operators' controls (:meth:`framework.controls.Controls.to_doc`) ride along, saved after
each change (docs/operators.md).
"""
from __future__ import annotations

import abc
import json
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import BackendError

log = logging.getLogger(__name__)


@dataclass
class FrameworkState:
    framework_id: str | None = None
    #: task id → agent id (None until known)
    tasks: dict[str, str | None] = field(default_factory=dict)
    #: the operators' controls (a :meth:`~framework.controls.Controls.to_doc` document;
    #: None: none saved)
    controls: dict[str, Any] | None = None

    def to_json(self) -> bytes:
        doc: dict[str, Any] = {"framework_id": self.framework_id, "tasks": self.tasks}
        if self.controls is not None:        # none: the document as before they were kept
            doc["controls"] = self.controls
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes, where: str) -> "FrameworkState":
        try:
            doc: Any = json.loads(data.decode("utf-8")) if data else {}
            if not isinstance(doc, dict):
                raise ValueError("not a JSON object")
            tasks = doc.get("tasks") or {}
            if not isinstance(tasks, dict):
                raise ValueError("'tasks' is not an object")
            fid = doc.get("framework_id")
            controls = doc.get("controls")
            if controls is not None and not isinstance(controls, dict):
                log.warning("framework state in %s: its 'controls' is not an object (%.80s): "
                            "the operators' controls start from the spec", where,
                            json.dumps(controls))
                controls = None
            return cls(str(fid) if fid else None, {str(k): v for k, v in tasks.items()},
                       controls)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BackendError(f"framework state in {where} is unreadable: {exc}") from exc


class StateStore(abc.ABC):
    """Loads and saves the :class:`FrameworkState` of one framework."""

    @abc.abstractmethod
    def load(self) -> FrameworkState:
        """The saved state (empty when nothing was saved yet)."""

    @abc.abstractmethod
    def save(self, state: FrameworkState) -> None:
        """Replace the saved state atomically."""

    def close(self) -> None:
        """Release connections."""


class FileStore(StateStore):
    def __init__(self, path: str | Path):
        self.path = Path(path)

    def load(self) -> FrameworkState:
        try:
            return FrameworkState.from_json(self.path.read_bytes(), str(self.path))
        except FileNotFoundError:
            return FrameworkState()

    def save(self, state: FrameworkState) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name + ".")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(state.to_json())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


class ZooKeeperStore(StateStore):
    """State in the znode ``<path>`` of ``zk://hosts/path``."""

    def __init__(self, url: str, client: Any = None):
        from kazoo.client import KazooClient

        from .mesos.detector import parse_zk_url

        hosts, self.path = parse_zk_url(url)
        self._zk = client or KazooClient(hosts=hosts, timeout=10)
        self._own = client is None
        if self._own:
            self._zk.start(timeout=30)

    def load(self) -> FrameworkState:
        from kazoo.exceptions import NoNodeError

        try:
            data, _ = self._zk.get(self.path)
        except NoNodeError:
            return FrameworkState()
        return FrameworkState.from_json(data, f"zk node {self.path}")

    def save(self, state: FrameworkState) -> None:
        data = state.to_json()
        if self._zk.exists(self.path):
            self._zk.set(self.path, data)
        else:
            self._zk.create(self.path, data, makepath=True)

    def close(self) -> None:
        if self._own:
            self._zk.stop()
            self._zk.close()


def open_store(location: str) -> StateStore:
    """``zk://hosts/path`` → ZooKeeper node; anything else is a file path."""
    return ZooKeeperStore(location) if location.startswith("zk://") else FileStore(location)
