"""A small typed client for Marathon's REST v2 API, on requests.

Why not the PyPI ``marathon`` package: 0.13.0 raises on Python ≥ 3.10 as soon as it
serialises an app with a container (shared/DESIGN.md). Every HTTP error becomes one of
:mod:`framework.errors`' ``Marathon*`` exceptions in :func:`.wire.error_for` (the only place
that maps statuses), so callers never see requests' exceptions.

Two traps of the API are handled here once (shared/PROTOCOLS.md, "Marathon REST v2"):
``PUT /v2/apps/{id}`` merges into the stored app by default, so a whole app goes with
``partialUpdate=false``; and a body carrying ``version`` asks for a rollback, so read-only
fields are stripped from anything sent (:func:`writable_app`).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Iterable, Iterator

import requests

from ...errors import BackendError, MarathonUnavailable
from ...spec import ClusterSpec
from .wire import abort_stream, body_of, error_for, parse_sse, read_credentials

__all__ = ["MarathonClient", "MarathonTask", "Deployment", "client_for", "writable_app",
           "error_for", "parse_sse", "read_credentials", "READ_ONLY_APP_FIELDS"]

#: Fields Marathon reports but never takes back (sending ``version`` means "roll back").
READ_ONLY_APP_FIELDS = frozenset({
    "version", "versionInfo", "tasksStaged", "tasksRunning", "tasksHealthy",
    "tasksUnhealthy", "deployments", "tasks", "lastTaskFailure", "readinessCheckResults",
    "taskStats"})


@dataclass(frozen=True)
class Deployment:
    """What a write started: Marathon's deployment id and the new version."""

    id: str
    version: str

    @classmethod
    def from_json(cls, body: Any) -> "Deployment":
        body = body if isinstance(body, dict) else {}
        return cls(str(body.get("deploymentId") or ""), str(body.get("version") or ""))


@dataclass(frozen=True)
class MarathonTask:
    """One task of an app as ``GET /v2/apps/{id}/tasks`` reports it. ``healthy`` is None
    while no health result exists yet (Marathon's grace period)."""

    id: str
    app_id: str
    host: str
    agent_id: str
    state: str
    ip_addresses: tuple[str, ...]
    healthy: bool | None
    started_at: str | None
    version: str | None

    @classmethod
    def from_json(cls, t: dict[str, Any]) -> "MarathonTask":
        results = t.get("healthCheckResults") or []
        healthy = all(bool(r.get("alive")) for r in results) if results else None
        return cls(id=str(t.get("id", "")), app_id=str(t.get("appId", "")),
                   host=str(t.get("host", "")), agent_id=str(t.get("slaveId", "")),
                   state=str(t.get("state", "")),
                   ip_addresses=tuple(str(a.get("ipAddress", ""))
                                      for a in t.get("ipAddresses") or []),
                   healthy=healthy, started_at=t.get("startedAt"), version=t.get("version"))


def writable_app(app: dict[str, Any]) -> dict[str, Any]:
    """``app`` without the fields Marathon reports but must never be sent back."""
    return {k: v for k, v in app.items() if k not in READ_ONLY_APP_FIELDS}


