"""A pool served by a running framework's REST API (``htcmesos dashboard --api URL``).

Reads fetch the same ``/api/v1`` documents; changes are sent on with the caller's
Authorization header (the framework checks the token and logs who). The framework's
error status and message come back unchanged; an API that does not answer is a 502
naming its URL."""
from __future__ import annotations

import logging
from typing import Any, Mapping

import requests

from framework.api import segment

from .documents import public_url
from .source import Caller, Doc, SourceError

log = logging.getLogger(__name__)

#: (connect, read) seconds for one request to the framework's API
TIMEOUT_S = (2.0, 10.0)


class RemoteSource:
    """The framework's API at ``api_url`` (``http://host:port``). Messages and logs name
    it without a user:password it may hold (``shown``); a redirect is not followed (the
    caller's token goes to that URL only)."""

    forwards_auth = True
    clues = None

    def __init__(self, api_url: str, timeout: float | tuple[float, float] = TIMEOUT_S) -> None:
        self.url, self.timeout = api_url.rstrip("/"), timeout
        self.shown = public_url(self.url) or self.url

    def _call(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
              body: Any = None, caller: Caller | None = None,
              accept: str | None = None) -> requests.Response:
        headers = {}
        if caller is not None and caller.authorization:
            headers["Authorization"] = caller.authorization
        if accept:
            headers["Accept"] = accept
        try:
            with requests.Session() as session:     # one per request: threads, no pooling
                session.trust_env = False           # no proxy, no .netrc for the pool's API
                resp = session.request(method, self.url + path, params=params, json=body,
                                       headers=headers, timeout=self.timeout,
                                       allow_redirects=False)
        except requests.RequestException as exc:
            raise SourceError(502, f"the htcmesos API at {self.shown} does not answer: "
                                   f"{type(exc).__name__}") from None
        if 300 <= resp.status_code < 400 or resp.status_code < 200:
            where = public_url(resp.headers.get("Location"))
            raise SourceError(502, f"the htcmesos API at {self.shown} answered HTTP "
                                   f"{resp.status_code}" + (f": a redirect (to {where}) is not "
                                                            f"followed" if where else ""))
        if resp.status_code >= 400:
            try:
                doc = resp.json()
                message = doc["error"] if isinstance(doc, dict) and "error" in doc else None
            except ValueError:
                message = None
            if message is None:
                message = f"the htcmesos API at {self.shown} answered HTTP {resp.status_code}"
            headers = {k: resp.headers[k] for k in ("WWW-Authenticate", "Allow")
                       if k in resp.headers}
            raise SourceError(resp.status_code, str(message), headers)
        return resp

    def _doc(self, method: str, path: str, **kw: Any) -> Doc:
        resp = self._call(method, path, **kw)
        try:
            doc = resp.json()
        except ValueError:
            raise SourceError(502, f"the htcmesos API at {self.shown} answered {path} with "
                                   f"something that is not JSON") from None
        if not isinstance(doc, dict):
            raise SourceError(502, f"the htcmesos API at {self.shown} answered {path} with "
                                   f"JSON that is not an object")
        return doc

    # -- reads ---------------------------------------------------------------------------

    def status(self) -> Doc:
        return self._doc("GET", "/api/v1/status")

    def sites(self) -> Doc:
        return self._doc("GET", "/api/v1/sites")

    def site(self, name: str) -> Doc:
        return self._doc("GET", f"/api/v1/sites/{segment(name)}")

    def autoscaling(self) -> Doc:
        return self._doc("GET", "/api/v1/autoscaling")

    def history(self, limit: int) -> Doc:
        return self._doc("GET", "/api/v1/history", params={"limit": limit})

    def decisions(self, limit: int) -> Doc:
        return self._doc("GET", "/api/v1/decisions", params={"limit": limit})

    def tasks(self) -> Doc:
        return self._doc("GET", "/api/v1/tasks")

    def metrics(self, accept: str | None) -> tuple[bytes, str]:
        resp = self._call("GET", "/metrics", accept=accept)
        return resp.content, resp.headers.get("Content-Type", "text/plain; version=0.0.4")

    # -- changes -------------------------------------------------------------------------

    def _change(self, method: str, path: str, caller: Caller, body: Any = None) -> Doc:
        doc = self._doc(method, path, body=body, caller=caller)
        log.info("dashboard: %s %s for %s passed on to %s", method, path, caller.who,
                 self.shown)
        return doc

    def set_site(self, name: str, changes: Mapping[str, Any], caller: Caller) -> Doc:
        return self._change("PATCH", f"/api/v1/sites/{segment(name)}", caller, dict(changes))

    def drain_site(self, name: str, caller: Caller) -> Doc:
        return self._change("POST", f"/api/v1/sites/{segment(name)}/drain", caller)

    def undrain_site(self, name: str, caller: Caller) -> Doc:
        return self._change("POST", f"/api/v1/sites/{segment(name)}/undrain", caller)

    def drain_node(self, node: str, caller: Caller) -> Doc:
        return self._change("POST", f"/api/v1/nodes/{segment(node)}/drain", caller)

    def pause(self, caller: Caller) -> Doc:
        return self._change("POST", "/api/v1/autoscaling/pause", caller)

    def resume(self, caller: Caller) -> Doc:
        return self._change("POST", "/api/v1/autoscaling/resume", caller)
