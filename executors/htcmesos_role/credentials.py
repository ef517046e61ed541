"""Install the HTCondor secrets where the daemons read them.

Two sources, both optional:

- fetched by Mesos into the task sandbox (``$MESOS_SANDBOX/htcmesos-credentials/
  passwords/*`` and ``…/tokens/*``): how htcmesos delivers them, from single-use URLs
  the framework serves. The sandbox copies are deleted once installed (the agent's
  sandbox is browsable through its HTTP API);
- mounted read-only at ``/etc/condor/passwords-orig.d`` (signing keys / the pool
  password) and ``/etc/condor/tokens-orig.d`` (IDTOKENS), the official images' convention.

HTCondor insists on private copies, so every regular file is copied to ``passwords.d`` /
``tokens.d`` with mode 0600 in directories with mode 0700. Only file names are ever
logged, never contents.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List

from .errors import RoleSetupError
from .paths import Paths

DIR_MODE = 0o700
FILE_MODE = 0o600

Log = Callable[[str], None]


@dataclass
class InstalledSecrets:
    """What :func:`install_secrets` found; names only, no contents."""

    keys: List[str] = field(default_factory=list)
    """Non-empty files in the password directory (signing keys, pool password)."""
    tokens: List[str] = field(default_factory=list)
    """Non-empty files in the token directory."""


def _source_files(src: Path) -> List[Path]:
    """Regular files (symlinks followed) in ``src``, sorted; dot-files are skipped.

    Skipping dot-files ignores the ``..data`` links of Kubernetes-style secret volumes.
    """
    if not src.is_dir():
        return []
    return sorted(p for p in src.iterdir() if not p.name.startswith(".") and p.is_file())


def _copy_private(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst`` atomically with mode 0600, contents never leave memory."""
    _write_private(dst, src.read_bytes())


def _write_private(dst: Path, data: bytes) -> None:
    """Write ``data`` to ``dst`` atomically with mode 0600."""
    tmp = dst.with_name("." + dst.name + ".htcmesos-tmp")
    if tmp.exists() or tmp.is_symlink():
        tmp.unlink()
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)
    os.replace(str(tmp), str(dst))


def _prepare_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    os.chmod(str(path), DIR_MODE)


def _copy_dir(src: Path, dst: Path, kind: str, log: Log, move: bool = False) -> None:
    """Copy every regular file of ``src`` into ``dst`` (created 0700) with mode 0600;
    ``move``: delete each source file once copied (and ``src`` when it is empty)."""
    _prepare_dir(dst)
    if not src.is_dir():
        if not move:
            log("no %s source directory %s (skipped)" % (kind, src))
        return
    files = _source_files(src)
    try:
        for path in files:
            try:
                _copy_private(path, dst / path.name)
            except OSError as exc:
                raise RoleSetupError(
                    "cannot install %s file %s into %s: %s" % (kind, path.name, dst, exc.strerror)
                ) from None
            log("installed %s file %s into %s (mode 0600)" % (kind, path.name, dst))
    finally:
        if move:  # fetched copies never stay in the (browsable) sandbox, even on error
            for path in files:
                try:
                    path.unlink()
                except OSError:
                    pass
            try:
                src.rmdir()
            except OSError:
                pass


def _non_empty(directory: Path) -> List[str]:
    return [p.name for p in _source_files(directory) if p.stat().st_size > 0]


#: Environment variable holding a credential bundle (Marathon mode: a secret reference
#: Marathon resolves into the task's environment; environment secrets are what the Mesos
#: Docker containerizer supports, file secrets need the Mesos containerizer).
BUNDLE_ENV = "HTCMESOS_CREDENTIALS"
_BUNDLE_DIRS = ("passwords", "tokens")


def install_bundle(paths: Paths, text: str, log: Log) -> None:
    """Install a bundle ``{"passwords/NAME": base64, "tokens/NAME": base64}`` (the file
    names the Mesos fetcher delivers in framework mode) into the private directories.
    Raises :class:`RoleSetupError` naming the entry that is wrong, never its value."""
    try:
        entries = json.loads(text)
    except ValueError:
        raise RoleSetupError("%s is not a JSON object of credential files (is the secret "
                             "store's value the one `htcmesos marathon secrets` wrote?)"
                             % BUNDLE_ENV) from None
    if not isinstance(entries, dict) or not entries:
        raise RoleSetupError("%s must be a non-empty JSON object of credential files" % BUNDLE_ENV)
    for name, value in sorted(entries.items()):
        kind, _, base = str(name).partition("/")
        if kind not in _BUNDLE_DIRS or not base or "/" in base or base.startswith("."):
            raise RoleSetupError("%s entry %r is not passwords/NAME or tokens/NAME" % (BUNDLE_ENV, name))
        try:
            data = base64.b64decode(str(value), validate=True)
        except (ValueError, binascii.Error):
            raise RoleSetupError("%s entry %r is not base64" % (BUNDLE_ENV, name)) from None
        dst = paths.passwords_dst if kind == "passwords" else paths.tokens_dst
        _prepare_dir(dst)
        try:
            _write_private(dst / base, data)
        except OSError as exc:
            raise RoleSetupError("cannot install %s into %s: %s" % (name, dst, exc.strerror)) from None
        log("installed %s from %s into %s (mode 0600)" % (name, BUNDLE_ENV, dst))


def install_secrets(paths: Paths, role: str, log: Log, sandbox: str = "",
                    bundle: str = "") -> InstalledSecrets:
    """Copy signing keys and tokens into place; require at least one of them.

    ``sandbox`` is ``$MESOS_SANDBOX`` (empty: nothing was fetched); ``bundle`` the value of
    :data:`BUNDLE_ENV` (empty: none). Files already present
    in the destination directories (e.g. mounted there directly) count too. Raises
    :class:`RoleSetupError` when no key and no token is available.
    """
    if bundle:
        install_bundle(paths, bundle, log)
    if sandbox:
        fetched = paths.fetched_dir(sandbox)
        _copy_dir(fetched / "passwords", paths.passwords_dst, "fetched signing key", log, True)
        _copy_dir(fetched / "tokens", paths.tokens_dst, "fetched token", log, True)
        try:
            fetched.rmdir()
        except OSError:
            pass
    _copy_dir(paths.passwords_src, paths.passwords_dst, "signing key", log)
    _copy_dir(paths.tokens_src, paths.tokens_dst, "token", log)
    found = InstalledSecrets(keys=_non_empty(paths.passwords_dst), tokens=_non_empty(paths.tokens_dst))
    if not found.keys and not found.tokens:
        raise RoleSetupError(
            "no HTCondor credentials for the %s role: none fetched into the sandbox, no "
            "%s, no "
            "signing key / pool password in %s and no token in %s (mount at least one "
            "non-empty file there)" % (role, BUNDLE_ENV, paths.passwords_src, paths.tokens_src)
        )
    if role == "master" and not found.keys:
        log(
            "warning: the master has tokens but no signing key in %s; its collector "
            "cannot validate the tokens of other daemons" % paths.passwords_src
        )
    return found
