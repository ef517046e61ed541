"""Tiny local test images (no registry is reachable on test machines).

:func:`build_test_image` imports a rootfs of a few kilobytes: only the merged-/usr
symlinks (``bin``, ``lib``, ``lib64``, ``sbin`` → ``usr/…``), empty ``/etc`` and ``/tmp``
plus three one-line files in ``/etc`` that glibc and Python look up. Run its containers
with the host's ``/usr`` bind-mounted read-only (:data:`HOST_USR_VOLUME`); they then use
the host's ``sh``, ``python3`` and libraries. Under the vfs storage driver every container
start copies the image, so a near-empty image starts fastest.

:func:`build_role_image` builds a real role image, ``executors/<role>/Dockerfile``, on a
local stand-in for its official HTCondor base image (:func:`build_stand_in_base`: the
same symlink rootfs plus a fake ``condor_master`` that records its argv and sleeps, and
the official images' ``CMD``). Its containers also need :data:`HOST_USR_VOLUME`: the
host's ``python3`` then runs the role entrypoint, which execs the fake master.
"""
from __future__ import annotations

import io
import json
import tarfile
import time
from pathlib import Path

import docker
import docker.errors

#: Label put on every image this module builds.
IMAGE_LABEL = "htcmesos.test-image"

#: Mesos ``container.volumes`` entry every container of the tiny image needs.
HOST_USR_VOLUME: dict[str, str] = {"container_path": "/usr", "host_path": "/usr", "mode": "RO"}

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_SYMLINKS = {"bin": "usr/bin", "lib": "usr/lib", "lib64": "usr/lib64", "sbin": "usr/sbin"}
_DIRS = {"etc": 0o755, "tmp": 0o1777, "usr": 0o755, "root": 0o700}
_FILES = {
    # Without nsswitch.conf glibc asks DNS before /etc/hosts: a name lookup inside a
    # container with no reachable resolver then stalls for seconds (http.server does one).
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
}


def rootfs_tar(extra_dirs: dict[str, int] | None = None,
               extra_files: dict[str, tuple[bytes, int]] | None = None) -> bytes:
    """The image's root filesystem as an uncompressed tar (a few KiB), built in memory.

    ``extra_dirs``: more directories (path → mode); ``extra_files``: more regular files
    (path → (content, mode)); parents must be in the tiny rootfs or ``extra_dirs``.
    """
    buf = io.BytesIO()
    mtime = 0  # fixed: the same bytes every time
    dirs = {**_DIRS, **(extra_dirs or {})}
    files = {name: (text.encode("ascii"), 0o644) for name, text in _FILES.items()}
    files.update(extra_files or {})
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, mode in dirs.items():
            info = tarfile.TarInfo(name)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, mtime
            tar.addfile(info)
        for name, target in _SYMLINKS.items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode, info.mtime = tarfile.SYMTYPE, target, 0o777, mtime
            tar.addfile(info)
        for name, (data, mode) in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), mode, mtime
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _split_tag(tag: str) -> tuple[str, str]:
    """``repository[:tag]`` → (repository, tag); ``:latest`` if omitted."""
    repository, _, version = tag.rpartition(":")
    if not repository or "/" in version:           # "name" or "host:5000/name"
        return tag, "latest"
    return repository, version


def build_test_image(client: docker.DockerClient, tag: str = "htcmesos/tiny:latest") -> str:
    """Import the tiny image as ``tag`` unless an image with that tag exists; return its id.

    ``tag`` is ``repository[:tag]`` (``:latest`` if omitted). The image has no entrypoint
    and no default command: a container must name its program (e.g. ``python3``), and
    needs :data:`HOST_USR_VOLUME`. Takes ~0.1 s to import, nothing if present.
    """
    repository, version = _split_tag(tag)
    full = f"{repository}:{version}"
    try:
        return client.images.get(full).id
    except docker.errors.ImageNotFound:
        pass
    changes = [f"ENV PATH={DEFAULT_PATH}", f"LABEL {IMAGE_LABEL}=1", "WORKDIR /"]
    client.api.import_image_from_data(rootfs_tar(), repository=repository, tag=version,
                                      changes=changes)
    return client.images.get(full).id


def timed_build(client: docker.DockerClient, tag: str) -> tuple[str, float]:
    """:func:`build_test_image` and the seconds it took (for reports and benchmarks)."""
    start = time.monotonic()
    image_id = build_test_image(client, tag)
    return image_id, time.monotonic() - start


