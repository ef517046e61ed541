"""A client of the framework's HTTP API (:mod:`.server`), for the command line."""
from __future__ import annotations

from typing import Any

import requests

from ..errors import ApiError, BackendError, from_http_status

#: (connect, read) seconds: CLUES kills its power commands after TIMEOUT_COMMANDS (10 s by
#: default), start-up included, and requests applies each part on its own
TIMEOUT_S = (2.0, 4.0)


class ApiClient:
    """Calls ``url``'s API with ``token`` (a bearer token) when given. A redirect is not
    followed (a PATCH or POST must not turn into a GET elsewhere): it is an ApiError
    (:class:`~framework.errors.Redirect`) saying where it points."""

    def __init__(self, url: str, token: str | None = None,
                 timeout_s: tuple[float, float] = TIMEOUT_S) -> None:
        self.url, self.timeout_s = url.rstrip("/"), timeout_s
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def get(self, path: str) -> Any:
        return self._call("GET", path)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        return self._call("POST", path, body)

    def patch(self, path: str, body: dict[str, Any]) -> Any:
        return self._call("PATCH", path, body)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        url = self.url + path
        try:
            resp = requests.request(method, url, headers=self.headers, timeout=self.timeout_s,
                                    json=body, allow_redirects=False)
        except requests.RequestException as exc:
            raise BackendError(f"the htcmesos API at {self.url} does not answer (is the "
                               f"framework running with api.listen?): "
                               f"{type(exc).__name__}") from None
        if 300 <= resp.status_code < 400:
            where = resp.headers.get("Location", "")
            said = f"a redirect to {where} is not followed" if where else "a redirect"
            raise from_http_status(resp.status_code, said, url, where)
        try:
            doc = resp.json()
        except ValueError:
            raise ApiError(resp.status_code, f"not JSON: {resp.text[:200]!r}", url) from None
        if resp.status_code >= 400:
            message = doc.get("error", resp.text) if isinstance(doc, dict) else resp.text
            raise from_http_status(resp.status_code, str(message), url)
        return doc
