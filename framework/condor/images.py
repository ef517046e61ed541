"""Build the three role images (``executors/<role>/Dockerfile``) on a chosen base.

The Dockerfiles take their base as the build argument ``BASE``:

- ``official``: ``htcondor/cm|submit|execute:<OFFICIAL_TAG>`` (one per role), present
  locally or pulled — the default where a registry is reachable;
- ``local``: the HTCondor base built here from Debian trixie (:mod:`.baseimage`), one
  image for all three roles — used where no registry is reachable (every test machine);
- any other value: that image, for all three roles.

``auto`` tries ``official`` and falls back to ``local``. Each role image carries the
label :data:`LABEL_CONTEXT`, a hash of the build context and the base image id, so an
unchanged image is not rebuilt.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import ImageError
from ..model import IMAGE_ROLES, Role
from .baseimage import ensure_base

#: The role Dockerfiles and their build context (a checkout's executors/ folder).
EXECUTORS_DIR = Path(__file__).resolve().parents[2] / "executors"
OFFICIAL_TAG = "24.0-el9"
OFFICIAL: dict[Role, str] = {Role.MASTER: "htcondor/cm", Role.SUBMITTER: "htcondor/submit",
                             Role.EXECUTOR: "htcondor/execute"}
LABEL_CONTEXT = "htcmesos.build-context"
DEFAULT_VERSION = "0.1"

Log = Callable[[str], None]


def default_tags(version: str = DEFAULT_VERSION) -> dict[Role, str]:
    """``htcmesos/<role>:<version>`` for each role (the names the example specs use)."""
    return {role: f"htcmesos/{role.value}:{version}" for role in IMAGE_ROLES}


@dataclass(frozen=True)
class BuiltImages:
    """What :func:`build_role_images` made: tags per role, the base kind and images."""

    tags: dict[Role, str]
    base_kind: str                  # "official" | "local" | "given"
    bases: dict[Role, str]
    built: tuple[Role, ...]         # rebuilt this time (others were up to date)

    def describe(self) -> str:
        bases = sorted(set(self.bases.values()))
        return f"{self.base_kind} base {', '.join(bases)}"


def context_hash(context: Path) -> str:
    """Hash of every file in the build context (names and contents)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in context.rglob("*") if p.is_file()
                       and "__pycache__" not in p.parts):
        digest.update(str(path.relative_to(context)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def _official_bases(client: Any, log: Log) -> dict[Role, str] | None:
    """The official bases, present or pulled; None when any cannot be had."""
    import docker.errors

    bases = {}
    for role, repo in OFFICIAL.items():
        ref = f"{repo}:{OFFICIAL_TAG}"
        try:
            client.images.get(ref)
        except docker.errors.ImageNotFound:
            try:
                log(f"pulling {ref}")
                client.images.pull(repo, tag=OFFICIAL_TAG)
            except docker.errors.DockerException as exc:
                log(f"cannot pull {ref}: {str(exc).splitlines()[0][:160]}")
                return None
        bases[role] = ref
    return bases


def resolve_bases(client: Any, base: str, log: Log,
                  cache_dir: Path | None = None) -> tuple[str, dict[Role, str]]:
    """(kind, base image per role) for ``base`` = auto | official | local | IMAGE."""
    if base in ("auto", "official"):
        found = _official_bases(client, log)
        if found is not None:
            return "official", found
        if base == "official":
            raise ImageError(f"the official bases ({', '.join(OFFICIAL.values())}:"
                             f"{OFFICIAL_TAG}) are neither present nor pullable; "
                             f"use --base local")
        log("no registry reachable: using the local HTCondor base (Debian trixie)")
    if base in ("auto", "local"):
        local = ensure_base(client, cache_dir, False, log)
        log(f"local base {local.tag} (HTCondor {local.condor_version}, {local.how})")
        return "local", {role: local.tag for role in IMAGE_ROLES}
    return "given", {role: base for role in IMAGE_ROLES}


def build_role_images(client: Any, base: str = "auto", tags: dict[Role, str] | None = None,
                      context: Path | None = None, rebuild: bool = False,
                      log: Log = lambda _: None, cache_dir: Path | None = None,
                      timeout_s: int = 600) -> BuiltImages:
    """Build the role images that are missing or out of date; say which base was used.

    Every failure is an :class:`ImageError` naming what went wrong."""
    import docker.errors
    import requests.exceptions

    try:
        return _build(client, base, tags, context, rebuild, log, cache_dir, timeout_s)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ImageError(f"the Docker engine failed while building the role images: "
                         f"{str(exc).splitlines()[0][:300]}") from None


def _build(client: Any, base: str, tags: dict[Role, str] | None, context: Path | None,
           rebuild: bool, log: Log, cache_dir: Path | None, timeout_s: int) -> BuiltImages:
    import docker.errors

    tags = dict(tags or default_tags())
    ctx = Path(context or EXECUTORS_DIR)
    if not (ctx / "htcmesos_role").is_dir():
        raise ImageError(f"{ctx} is not the executors/ folder of an htcmesos checkout")
    kind, bases = resolve_bases(client, base, log, cache_dir)
    ctx_hash = context_hash(ctx)
    built = []
    for role, tag in tags.items():
        try:
            base_id = client.images.get(bases[role]).id
        except docker.errors.ImageNotFound:
            raise ImageError(f"base image {bases[role]} not found") from None
        want = hashlib.sha256(f"{ctx_hash}:{base_id}".encode()).hexdigest()[:16]
        if not rebuild and _label(client, tag) == want:
            continue
        log(f"building {tag} FROM {bases[role]}")
        try:
            client.images.build(path=str(ctx), dockerfile=f"{role.value}/Dockerfile", tag=tag,
                                rm=True, forcerm=True, pull=False,
                                buildargs={"BASE": bases[role]},
                                labels={LABEL_CONTEXT: want}, timeout=timeout_s)
        except docker.errors.BuildError as exc:
            lines = [str(x.get("stream", x.get("error", ""))).rstrip() for x in exc.build_log]
            tail = "\n".join(line for line in lines if line)[-1500:]
            raise ImageError(f"building {tag} failed: {exc.msg}\n{tail}") from None
        built.append(role)
    return BuiltImages(tags, kind, bases, tuple(built))


def _label(client: Any, tag: str) -> str | None:
    import docker.errors

    try:
        return (client.images.get(tag).labels or {}).get(LABEL_CONTEXT)
    except docker.errors.ImageNotFound:
        return None
