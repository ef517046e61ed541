"""IDTOKENS minted by the framework from the pool signing key (no HTCondor needed).

An HTCondor IDTOKEN is a JWT (HS256) whose header names the signing key (``kid``, the
file name in SEC_PASSWORD_DIRECTORY, ``POOL`` here) and whose payload carries ``sub``
(the identity, ``name@trust-domain``), ``iss`` (the TRUST_DOMAIN), ``iat``, a ``jti`` and,
to limit what the token may be used for, ``scope`` = ``condor:/<AUTHZ> …``. The HMAC key
is not the key file's bytes: HTCondor unscrambles the file (its password format is XORed
with ``deadbeef``), stops at the first NUL, and derives the JWT key with HKDF-SHA256
(:func:`jwt_key`).
Every token minted here is checked by a real 23.9 collector in the tests.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid

from ..model import Role
from .config import IDENTITIES

#: Authorizations each role's token carries, and nothing more. The startd and schedd
#: advertise themselves (and their condor_master) and read the pool; claims, job
#: transfers and the negotiator's contact to the schedd run over sessions HTCondor
#: derives from the match (SEC_ENABLE_MATCH_PASSWORD_AUTHENTICATION), not these tokens.
ROLE_SCOPES: dict[Role, tuple[str, ...]] = {
    Role.EXECUTOR: ("ADVERTISE_STARTD", "ADVERTISE_MASTER", "READ"),
    Role.SUBMITTER: ("ADVERTISE_SCHEDD", "ADVERTISE_MASTER", "READ"),
}
KEY_ID = "POOL"
_SCRAMBLE = b"\xde\xad\xbe\xef"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unscramble(data: bytes) -> bytes:
    """HTCondor's password-file (un)scrambling: XOR with a repeating ``deadbeef``."""
    return bytes(b ^ _SCRAMBLE[i % 4] for i, b in enumerate(data))


def jwt_key(key_file: bytes) -> bytes:
    """The HMAC key HTCondor signs and checks tokens with, from the key file's bytes.

    The password (unscrambled, up to its first NUL) is used twice over as the input of
    HKDF-SHA256 (RFC 5869) with salt ``htcondor`` and info ``master jwt``, 32 bytes out
    (htcondor/htcondor src/condor_io/condor_auth_passwd.cpp; checked against tokens of
    ``condor_token_create`` 23.9 and a real collector in the tests)."""
    password = unscramble(key_file).split(b"\0", 1)[0]
    prk = hmac.new(b"htcondor", password + password, hashlib.sha256).digest()
    return hmac.new(prk, b"master jwt" + b"\x01", hashlib.sha256).digest()


def mint_token(key_file: bytes, subject: str, issuer: str, scopes: tuple[str, ...],
               issued_at: float, token_id: str | None = None,
               lifetime_s: float | None = None, key_id: str = KEY_ID) -> str:
    """An IDTOKEN for ``subject`` limited to ``scopes``; ``issued_at`` in epoch seconds."""
    header = {"alg": "HS256", "kid": key_id, "typ": "JWT"}
    payload: dict[str, object] = {"sub": subject, "iss": issuer, "iat": int(issued_at),
                                  "jti": uuid.uuid5(uuid.NAMESPACE_URL,
                                                    f"{issuer}/{token_id}").hex
                                  if token_id else uuid.uuid4().hex}
    if scopes:
        payload["scope"] = " ".join(f"condor:/{s}" for s in scopes)
    if lifetime_s is not None:
        payload["exp"] = int(issued_at + lifetime_s)
    signing_input = (_b64(json.dumps(header, separators=(",", ":")).encode()) + "."
                     + _b64(json.dumps(payload, separators=(",", ":")).encode()))
    signature = hmac.new(jwt_key(key_file), signing_input.encode("ascii"),
                         hashlib.sha256).digest()
    return signing_input + "." + _b64(signature)


def mint_role_token(key_file: bytes, trust_domain: str, role: Role, issued_at: float,
                    token_id: str | None = None) -> str:
    """The token of one submitter or executor task (``<role identity>@<trust domain>``)."""
    if role not in ROLE_SCOPES:
        raise ValueError(f"the {role} role holds the signing key, not a token")
    return mint_token(key_file, f"{IDENTITIES[role]}@{trust_domain}", trust_domain,
                      ROLE_SCOPES[role], issued_at, token_id)


def decode(token: str) -> tuple[dict, dict]:
    """(header, payload) of a token, unverified (for tests and diagnostics)."""
    head, body, _ = token.split(".")
    pad = lambda s: s + "=" * (-len(s) % 4)  # noqa: E731
    return (json.loads(base64.urlsafe_b64decode(pad(head))),
            json.loads(base64.urlsafe_b64decode(pad(body))))
