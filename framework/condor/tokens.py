"""IDTOKENS minted by the framework from the pool signing key (no HTCondor needed).

An HTCondor IDTOKEN is a JWT (HS256) whose header names the signing key (``kid``, the
file name in SEC_PASSWORD_DIRECTORY, ``POOL`` here) and whose payload carries ``sub``
(the identity, ``name@trust-domain``), ``iss`` (the TRUST_DOMAIN), ``iat``, a ``jti`` and,
to limit what the token may be used for, ``scope`` = ``condor:/<AUTHZ> …``. The HMAC key
is not the key file's bytes: HTCondor unscrambles the file (its password format is XORed
with ``deadbeef``), doubles the POOL key and derives the JWT key with HKDF-SHA256
(:func:`jwt_key`).
Every token minted here is checked by a real 23.9 collector in the tests.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import uuid

from ..model import Role
from .config import FRAMEWORK_IDENTITY, IDENTITIES

#: Authorizations each role's token carries, and nothing more. The startd and schedd
#: advertise themselves (and their condor_master) and read the pool; claims, job
#: transfers and the negotiator's contact to the schedd run over sessions HTCondor
#: derives from the match (SEC_ENABLE_MATCH_PASSWORD_AUTHENTICATION: negotiator-side@,
#: submit-side@, execute-side@matchsession), not these tokens. Left out on purpose:
#: DAEMON, which the schedd would need only to ask the negotiator for an early cycle
#: (RESCHEDULE) after a submit; without it, jobs wait for the next cycle, which an
#: elastic pool runs every few seconds (pool.negotiator_interval).
ROLE_SCOPES: dict[Role, tuple[str, ...]] = {
    Role.EXECUTOR: ("ADVERTISE_STARTD", "ADVERTISE_MASTER", "READ"),
    Role.SUBMITTER: ("ADVERTISE_SCHEDD", "ADVERTISE_MASTER", "READ"),
}
KEY_ID = "POOL"
#: The key executors check the framework's administration token with (never the pool key).
ADMIN_KEY_ID = "HTCMESOS_EXECUTORS"

_SCRAMBLE = b"\xde\xad\xbe\xef"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unscramble(data: bytes) -> bytes:
    """HTCondor's password-file (un)scrambling: XOR with a repeating ``deadbeef``."""
    return bytes(b ^ _SCRAMBLE[i % 4] for i, b in enumerate(data))


@functools.lru_cache(maxsize=8)
def jwt_key(key_file: bytes, key_id: str = KEY_ID) -> bytes:
    """The HMAC key HTCondor signs and checks tokens with, from the key file's bytes.

    The file is unscrambled whole (``simple_scramble``, src/condor_utils/secure_file.cpp;
    it is cut at a NUL only with SEC_TOKEN_POOL_SIGNING_KEY_IS_PASSWORD); the POOL key,
    and only it, is then doubled (``getTokenSigningKey``, src/condor_utils/store_cred.cpp).
    That is the input of HKDF-SHA256 (RFC 5869) with salt ``htcondor`` and info
    ``master jwt``, 32 bytes out (``Condor_Auth_Passwd::hkdf``,
    src/condor_io/condor_auth_passwd.cpp; HTCondor 23.9.6). Checked against tokens of
    ``condor_token_create`` 23.9.6 and a real collector in the tests."""
    secret = unscramble(key_file)
    if key_id == KEY_ID:
        secret += secret
    prk = hmac.new(b"htcondor", secret, hashlib.sha256).digest()
    return hmac.new(prk, b"master jwt" + b"\x01", hashlib.sha256).digest()


def mint_token(key_file: bytes, subject: str, issuer: str, scopes: tuple[str, ...],
               issued_at: float, token_id: str | None = None,
               lifetime_s: float | None = None, key_id: str = KEY_ID) -> str:
    """An IDTOKEN for ``subject`` limited to ``scopes``; ``issued_at`` in epoch seconds."""
    header = {"alg": "HS256", "kid": key_id}              # exactly what HTCondor writes
    payload: dict[str, object] = {"sub": subject, "iss": issuer, "iat": int(issued_at),
                                  "jti": uuid.uuid5(uuid.NAMESPACE_URL,
                                                    f"{issuer}/{token_id}").hex
                                  if token_id else uuid.uuid4().hex}
    if scopes:
        payload["scope"] = " ".join(f"condor:/{s}" for s in scopes)
    if lifetime_s is not None:
        payload["exp"] = int(issued_at + lifetime_s)
    signing_input = (_b64(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64(json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()))
    signature = hmac.new(jwt_key(key_file, key_id), signing_input.encode("ascii"),
                         hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def mint_role_token(key_file: bytes, trust_domain: str, role: Role, issued_at: float,
                    token_id: str | None = None) -> str:
    """The token of one submitter or executor task (``<role identity>@<trust domain>``)."""
    if role not in ROLE_SCOPES:
        raise ValueError(f"the {role} role holds the signing key, not a token")
    return mint_token(key_file, f"{IDENTITIES[role]}@{trust_domain}", trust_domain,
                      ROLE_SCOPES[role], issued_at, token_id)


def admin_key(pool_key: bytes) -> bytes:
    """The executors' administration key: derived from the pool key (HMAC-SHA256, one way,
    so an executor holding it learns nothing of the pool key), 32 bytes as hex text."""
    return hmac.new(pool_key, b"htcmesos executor administration", hashlib.sha256) \
        .hexdigest().encode("ascii")


def mint_admin_token(pool_key: bytes, trust_domain: str, issued_at: float) -> str:
    """The framework's token for draining executors: ``htcmesos@<trust domain>``, scope
    ADMINISTRATOR (and READ), signed with :func:`admin_key` under :data:`ADMIN_KEY_ID`."""
    return mint_token(admin_key(pool_key), f"{FRAMEWORK_IDENTITY}@{trust_domain}",
                      trust_domain, ("ADMINISTRATOR", "READ"), issued_at,
                      key_id=ADMIN_KEY_ID)


def decode(token: str) -> tuple[dict, dict]:
    """(header, payload) of a token, unverified (for tests and diagnostics)."""
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(head))),
            json.loads(base64.urlsafe_b64decode(pad(body))))
