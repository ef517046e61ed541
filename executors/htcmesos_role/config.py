"""Write the role's HTCondor configuration into the image's ``config.d``.

Source, in order of preference:

1. ``HTCMESOS_CONDOR_CONFIG_B64``: base64 of the rendered config text (UTF-8);
2. the ``*.conf`` files mounted in ``/etc/htcmesos/config.d``, concatenated sorted by name.

The result goes to ``/etc/condor/config.d/50-htcmesos.conf`` so that it overrides the
official images' ``01-*.conf`` files. Config text is never logged (only size and source).
"""

from __future__ import annotations

import binascii
import base64
import os
from pathlib import Path
from typing import Callable, Mapping, Tuple

from .errors import RoleSetupError
from .paths import Paths

ENV_CONFIG_B64 = "HTCMESOS_CONDOR_CONFIG_B64"
CONFIG_MODE = 0o644

Log = Callable[[str], None]


def _validate(text_bytes: bytes, source: str) -> str:
    """Return the config as text; reject NUL bytes, invalid UTF-8 and empty configs."""
    if b"\x00" in text_bytes:
        raise RoleSetupError("HTCondor config from %s contains a NUL byte" % source)
    try:
        text = text_bytes.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RoleSetupError(
            "HTCondor config from %s is not valid UTF-8 (byte %d)" % (source, exc.start)
        ) from None
    if not text.strip():
        raise RoleSetupError("HTCondor config from %s is empty" % source)
    return text


def decode_b64_config(value: str) -> str:
    """Decode ``HTCMESOS_CONDOR_CONFIG_B64``; whitespace (line wrapping) is ignored."""
    compact = "".join(value.split())
    try:
        raw = base64.b64decode(compact.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        raise RoleSetupError("%s is not valid base64" % ENV_CONFIG_B64) from None
    return _validate(raw, ENV_CONFIG_B64)


def read_mounted_config(directory: Path) -> Tuple[str, int]:
    """Concatenate ``directory/*.conf`` sorted by name; return (text, number of files).

    Returns ``("", 0)`` when the directory is missing or holds no ``*.conf`` file.
    """
    if not directory.is_dir():
        return "", 0
    files = sorted(
        p for p in directory.glob("*.conf") if not p.name.startswith(".") and p.is_file()
    )
    parts = []
    for path in files:
        text = _validate_part(path)
        if not text.endswith("\n"):
            text += "\n"
        parts.append("# --- from %s ---\n%s" % (path.name, text))
    return "".join(parts), len(files)


def _validate_part(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw:
        raise RoleSetupError("HTCondor config file %s contains a NUL byte" % path)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RoleSetupError(
            "HTCondor config file %s is not valid UTF-8 (byte %d)" % (path, exc.start)
        ) from None


def resolve_config(env: Mapping[str, str], paths: Paths) -> Tuple[str, str]:
    """Return ``(config text, description of its source)`` or raise RoleSetupError."""
    encoded = env.get(ENV_CONFIG_B64, "")
    if encoded.strip():
        return decode_b64_config(encoded), ENV_CONFIG_B64
    text, count = read_mounted_config(paths.mounted_config_dir)
    if count:
        source = "%d file(s) in %s" % (count, paths.mounted_config_dir)
        return _validate(text.encode("utf-8"), source), source
    raise RoleSetupError(
        "no HTCondor config: set %s (base64 of the rendered config) or mount *.conf files "
        "in %s" % (ENV_CONFIG_B64, paths.mounted_config_dir)
    )


def write_config(env: Mapping[str, str], paths: Paths, log: Log) -> Path:
    """Resolve the role config and write it atomically to ``paths.config_file``."""
    text, source = resolve_config(env, paths)
    if not text.endswith("\n"):
        text += "\n"
    header = "# Written by htcmesos_role.entrypoint from %s; do not edit.\n" % source
    target = paths.config_file
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name("." + target.name + ".htcmesos-tmp")
    tmp.write_text(header + text, encoding="utf-8")
    os.chmod(str(tmp), CONFIG_MODE)
    os.replace(str(tmp), str(target))
    log("wrote HTCondor config %s (%d bytes) from %s" % (target, len(text), source))
    return target
