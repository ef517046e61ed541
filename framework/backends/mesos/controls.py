"""Framework mode keeps the operators' controls with its own state (backend.mesos.state:
a file or a ZooKeeper node), so a restarted or failed-over framework keeps them."""
from __future__ import annotations

from typing import Any

from ...controlstore import ControlsNotSaved, ControlStore
from .framework import MesosFramework


class FrameworkControls(ControlStore):
    """The controls in :attr:`MesosFramework.saved` (``FrameworkState.controls``), saved
    through the framework's store under its lock: never beside the book's own saves, and
    with the task records as they are then."""

    def __init__(self, framework: MesosFramework) -> None:
        self.fw = framework

    def load(self) -> dict[str, Any] | None:
        return self.fw.saved_controls()

    def save(self, doc: dict[str, Any]) -> None:
        why = self.fw.save_controls(doc)
        if why is not None:
            raise ControlsNotSaved(f"the framework state cannot be saved: {why}")
