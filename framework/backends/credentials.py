"""Which credentials each role's task gets, delivered through the Mesos fetcher.

Least privilege: only the master (collector + negotiator) holds the pool signing key; the
submitter and every executor get an IDTOKEN minted by the framework for their role's
identity with the narrowest authorizations HTCondor lets that role work with
(:data:`framework.condor.tokens.ROLE_SCOPES`). Executors also get the key, derived from
the pool key, that the framework signs its drain requests with
(:func:`framework.condor.tokens.admin_key`). The framework reads the key file once, at
start, and keeps the key in memory: agents never need the file.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from ..condor.tokens import ADMIN_KEY_ID, admin_key, mint_role_token
from ..errors import BackendError
from ..model import Role
from ..spec import ClusterSpec
from .fetchserver import CredentialServer
from .mesos.tasks import CredentialSource

#: File names below the sandbox's credential folder (the entrypoint installs them).
KEY_FILE = "passwords/POOL"
TOKEN_FILE = "tokens/{role}"


def read_signing_key(path: Path) -> bytes:
    """The pool signing key's bytes; :class:`BackendError` naming the file if unusable."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BackendError(f"cannot read pool.signing_key_file {path}: "
                           f"{exc.strerror or exc}") from None
    if not data.strip():
        raise BackendError(f"pool.signing_key_file {path} is empty; create a key with "
                           f"`head -c 64 /dev/urandom > {path.name}`")
    return data


class FetchedCredentials(CredentialSource):
    """The signing key for the master, a fresh role token for everyone else."""

    def __init__(self, spec: ClusterSpec, key: bytes, server: CredentialServer,
                 now: Callable[[], float]) -> None:
        self.spec, self._key, self.server, self.now = spec, key, server, now
        self._admin_key = admin_key(key)

    def files(self, role: Role, task_id: str) -> dict[str, bytes]:
        """Sandbox file name → content for one task of ``role`` (a broker: the master's,
        the pool key, with which its collector checks the executors' tokens)."""
        if role.container is Role.MASTER:
            return {KEY_FILE: self._key}
        token = mint_role_token(self._key, self.spec.pool.trust_domain, role, self.now(),
                                token_id=task_id)
        files = {TOKEN_FILE.format(role=role.value): token.encode("ascii")}
        if role is Role.EXECUTOR:       # to check the framework's drains (never the pool key)
            files[f"passwords/{ADMIN_KEY_ID}"] = self._admin_key
        return files

    def uris(self, role: Role, task_id: str) -> list[dict[str, Any]]:
        return self.server.offer(task_id, self.files(role, task_id))

    def release(self, task_id: str) -> None:
        self.server.revoke(task_id)
