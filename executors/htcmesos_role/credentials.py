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
    data = src.read_bytes()
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


def install_secrets(paths: Paths, role: str, log: Log, sandbox: str = "") -> InstalledSecrets:
    """Copy signing keys and tokens into place; require at least one of them.

    ``sandbox`` is ``$MESOS_SANDBOX`` (empty: nothing was fetched). Files already present
    in the destination directories (e.g. mounted there directly) count too. Raises
    :class:`RoleSetupError` when no key and no token is available.
    """
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
            "signing key / pool password in %s and no token in %s (mount at least one "
            "non-empty file there)" % (role, paths.passwords_src, paths.tokens_src)
        )
    if role == "master" and not found.keys:
        log(
            "warning: the master has tokens but no signing key in %s; its collector "
            "cannot validate the tokens of other daemons" % paths.passwords_src
        )
    return found
