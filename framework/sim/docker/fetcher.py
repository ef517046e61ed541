"""The Mesos fetcher of emulated agents: ``command.uris`` into the task sandbox.

As ``mesos-fetcher`` does it (apache/mesos src/launcher/fetcher.cpp, 1.11), before the
container is created: each URI lands at ``<sandbox>/<output_file or basename>`` (parent
folders made); ``output_file`` must stay inside the sandbox; HTTP(S) must answer exactly
200 (redirects followed), else "Error downloading resource, received HTTP return code N";
local paths and ``file://`` are copied; ``executable`` makes the file 0755, downloads are
0644; archives are extracted only with ``extract`` (not emulated: htcmesos fetches plain
files, and an archive here fails the fetch rather than pass unextracted). Any failure
fails the whole fetch; the agent then reports TASK_FAILED with
REASON_CONTAINER_LAUNCH_FAILED and the details go to the sandbox's ``stderr``.
"""
from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path, PurePosixPath
from typing import Any

#: libcurl's stall timeout in mesos-fetcher (``--fetcher_stall_timeout``, default 60 s).
STALL_TIMEOUT_S = 60.0
_ARCHIVES = (".tar", ".tgz", ".tar.gz", ".tbz2", ".tar.bz2", ".txz", ".tar.xz", ".zip", ".gz")


class FetchError(Exception):
    """One URI could not be fetched; ``str()`` is mesos-fetcher's log line."""


def _target(sandbox: Path, uri: dict[str, Any]) -> Path:
    value = str(uri.get("value", ""))
    if not value or any(c in value for c in "\\'\0"):
        raise FetchError(f"Failed to fetch '{value}': invalid URI")
    out = uri.get("output_file")
    if out:
        rel = PurePosixPath(str(out))
        if rel.is_absolute() or ".." in rel.parts:
            raise FetchError(f"URI output file must be within the sandbox directory: {out}")
    else:
        rel = PurePosixPath(urllib.parse.urlsplit(value).path.rsplit("/", 1)[-1] or "index")
    return sandbox.joinpath(*rel.parts)


def fetch_uri(sandbox: Path, uri: dict[str, Any], timeout_s: float = STALL_TIMEOUT_S) -> Path:
    """Fetch one ``CommandInfo.URI`` into ``sandbox``; the file's path. Raises FetchError."""
    value = str(uri.get("value", ""))
    target = _target(sandbox, uri)
    if uri.get("extract", True) and not uri.get("executable") and target.name.endswith(_ARCHIVES):
        raise FetchError(f"Failed to fetch '{value}': archive extraction is not emulated")
    target.parent.mkdir(parents=True, exist_ok=True)
    scheme = urllib.parse.urlsplit(value).scheme
    try:
        if scheme in ("http", "https", "ftp"):
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            with opener.open(value, timeout=timeout_s) as resp:
                if resp.status != 200:
                    raise FetchError(f"Failed to fetch '{value}': Error downloading resource, "
                                     f"received HTTP return code {resp.status}")
                data = resp.read()
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            with os.fdopen(fd, "wb") as out:
                out.write(data)
        elif scheme in ("", "file"):
            shutil.copyfile(urllib.parse.urlsplit(value).path if scheme else value, target)
        else:
            raise FetchError(f"Failed to fetch '{value}': unsupported scheme '{scheme}'")
    except urllib.error.HTTPError as exc:
        raise FetchError(f"Failed to fetch '{value}': Error downloading resource, received "
                         f"HTTP return code {exc.code}") from None
    except (OSError, urllib.error.URLError) as exc:
        raise FetchError(f"Failed to fetch '{value}': {getattr(exc, 'reason', exc)}") from None
    if uri.get("executable"):
        os.chmod(target, 0o755)
    return target


def fetch_all(sandbox: Path, uris: list[dict[str, Any]]) -> None:
    """Fetch every URI in order; the first failure is logged to ``sandbox/stderr`` and
    raised (the real fetcher exits 1 and the agent fails the container launch). The log
    line names the URL without its path: a credential URL's path is its secret."""
    for uri in uris:
        try:
            fetch_uri(sandbox, uri)
        except FetchError as exc:
            value = str(uri.get("value", ""))
            parts = urllib.parse.urlsplit(value)
            shown = f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else value
            with open(sandbox / "stderr", "a", encoding="utf-8") as err:
                err.write(str(exc).replace(value, shown) + "\n")
            raise
