"""The credentials of Marathon mode: one secret per role, referenced by the rendered apps.

Marathon passes secrets by reference (``secrets: {credentials: {source: …}}`` and
``env: {HTCMESOS_CREDENTIALS: {secret: credentials}}``); the operator's secret store holds
the values. Each value is a JSON object of the files framework mode delivers through the
Mesos fetcher (:mod:`framework.backends.credentials`): the signing key for the master, a
role token for the submitter, a role token and the drain-checking key for executors. The
role entrypoint installs them and drops the variable (``executors/htcmesos_role``).

Tokens here are long-lived (one per role, not per task: Marathon starts tasks without
asking htcmesos); rotating them is writing the store again and restarting the apps.
"""
from __future__ import annotations

import base64
import json
import os
from pathlib import Path

from ...condor.tokens import ADMIN_KEY_ID, admin_key, mint_role_token
from ...errors import BackendError
from ...model import IMAGE_ROLES, Role
from ...spec import ClusterSpec
from ..credentials import KEY_FILE, TOKEN_FILE

#: The secret's name inside each app, and the variable the entrypoint reads.
SECRET_NAME, BUNDLE_ENV = "credentials", "HTCMESOS_CREDENTIALS"


def secrets_prefix(spec: ClusterSpec) -> str:
    """Where the pool's secrets sit in the store (``backend.marathon.secrets_prefix``)."""
    m = spec.backend.marathon
    prefix = getattr(m, "secrets_prefix", None) if m is not None else None
    return (prefix or f"htcondor/{spec.pool.name}").strip("/")


def secret_source(spec: ClusterSpec, role: Role) -> str:
    """The store path of ``role``'s credentials, e.g. ``htcondor/p1/executor`` (a broker
    uses the master's: it holds the pool key to check the executors' tokens)."""
    return f"{secrets_prefix(spec)}/{role.container.value}"


def role_files(spec: ClusterSpec, role: Role, key: bytes, now: float) -> dict[str, bytes]:
    """File name (below the credential folder) → content, for ``role``."""
    if role.container is Role.MASTER:
        return {KEY_FILE: key}
    token = mint_role_token(key, spec.pool.trust_domain, role, now,
                            token_id=f"marathon-{spec.pool.name}-{role.value}")
    files = {TOKEN_FILE.format(role=role.value): token.encode("ascii")}
    if role is Role.EXECUTOR:
        files[f"passwords/{ADMIN_KEY_ID}"] = admin_key(key)
    return files


def bundle(spec: ClusterSpec, role: Role, key: bytes, now: float) -> bytes:
    """The secret's value for ``role``: JSON of base64 file contents."""
    files = role_files(spec, role, key, now)
    return json.dumps({name: base64.b64encode(data).decode("ascii")
                       for name, data in sorted(files.items())}).encode("ascii")


def write_store(spec: ClusterSpec, key: bytes, directory: Path, now: float) -> list[Path]:
    """Write the three values as files ``<directory>/<source>`` (mode 0600, folders 0700),
    the layout of a file-backed store (and of the emulator's); the paths written."""
    written = []
    for role in IMAGE_ROLES:
        path = directory / secret_source(spec, role)
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = path.with_name(f".{path.name}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                out.write(bundle(spec, role, key, now))
            os.replace(tmp, path)
        except OSError as exc:
            raise BackendError(f"cannot write the {role} secret to {path}: "
                               f"{exc.strerror or exc}") from None
        written.append(path)
    return written
