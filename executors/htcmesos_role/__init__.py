"""What runs inside the htcmesos role containers (master, submitter, executor).

This package is copied into each role image at ``/opt/htcmesos/htcmesos_role`` and must
import nothing from the ``framework`` package: the images do not carry the framework.
It must also run on Python 3.9 (the official HTCondor EL9 images), so every module uses
``from __future__ import annotations`` and avoids 3.10+ syntax.
"""

from __future__ import annotations

ROLES = ("master", "submitter", "executor")
"""The three role names, as given in argv or ``HTCMESOS_ROLE``."""

__all__ = ["ROLES"]
