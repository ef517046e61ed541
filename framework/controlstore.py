"""Where the operators' controls are kept between runs of the framework.

The elastic loop loads the saved document once, when it is made, and saves
:meth:`~framework.controls.Controls.to_doc` after every change it accepts
(:class:`ControlKeeper`; docs/operators.md).
Framework mode keeps it with the framework's own state
(:class:`~framework.backends.mesos.controls.FrameworkControls`); Marathon mode keeps none.
"""
from __future__ import annotations

import abc
import logging
from typing import Any

from .controls import Controls
from .errors import HtcmesosError
from .spec import ClusterSpec

log = logging.getLogger(__name__)


class ControlsNotSaved(HtcmesosError):
    """The controls could not be saved (or loaded); the message says why."""


class ControlStore(abc.ABC):
    """Loads and saves one pool's controls document (JSON-ready)."""

    @abc.abstractmethod
    def load(self) -> dict[str, Any] | None:
        """The saved document, None when nothing was saved; an HtcmesosError when the
        store cannot be read."""

    @abc.abstractmethod
    def save(self, doc: dict[str, Any]) -> None:
        """Replace the saved document; an HtcmesosError (e.g. :class:`ControlsNotSaved`)
        when it could not be."""


class ControlKeeper:
    """The elastic loop's side of a :class:`ControlStore` (None: the controls are kept
    nowhere): what to start from, and saving after each change. Not thread-safe: the
    loop calls it under its own lock, so the saved order is the changes' order."""

    def __init__(self, store: ControlStore | None, spec: ClusterSpec) -> None:
        self.store, self.spec = store, spec
        #: why the last save failed (None: saved); the loop retries every tick meanwhile
        self.unsaved: str | None = None

    def restore(self) -> Controls:
        """The saved controls where the spec still allows them (each part dropped: a
        warning; then the rest is saved at once, so it is not said again next time),
        else the spec's."""
        base = Controls.from_spec(self.spec)
        if self.store is None:
            return base
        try:
            doc = self.store.load()
        except HtcmesosError as exc:
            log.warning("the operators' saved controls cannot be read (%s): the pool starts "
                        "from the spec's bounds", exc)
            return base
        if doc is None:
            return base
        controls, notes = Controls.from_doc(doc, self.spec)
        changed = controls.differences(self.spec)
        if self.spec.autoscaling.driver == "clues":
            if changed:
                log.warning("the operators' saved controls (%s) are not used: pool %s is "
                            "sized by CLUES (autoscaling.driver: clues)", "; ".join(changed),
                            self.spec.pool.name)
            return base
        for note in notes:
            log.warning("%s", note)
        if changed:
            log.info("the operators' controls of pool %s restored: %s", self.spec.pool.name,
                     "; ".join(changed))
        if notes:
            self.save(controls, retry=False)
        return controls

    def save(self, controls: Controls, retry: bool) -> dict[str, Any]:
        """Save ``controls``; the keys for the operator's answer: none without a store,
        ``"saved"`` and, when it failed, ``"warning"`` (logged; on a ``retry`` only when
        the reason is new)."""
        if self.store is None:
            return {}
        try:
            self.store.save(controls.to_doc(self.spec))
        except HtcmesosError as exc:
            why = str(exc) or type(exc).__name__
            if not retry or why != self.unsaved:
                log.warning("the operators' controls were not saved (%s): they hold until "
                            "the framework stops; saving is retried every tick", why)
            self.unsaved = why
            return {"saved": False,
                    "warning": f"the change holds but was not saved ({why}): a restarted "
                               f"framework would not know it; saving is retried every tick"}
        if self.unsaved is not None:
            log.info("the operators' controls are saved again")
        self.unsaved = None
        return {"saved": True}