class MarathonClient:
    """REST v2 at ``url``; ``timeout_s`` per request; ``auth``: (user, password)."""

    def __init__(self, url: str, timeout_s: float = 10.0,
                 auth: tuple[str, str] | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.session = requests.Session()
        self.session.headers.update({"Accept": "application/json"})
        if auth is not None:
            self.session.auth = auth

    def __repr__(self) -> str:           # never shows the credentials
        return f"MarathonClient({self.url!r})"

    # -- plumbing ---------------------------------------------------------------------
    def _request(self, method: str, path: str, *, what: str = "", params: Any = None,
                 body: Any = None, allow_404: bool = False) -> Any:
        url = f"{self.url}{path}"
        try:
            resp = self.session.request(method, url, params=params, json=body,
                                        timeout=self.timeout_s)
        except requests.RequestException as exc:
            reason = type(exc).__name__ if isinstance(exc, requests.Timeout) else \
                str(exc).splitlines()[0][:160]
            raise MarathonUnavailable(0, f"no answer from Marathon at {self.url} "
                                         f"({method} {path}: {reason})") from None
        if allow_404 and resp.status_code == 404:
            return None
        if resp.status_code >= 400:
            raise error_for(resp.status_code, body_of(resp), url, what)
        return body_of(resp) if resp.content else None

    @staticmethod
    def _path(kind: str, id_: str) -> str:
        return f"/v2/{kind}/{id_.strip('/')}"

    @staticmethod
    def _force(force: bool) -> dict[str, str]:
        return {"force": "true"} if force else {}

    # -- API ----------------------------------------------------------------------------
    def ping(self) -> str:
        """``pong`` when Marathon answers."""
        return str(self._request("GET", "/ping") or "").strip()

    def info(self) -> dict[str, Any]:
        return self._request("GET", "/v2/info")

    def get_group(self, id_: str) -> dict[str, Any] | None:
        """The group with its apps, or None if it does not exist."""
        return self._request("GET", self._path("groups", id_), what=id_,
                             params={"embed": "group.apps"}, allow_404=True)

    def create_group(self, group: dict[str, Any]) -> Deployment:
        return Deployment.from_json(self._request("POST", "/v2/groups", what=group.get("id", ""),
                                                  body=group))

    def put_group(self, id_: str, group: dict[str, Any], force: bool = False) -> Deployment:
        """Create or update; an ``apps`` list removes the apps it does not name."""
        return Deployment.from_json(self._request("PUT", self._path("groups", id_), what=id_,
                                                  params=self._force(force), body=group))

    def delete_group(self, id_: str, force: bool = False) -> Deployment:
        return Deployment.from_json(self._request("DELETE", self._path("groups", id_), what=id_,
                                                  params=self._force(force)))

    def get_app(self, id_: str) -> dict[str, Any] | None:
        body = self._request("GET", self._path("apps", id_), what=id_, allow_404=True)
        return body.get("app") if isinstance(body, dict) else None

    def put_app(self, id_: str, app: dict[str, Any], force: bool = False) -> Deployment:
        """Replace the whole app (``partialUpdate=false``: PUT merges by default)."""
        params = {"partialUpdate": "false", **self._force(force)}
        return Deployment.from_json(self._request("PUT", self._path("apps", id_), what=id_,
                                                  params=params, body=writable_app(app)))

    def scale_app(self, id_: str, instances: int, force: bool = False) -> Deployment:
        """A partial PUT of ``instances`` alone (everything else stays as stored)."""
        return Deployment.from_json(self._request("PUT", self._path("apps", id_), what=id_,
                                                  params=self._force(force),
                                                  body={"instances": int(instances)}))

    def app_tasks(self, id_: str) -> list[MarathonTask]:
        body = self._request("GET", self._path("apps", id_) + "/tasks", what=id_)
        return [MarathonTask.from_json(t) for t in (body or {}).get("tasks") or []]

    def kill_tasks(self, ids: list[str], scale: bool = True,
                   force: bool = False) -> Deployment | None:
        """Kill exactly these tasks in one request; ``scale`` lowers ``instances`` by as
        many (so Marathon starts no replacements). None when ``scale`` is off (Marathon
        answers with the tasks, no deployment)."""
        params = {**({"scale": "true"} if scale else {}), **self._force(force)}
        body = self._request("POST", "/v2/tasks/delete", params=params,
                             body={"ids": list(ids)}, what="tasks")
        return Deployment.from_json(body) if scale else None

    def deployments(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/v2/deployments") or [])

    def cancel_deployment(self, id_: str, force: bool = False) -> Deployment | None:
        """Roll the deployment back (a new deployment), or with ``force`` just stop it."""
        body = self._request("DELETE", f"/v2/deployments/{id_}", what=f"deployment {id_}",
                             params=self._force(force))
        return Deployment.from_json(body) if isinstance(body, dict) and body else None

    def events(self, types: Iterable[str] = (), stop: threading.Event | None = None
               ) -> Iterator[tuple[str, Any]]:
        """(event type, data) from ``GET /v2/events`` until ``stop`` is set (or the stream
        ends). The stream is closed from a watcher thread, so a quiet stream does not keep
        the caller waiting after ``stop``."""
        stop = stop or threading.Event()
        params = [("event_type", t) for t in types]
        session = requests.Session()      # its own: the stream is read in another thread
        session.auth = self.session.auth
        try:
            resp = session.get(f"{self.url}/v2/events", params=params, stream=True,
                                    headers={"Accept": "text/event-stream"},
                                    timeout=(self.timeout_s, None))
        except requests.RequestException as exc:
            raise MarathonUnavailable(0, f"no answer from Marathon at {self.url} "
                                         f"(events: {str(exc).splitlines()[0][:160]})") from None
        if resp.status_code >= 400:
            raise error_for(resp.status_code, body_of(resp), f"{self.url}/v2/events", "events")
        done = threading.Event()

        def watch() -> None:
            while not done.is_set():
                if stop.wait(0.1):
                    abort_stream(resp)
                    return

        threading.Thread(target=watch, name="marathon-events-stop", daemon=True).start()
        resp.encoding = resp.encoding or "utf-8"     # SSE is UTF-8 (a bare content type)
        try:
            lines = resp.iter_lines(decode_unicode=True)
            for event in parse_sse(line or "" for line in lines):
                if stop.is_set():
                    return
                yield event
        except (requests.RequestException, AttributeError, ValueError):
            if not stop.is_set():     # closed under us only when asked to stop
                raise MarathonUnavailable(0, f"the event stream of Marathon at {self.url} "
                                             f"ended") from None
        finally:
            done.set()
            resp.close()


def client_for(spec: ClusterSpec, url: str | None = None,
               timeout_s: float = 10.0) -> MarathonClient:
    """The client of the spec's ``backend.marathon`` (``url`` overrides its URL)."""
    m = spec.backend.marathon
    if m is None and url is None:
        raise BackendError("the spec has no backend.marathon block (give --marathon URL)")
    auth = read_credentials(m.credentials_file) if m is not None and m.credentials_file \
        else None
    return MarathonClient(url or m.url, timeout_s=timeout_s, auth=auth)
