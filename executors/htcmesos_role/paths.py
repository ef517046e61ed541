"""Every absolute path the role container uses, re-rootable for tests.

``HTCMESOS_ROOT`` (default ``/``) is prepended to every path, so tests can run the real
entrypoint inside a temporary directory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

CONFIG_FILE_NAME = "50-htcmesos.conf"
#: The follower's override of CONDOR_HOST / COLLECTOR_HOST: read after the role's config.
DISCOVERY_FILE_NAME = "60-htcmesos-discovery.conf"
#: Sandbox folder of fetched credentials (framework/backends/fetchserver.py FETCH_DIR).
FETCHED_DIR_NAME = "htcmesos-credentials"


@dataclass(frozen=True)
class Paths:
    """Filesystem layout of a role container below ``root``."""

    root: Path

    def _p(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    @property
    def passwords_src(self) -> Path:
        """Mounted, read-only signing keys / pool password."""
        return self._p("/etc/condor/passwords-orig.d")

    @property
    def passwords_dst(self) -> Path:
        """``SEC_PASSWORD_DIRECTORY`` of the official images."""
        return self._p("/etc/condor/passwords.d")

    @property
    def tokens_src(self) -> Path:
        """Mounted, read-only IDTOKENS."""
        return self._p("/etc/condor/tokens-orig.d")

    @property
    def tokens_dst(self) -> Path:
        """``SEC_TOKEN_SYSTEM_DIRECTORY`` of the official images."""
        return self._p("/etc/condor/tokens.d")

    def fetched_dir(self, sandbox: str) -> Path:
        """Keys and tokens the Mesos fetcher put into the task sandbox (``$MESOS_SANDBOX``):
        ``htcmesos-credentials/passwords/*`` and ``htcmesos-credentials/tokens/*``."""
        return self._p(sandbox.rstrip("/") + "/" + FETCHED_DIR_NAME)

    @property
    def config_file(self) -> Path:
        """The role's rendered HTCondor config (read after the images' ``01-*.conf``)."""
        return self._p("/etc/condor/config.d/" + CONFIG_FILE_NAME)

    @property
    def mounted_config_dir(self) -> Path:
        """Fallback config source: ``*.conf`` files mounted here, concatenated by name."""
        return self._p("/etc/htcmesos/config.d")

    @property
    def discovery_config_file(self) -> Path:
        """The discovered central manager (:mod:`.discovery`), read after ``config_file``."""
        return self._p("/etc/condor/config.d/" + DISCOVERY_FILE_NAME)

    @property
    def central_manager_file(self) -> Path:
        """The discovered central manager's address, one line (the health check asks it)."""
        return self._p("/run/htcmesos/central-manager")

    @property
    def discovery_pid_file(self) -> Path:
        """PID of the detached discovery follower, written by the entrypoint."""
        return self._p("/run/htcmesos/discovery.pid")

    @property
    def health_pid_file(self) -> Path:
        """PID of the detached health server, written by the entrypoint."""
        return self._p("/run/htcmesos/health.pid")


def paths_from_env(env: Mapping[str, str]) -> Paths:
    """Return the layout rooted at ``HTCMESOS_ROOT`` (default ``/``)."""
    return Paths(Path(env.get("HTCMESOS_ROOT") or "/"))


def default_paths() -> Paths:
    """Layout for the current process environment."""
    return paths_from_env(os.environ)
