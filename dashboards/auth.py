"""Bearer tokens of the REST API (``api.token_file``) and who is asking.

The token file holds one token per line: ``TOKEN`` or ``NAME TOKEN`` (NAME says who, in
the logs and the operator log; a bare token is ``token``). ``#`` lines and blank lines
are ignored. A token is visible ASCII without spaces. Tokens are compared in constant
time (:func:`hmac.compare_digest`) and never logged, shown or repeated in a message.
"""
from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from framework.errors import HtcmesosError

log = logging.getLogger(__name__)

#: what a NAME may hold (it is logged): letters, digits, ``._-@+``
_NAME = re.compile(r"[A-Za-z0-9._@+-]{1,64}")


def _visible(text: str) -> bool:
    return bool(text) and all(33 <= ord(ch) < 127 for ch in text)


@dataclass(frozen=True)
class TokenBook:
    """The tokens that may change the pool, each with the name it is logged as."""

    #: (name, token) pairs; never in a repr
    entries: tuple[tuple[str, str], ...] = field(repr=False)
    #: where they came from (for messages)
    source: str = "api.token_file"

    @classmethod
    def of(cls, token: str, name: str = "token") -> "TokenBook":
        """A book of one token (the old single-token API)."""
        if not _visible(token):
            raise HtcmesosError("an API token must be visible ASCII characters (no spaces)")
        return cls(((name, token),), "the API token")

    @classmethod
    def read(cls, path: Path) -> "TokenBook":
        """The tokens in ``path``; HtcmesosError naming the file (and line) otherwise."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise HtcmesosError(f"the API token file {path}: {exc.strerror}") from None
        entries: list[tuple[str, str]] = []
        seen: dict[str, int] = {}
        for number, raw in enumerate(data.split(b"\n"), start=1):
            try:
                line = raw.decode("ascii").strip()
            except UnicodeDecodeError:
                raise HtcmesosError(f"the API token file {path}, line {number}: bytes that "
                                    f"are not ASCII") from None
            if not line or line.startswith("#"):
                continue
            words = line.split()
            if len(words) > 2:
                raise HtcmesosError(f"the API token file {path}, line {number}: a line is "
                                    f"TOKEN or NAME TOKEN, this one has {len(words)} words")
            name, token = ("token", words[0]) if len(words) == 1 else (words[0], words[1])
            if not _NAME.fullmatch(name):
                raise HtcmesosError(f"the API token file {path}, line {number}: a NAME is "
                                    f"letters, digits and ._@+- (at most 64)")
            if not _visible(token):
                raise HtcmesosError(f"the API token file {path}, line {number}: a token is "
                                    f"visible ASCII characters (no spaces)")
            if token in seen:
                raise HtcmesosError(f"the API token file {path}, line {number}: the same "
                                    f"token as line {seen[token]}")
            seen[token] = number
            entries.append((name, token))
        if not entries:
            raise HtcmesosError(f"the API token file {path} holds no token: one a line, "
                                f"TOKEN or NAME TOKEN, a token of visible ASCII characters "
                                f"(no spaces)")
        try:
            if Path(path).stat().st_mode & 0o077:
                log.warning("the API token file %s may be read by other users (chmod 600)",
                            path)
        except OSError:
            pass
        return cls(tuple(entries), str(path))

    @property
    def first(self) -> str:
        """The first token (what the command line sends)."""
        return self.entries[0][1]

    def name_of(self, authorization: str | None) -> str | None:
        """The name of the token in an ``Authorization: Bearer …`` header (the scheme in
        any case); None when there is none or it is not one of these. Every token is
        compared, in constant time each."""
        scheme, _, given = (authorization or "").strip().partition(" ")
        if scheme.lower() != "bearer":
            return None
        offered = given.strip().encode("utf-8", "replace")
        found = None
        for name, token in self.entries:
            if hmac.compare_digest(offered, token.encode()) and found is None:
                found = name
        return found


def who(name: str | None, address: str | None) -> str:
    """``NAME@address`` as logged (``anonymous`` without a token)."""
    return f"{name or 'anonymous'}@{address or 'unknown'}"
