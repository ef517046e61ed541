"""The local HTCondor base image: Debian trixie's HTCondor packages, built without a registry.

Where no registry is reachable (every test machine) the role images build FROM this image
instead of the official ``htcondor/cm|submit|execute``. It is made in two steps:

1. ``mmdebstrap`` (Debian package ``mmdebstrap``, run as root) writes a root filesystem
   tar of Debian trixie with ``htcondor`` (HTCondor 23.9, every daemon, the ``htcondor2``
   Python bindings) and ``python3`` — what the role entrypoint and ``/health`` run on —
   plus an ordinary user ``submituser`` (uid 1000), as in the official submit image;
2. ``docker import`` makes an image of it (~3 s), labelled with the recipe's hash and the
   HTCondor package version, tagged ``htcmesos/htcondor-base:<version>`` and ``:latest``.

The tar is cached per recipe in ``cache_dir`` (default ``/var/cache/htcmesos``), so a fresh
Docker engine re-imports it in seconds instead of bootstrapping again (~30 s and a 100 MB
download). A newer HTCondor package in the archive is taken with ``rebuild=True``.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ImageError

REPOSITORY = "htcmesos/htcondor-base"
LABEL_RECIPE = "htcmesos.base-recipe"
LABEL_CONDOR = "htcmesos.condor-version"
DEFAULT_CACHE_DIR = Path(os.environ.get("HTCMESOS_CACHE_DIR", "/var/cache/htcmesos"))
SUITE = "trixie"
PACKAGES = ("htcondor", "python3")
#: Written into the rootfs by a customize hook: the installed HTCondor package version.
VERSION_FILE = "etc/htcmesos-condor-version"
SUBMIT_USER, SUBMIT_UID = "submituser", 1000
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_EXCLUDES = ("/usr/share/man/*", "/usr/share/doc/*", "/usr/share/locale/*",
             "/usr/share/info/*")

Log = Callable[[str], None]


def mmdebstrap_argv(out: Path) -> list[str]:
    """The ``mmdebstrap`` command that writes the base rootfs tar to ``out``."""
    hooks = [
        f'chroot "$1" useradd --create-home --uid {SUBMIT_UID} --shell /bin/bash {SUBMIT_USER}',
        f'chroot "$1" dpkg-query -W -f=\'${{Version}}\' condor > "$1/{VERSION_FILE}"',
        'rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*',
    ]
    argv = ["mmdebstrap", "--variant=apt", "--include=" + ",".join(PACKAGES),
            "--aptopt=APT::Install-Recommends \"false\""]
    argv += [f"--dpkgopt=path-exclude={p}" for p in _EXCLUDES]
    argv += [f"--customize-hook={h}" for h in hooks]
    return argv + [SUITE, str(out)]


def recipe_hash() -> str:
    """Short hash of everything that decides the rootfs (command, packages, hooks)."""
    text = "\0".join(mmdebstrap_argv(Path("OUT")) + [_PATH])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class BaseImage:
    """A local base image: its tag, the HTCondor version in it and how it was obtained."""

    tag: str
    condor_version: str
    how: str          # "present" | "imported from cache" | "bootstrapped"


def version_tag(version: str) -> str:
    """A Docker tag for a Debian version (``23.9.6+dfsg-2.1+b10`` → ``23.9.6-dfsg-2.1-b10``)."""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", version)[:128] or "unknown"


def find_base(client: Any) -> BaseImage | None:
    """The base image of the current recipe, if the engine has it."""
    recipe = recipe_hash()
    for image in client.images.list(filters={"label": f"{LABEL_RECIPE}={recipe}"}):
        version = (image.labels or {}).get(LABEL_CONDOR, "")
        return BaseImage(f"{REPOSITORY}:{version_tag(version)}", version, "present")
    return None


def ensure_base(client: Any, cache_dir: Path | None = None, rebuild: bool = False,
                log: Log = lambda _: None) -> BaseImage:
    """The local base image: found, imported from the cached tar, or bootstrapped anew.

    Raises :class:`ImageError` naming what is missing (mmdebstrap, root, the archive)."""
    cache_dir = Path(cache_dir or DEFAULT_CACHE_DIR)
    if not rebuild:
        found = find_base(client)
        if found is not None:
            return found
    tar = cache_dir / f"htcondor-base-{SUITE}-{recipe_hash()}.tar"
    how = "imported from cache"
    if rebuild or not tar.is_file():
        bootstrap(tar, log)
        how = "bootstrapped"
    version = _read_version(tar)
    tag = f"{REPOSITORY}:{version_tag(version)}"
    log(f"importing {tar.name} as {tag}")
    changes = [f"ENV PATH={_PATH}", "ENV LANG=C.UTF-8", "WORKDIR /",
               f"LABEL {LABEL_RECIPE}={recipe_hash()} {LABEL_CONDOR}={version}"]
    try:
        with open(tar, "rb") as data:
            client.api.import_image_from_data(data, repository=REPOSITORY,
                                              tag=version_tag(version), changes=changes)
        client.images.get(tag).tag(REPOSITORY, "latest")
    except Exception as exc:  # docker-py and requests errors alike
        raise ImageError(f"docker import of {tar} failed: {str(exc).splitlines()[0][:300]}") \
            from None
    return BaseImage(tag, version, how)


def bootstrap(tar: Path, log: Log) -> None:
    """Run mmdebstrap into ``tar`` (written atomically)."""
    if shutil.which("mmdebstrap") is None:
        raise ImageError("building the HTCondor base image needs mmdebstrap "
                         "(apt-get install mmdebstrap), or give a base image with --base")
    if os.geteuid() != 0:
        raise ImageError("mmdebstrap must run as root to build the HTCondor base image")
    tar.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=tar.parent, prefix=".base-") as tmp:
        out = Path(tmp) / tar.name
        log(f"bootstrapping Debian {SUITE} with {', '.join(PACKAGES)} (mmdebstrap, ~30 s)")
        proc = subprocess.run(mmdebstrap_argv(out), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-12:])
            raise ImageError(f"mmdebstrap failed (exit {proc.returncode}):\n{tail}")
        os.replace(out, tar)


def _read_version(tar: Path) -> str:
    """The HTCondor version the customize hook wrote into the rootfs tar."""
    names = {VERSION_FILE, "./" + VERSION_FILE}
    with tarfile.open(tar) as archive:
        for member in archive:
            if member.name in names and member.isfile():
                data = archive.extractfile(member)
                if data is not None:
                    return data.read().decode().strip() or "unknown"
    raise ImageError(f"{tar} has no /{VERSION_FILE}: not an htcmesos base rootfs; "
                     f"delete it and build again")
