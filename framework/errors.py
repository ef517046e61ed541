"""One exception tree for htcmesos.

Adapters translate library and HTTP errors into these at their boundary
(see :func:`from_http_status`); callers above the adapters only ever catch
:class:`HtcmesosError` subclasses.
"""
from __future__ import annotations

from dataclasses import dataclass


class HtcmesosError(Exception):
    """Root of every error htcmesos raises on purpose."""


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a cluster spec: where (YAML path and 1-based line) and what."""

    path: str
    line: int | None
    message: str

    def format(self, source: str | None = None) -> str:
        where = source or "<spec>"
        if self.line is not None:
            where = f"{where}:{self.line}"
        return f"{where}: {self.path or '<top>'}: {self.message}"


class SpecError(HtcmesosError):
    """The cluster spec is invalid; carries every problem found, not just the first."""

    def __init__(self, problems: list[SpecProblem], source: str | None = None):
        self.problems = list(problems)
        self.source = source
        super().__init__(self.report())

    def report(self) -> str:
        head = f"{len(self.problems)} problem(s) in {self.source or 'the spec'}:"
        return "\n".join([head] + ["  " + p.format(self.source) for p in self.problems])


class ConfigRenderError(HtcmesosError):
    """A role configuration cannot be rendered from the given spec and arguments."""


class BrokerPlanError(ConfigRenderError):
    """The spec's connection brokers cannot be planned (e.g. no room for their fixed
    addresses in the master's site pool); framework/condor/brokers.py."""


class ImageError(HtcmesosError):
    """A role or base image cannot be built (missing tool, failed build, no base)."""


class NotReady(HtcmesosError):
    """The pool cannot take this request yet (its loop has not run); ask again soon."""


class DrainRefused(HtcmesosError):
    """A startd refused to drain: one of its slots holds a claim (a job started after the
    ad the drain was decided on). Expected under load; decided again next tick."""


class BackendError(HtcmesosError):
    """A cluster backend (Mesos, Marathon, Docker, simulator) failed."""


class DiscoveryError(HtcmesosError):
    """Publishing or reading the central manager's address failed (docs/discovery.md)."""


class DiscoveryUnavailable(DiscoveryError):
    """The discovery store (ZooKeeper, the Consul agent) cannot be reached now; retry."""


class DiscoveryRejected(DiscoveryError):
    """The discovery store refused the record (Consul: 400 with its plain-text reason)."""


class ApiError(BackendError):
    """An HTTP API answered with an error status."""

    def __init__(self, status: int, message: str, url: str = ""):
        self.status = status
        self.url = url
        super().__init__(f"HTTP {status} from {url or 'server'}: {message}")


class BadRequest(ApiError):
    """400/415/422: the request was malformed or invalid."""


class Unauthorized(ApiError):
    """401/403: authentication or authorisation failed."""


class NotFound(ApiError):
    """404: the resource does not exist."""


class Conflict(ApiError):
    """409: conflicting state (e.g. an app locked by a deployment)."""


class Redirect(ApiError):
    """307: ask another server (e.g. a non-leading Mesos master); ``location`` says where."""

    def __init__(self, status: int, message: str, url: str = "", location: str = ""):
        self.location = location
        super().__init__(status, message, url)


class Unavailable(ApiError):
    """5xx: the server cannot answer now (no leader, recovering); retry with back-off."""


_STATUS_ERRORS: dict[int, type[ApiError]] = {
    400: BadRequest, 401: Unauthorized, 403: Unauthorized, 404: NotFound,
    409: Conflict, 415: BadRequest, 422: BadRequest,
}


def from_http_status(status: int, message: str, url: str = "", location: str = "") -> ApiError:
    """Map an HTTP error status to the matching exception (the only place that does)."""
    if status in (301, 302, 307, 308):
        return Redirect(status, message, url, location)
    if status >= 500:
        return Unavailable(status, message, url)
    return _STATUS_ERRORS.get(status, ApiError)(status, message, url)


class MarathonError(BackendError):
    """Marathon answered with an error status (``status``; 0 when no answer at all)."""

    def __init__(self, status: int, message: str, body: object = None):
        self.status, self.message, self.body = status, message, body
        super().__init__(message)


class MarathonLocked(MarathonError):
    """409: the app or group is locked by running deployments (``deployments``: their ids);
    wait for them, or override with ``force`` (which cancels them)."""

    def __init__(self, status: int, message: str, body: object = None,
                 deployments: list[str] | None = None):
        self.deployments = list(deployments or [])
        super().__init__(status, message, body)


class MarathonInvalid(MarathonError):
    """422 (or 400): Marathon refused what was sent; ``details`` lists (path, [errors])
    field by field, as Marathon's validators named them."""

    def __init__(self, status: int, message: str, body: object = None,
                 details: list[tuple[str, list[str]]] | None = None, what: str = ""):
        self.details = list(details or [])
        self.what = what
        fields = "; ".join(f"{path}: {', '.join(errors)}" for path, errors in self.details)
        text = f"Marathon refused {what or 'the request'}: {fields or message}"
        super().__init__(status, message, body)
        self.args = (text,)

    def __str__(self) -> str:
        return str(self.args[0])


class MarathonNotFound(MarathonError):
    """404: no such app, group, task or deployment."""


class MarathonUnavailable(MarathonError):
    """No answer (connection refused, timeout) or a 5xx from the Marathon at the URL named."""


class CalicoError(HtcmesosError):
    """Calico resources cannot be rendered, checked or written (framework/calico)."""


class CalicoInvalid(CalicoError):
    """Rendered resources (or the spec values behind them) break Calico v3's API rules;
    ``problems`` lists each as "<kind>/<name>: <field>: <what>". Nothing was written."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__(f"{len(self.problems)} invalid Calico value(s):\n"
                         + "\n".join("  " + p for p in self.problems))


class SelectorError(CalicoError):
    """A Calico label selector its parser would refuse; the message says why and where."""


class CalicoDatastoreError(CalicoError):
    """Calico's etcd datastore did not answer, refused a request, or holds something
    htcmesos will not overwrite (a key of the same name that is not its own)."""


class CalicoNetworkError(CalicoError):
    """A Docker network for a site cannot be found or created."""
