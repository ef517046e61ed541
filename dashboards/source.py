"""Where the dashboard and the REST API get the pool from.

:class:`PoolSource` is what :func:`dashboards.create_app` serves. Two kinds:

- :class:`LocalSource`: the elastic loop of this process (framework and Marathon mode,
  the demo); it builds the documents of :mod:`.documents` and carries out operator
  requests through the loop (which validates, records and logs them);
- :class:`~dashboards.remote.RemoteSource` (``htcmesos dashboard --api URL``): the same
  documents fetched from a running framework's API; changes are passed on with the
  caller's token, which that framework checks.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from framework.errors import HtcmesosError, NotReady

from . import documents as docs

log = logging.getLogger(__name__)

Doc = dict[str, Any]


@dataclass(frozen=True)
class Caller:
    """Who asks for a change: ``who`` (``NAME@address``, logged and recorded) and the
    request's Authorization header (passed on by a remote source; never shown)."""

    who: str
    authorization: str | None = field(default=None, repr=False)


class SourceError(HtcmesosError):
    """A request the source answers with an HTTP error: ``status`` and the message (a
    remote API's own, passed on unchanged), ``headers`` to repeat (WWW-Authenticate)."""

    def __init__(self, status: int, message: str,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.headers = status, message, dict(headers or {})


class PoolSource(Protocol):
    """What the app serves. Reads return the JSON documents of ``/api/v1``; changes take
    a :class:`Caller`. Errors: :class:`framework.controls.ControlError` (its ``status``),
    :class:`~framework.errors.NotReady` (503), :class:`SourceError` (its ``status``)."""

    #: changes are authorised by the source itself (a remote API checks the token)
    forwards_auth: bool
    #: CLUES' endpoint (``view``, ``request_power``), None when not served here
    clues: Any

    def status(self) -> Doc: ...
    def sites(self) -> Doc: ...
    def site(self, name: str) -> Doc: ...
    def set_site(self, name: str, changes: Mapping[str, Any], caller: Caller) -> Doc: ...
    def drain_site(self, name: str, caller: Caller) -> Doc: ...
    def undrain_site(self, name: str, caller: Caller) -> Doc: ...
    def drain_node(self, node: str, caller: Caller) -> Doc: ...
    def autoscaling(self) -> Doc: ...
    def pause(self, caller: Caller) -> Doc: ...
    def resume(self, caller: Caller) -> Doc: ...
    def history(self, limit: int) -> Doc: ...
    def decisions(self, limit: int) -> Doc: ...
    def tasks(self) -> Doc: ...
    def metrics(self, accept: str | None) -> tuple[bytes, str]:
        """The Prometheus exposition and its content type."""


class LocalSource:
    """An :class:`~framework.elastic.ElasticLoop` of this process (``loop.status``,
    ``loop.controls``, ``loop.task_views()``, its operator methods; CLUES' view).

    ``backend_name`` (default: the spec's backend type) and ``ui_links`` (name → URL of
    the Mesos or Marathon UI, shown in the page's header; user:password removed; default:
    from the spec, :func:`.documents.default_links`; ``{}``: none)."""

    forwards_auth = False

    def __init__(self, loop: Any, backend_name: str | None = None,
                 ui_links: Mapping[str, str] | None = None) -> None:
        from .metrics import PoolCollector

        self.loop, self.spec = loop, loop.spec
        self.pool = loop.spec.pool.name
        self.backend_name = backend_name or loop.spec.backend.type
        if ui_links is None:
            ui_links = docs.default_links(loop.spec)
        self.links = {name: url for name, url in
                      ((n, docs.public_url(u)) for n, u in ui_links.items()) if url}
        self.clues = loop if hasattr(loop, "request_power") else None
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(PoolCollector(self))

    # -- reads ---------------------------------------------------------------------------

    def _site_docs(self) -> list[Doc]:
        return docs.site_docs(self.spec.sites, self.loop.controls, self.loop.status.latest())

    def status(self) -> Doc:
        latest = self.loop.status.latest()
        if latest is None:
            raise NotReady(f"pool {self.pool} has not ticked yet: no status before the "
                           f"elastic loop's first look at the pool")
        controls = self.loop.controls
        sites = docs.site_docs(self.spec.sites, controls, latest)
        return docs.status_doc(self.pool, self.backend_name, latest, sites, controls,
                               self.loop.status.actions(docs.OPERATOR_IN_STATUS), self.links)

    def sites(self) -> Doc:
        return {"sites": self._site_docs()}

    def site(self, name: str) -> Doc:
        self.loop.controls.site(name)               # UnknownSite naming it
        return next(s for s in self._site_docs() if s["name"] == name)

    def autoscaling(self) -> Doc:
        return {"paused": self.loop.controls.paused}

    def history(self, limit: int) -> Doc:
        return {"points": [docs.history_point(t) for t in self.loop.status.history(limit)]}

    def decisions(self, limit: int) -> Doc:
        return {"decisions": [docs.decision_doc(t) for t in self.loop.status.decisions(limit)]}

    def task_views(self) -> list[Any]:
        """The pool's tasks as of the last tick: ``loop.task_views()`` (the loop asks the
        backend once a tick, in its own thread; views never call the backend). A loop
        without it (a test's hand-written one) is asked through ``backend.tasks()``."""
        views = getattr(self.loop, "task_views", None)
        return list(views() if views is not None else self.loop.backend.tasks())

    def tasks(self) -> Doc:
        return {"tasks": [docs.task_doc(t) for t in self.task_views()]}

    def metrics(self, accept: str | None) -> tuple[bytes, str]:
        encoder, content_type = choose_encoder(accept or "")
        return encoder(self.registry), content_type

    # -- changes (the loop validates, records and logs them) ------------------------------

    def set_site(self, name: str, changes: Mapping[str, Any], caller: Caller) -> Doc:
        done = self.loop.set_site(name, dict(changes), caller.who)
        return {**self.site(name), **_saved(done)}

    def drain_site(self, name: str, caller: Caller) -> Doc:
        done = self.loop.drain_site(name, caller.who)
        return {"site": name, "message": done["message"], **_saved(done)}

    def undrain_site(self, name: str, caller: Caller) -> Doc:
        done = self.loop.undrain_site(name, caller.who)
        return {"site": name, "message": done["message"], **_saved(done)}

    def drain_node(self, node: str, caller: Caller) -> Doc:
        done = self.loop.drain_node(node, caller.who)
        return {"node": node, "task_id": done["task_id"], "message": done["message"],
                **_saved(done)}

    def pause(self, caller: Caller) -> Doc:
        done = self.loop.pause(caller.who)
        return {"paused": self.loop.controls.paused, **_saved(done)}

    def resume(self, caller: Caller) -> Doc:
        done = self.loop.resume(caller.who)
        return {"paused": self.loop.controls.paused, **_saved(done)}


def _saved(done: Mapping[str, Any]) -> Doc:
    """The loop's word on keeping the change over a restart (framework mode): ``saved``,
    and ``warning`` when it could not be saved."""
    return {k: done[k] for k in ("saved", "warning") if k in done}


from .remote import RemoteSource  # noqa: E402,F401 - here for callers; it needs the above