# -- role images on a stand-in for the official HTCondor base images ----------------------

#: The role Dockerfiles (``executors/<role>/Dockerfile``) and their build context.
EXECUTORS_DIR = Path(__file__).resolve().parents[2] / "executors"

#: Official base image repository of each role (``FROM <repo>:${HTCONDOR_TAG}``).
BASE_IMAGES: dict[str, str] = {"master": "htcondor/cm", "submitter": "htcondor/submit",
                               "executor": "htcondor/execute"}

#: The official images' ``CMD``: a role image's ENTRYPOINT must reset it.
OFFICIAL_CMD = ["/bin/bash", "-x", "/start.sh"]

#: Where the stand-in's fake ``condor_master`` lives (first on the image's ``PATH``).
FAKE_BIN = "/opt/fake/bin"

#: The fake ``condor_master``: records its argv in /tmp/condor_master.argv, then sleeps
#: as the container's main process (the host's ``sh`` and ``sleep``, via /usr).
FAKE_MASTER = b'#!/bin/sh\necho "$0 $*" > /tmp/condor_master.argv\nexec sleep 3600\n'


def stand_in_rootfs() -> bytes:
    """The tiny rootfs plus /run, /opt and the fake ``condor_master`` in :data:`FAKE_BIN`."""
    dirs = {"run": 0o755, "opt": 0o755, "opt/fake": 0o755, FAKE_BIN.lstrip("/"): 0o755}
    return rootfs_tar(dirs, {FAKE_BIN.lstrip("/") + "/condor_master": (FAKE_MASTER, 0o755)})


def build_stand_in_base(client: docker.DockerClient, role: str, version: str) -> str:
    """Import the stand-in for ``<official base of role>:<version>``; its tag.

    Always imported anew (~0.1 s), so a tag left behind by an older stand-in is replaced.
    """
    repository = BASE_IMAGES[role]
    changes = [f"ENV PATH={FAKE_BIN}:{DEFAULT_PATH}", f"LABEL {IMAGE_LABEL}=1", "WORKDIR /",
               "CMD " + json.dumps(OFFICIAL_CMD)]
    client.api.import_image_from_data(stand_in_rootfs(), repository=repository, tag=version,
                                      changes=changes)
    return f"{repository}:{version}"


def role_image_base(role: str, tag: str) -> str:
    """Tag of the stand-in base that :func:`build_role_image` uses for image ``tag``."""
    return f"{BASE_IMAGES[role]}:{_split_tag(tag)[1]}"


def build_role_image(client: docker.DockerClient, role: str, tag: str,
                     context: str | Path | None = None, timeout_s: int = 300) -> str:
    """Build ``executors/<role>/Dockerfile`` as ``tag`` FROM a stand-in base; the image id.

    The base is :func:`build_stand_in_base` with ``HTCONDOR_TAG`` = ``tag``'s version part
    (``htcmesos/executor:t1`` → ``htcondor/execute:t1``), so unique test tags give unique
    bases. Nothing is pulled. ``context``: the executors/ folder (default: this
    checkout's). Raises ``docker.errors.BuildError`` (with the build log) on failure;
    remove both images with :func:`remove_role_image`. Takes a few seconds (vfs).
    """
    if role not in BASE_IMAGES:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(BASE_IMAGES)}")
    ctx = Path(context) if context is not None else EXECUTORS_DIR
    dockerfile = ctx / role / "Dockerfile"
    if not dockerfile.is_file():
        raise FileNotFoundError(f"{dockerfile} not found (the executors/ folder of a checkout)")
    version = _split_tag(tag)[1]
    build_stand_in_base(client, role, version)
    image, _log = client.images.build(
        path=str(ctx), dockerfile=f"{role}/Dockerfile", tag=tag, rm=True, forcerm=True,
        pull=False, buildargs={"HTCONDOR_TAG": version}, labels={IMAGE_LABEL: "1"},
        timeout=timeout_s)
    return image.id


def remove_role_image(client: docker.DockerClient, role: str, tag: str) -> None:
    """Remove a :func:`build_role_image` image and its stand-in base (missing: fine)."""
    for name in (tag, role_image_base(role, tag)):
        try:
            client.images.remove(name, force=True)
        except docker.errors.ImageNotFound:
            pass
