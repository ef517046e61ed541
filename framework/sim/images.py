"""Tiny local test images (no registry is reachable on test machines).

:func:`build_test_image` imports a rootfs of a few kilobytes: only the merged-/usr
symlinks (``bin``, ``lib``, ``lib64``, ``sbin`` → ``usr/…``), empty ``/etc`` and ``/tmp``
plus three one-line files in ``/etc`` that glibc and Python look up. Run its containers
with the host's ``/usr`` bind-mounted read-only (:data:`HOST_USR_VOLUME`); they then use
the host's ``sh``, ``python3`` and libraries. Under the vfs storage driver every container
start copies the image, so a near-empty image starts fastest. These are for the
emulator's throw-away tasks only: role images are built on a real HTCondor base
(:mod:`framework.condor.images`) and run on what they ship.
"""
from __future__ import annotations

import io
import tarfile
import time

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
