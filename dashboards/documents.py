"""The JSON documents of ``/api/v1`` (what the dashboard's page reads), built from the
status log's records (:mod:`framework.statuslog`), the operator's controls and the
backend's tasks. Pure functions; times are epoch seconds (the records' ``wall``)."""
from __future__ import annotations

from typing import Any, Iterable, Sequence
from urllib.parse import urlsplit, urlunsplit

from framework.controls import Controls, SiteControl
from framework.planner.decision import Reason
from framework.spec import SiteSpec
from framework.statuslog import OperatorAction, SiteStatus, TickStatus

#: operator actions the status document lists (newest first)
OPERATOR_IN_STATUS = 10

Doc = dict[str, Any]


def public_url(url: str | None) -> str | None:
    """``url`` without user:password (a view never shows a secret); None stays None."""
    if not url:
        return None
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def default_links(spec: Any) -> dict[str, str]:
    """The backend's own UI from the spec (``backend.mesos.master`` when it is http(s),
    ``backend.marathon.url``), for the page's header; none for zk:// or the simulator."""
    from framework.backends.views import mesos_ui, public_url as base_url

    backend = spec.backend
    if backend.type == "mesos" and backend.mesos is not None:
        ui = mesos_ui(backend.mesos.master)
        return {"Mesos": ui} if ui else {}
    if backend.type == "marathon" and backend.marathon is not None:
        ui = base_url(backend.marathon.url)
        return {"Marathon": f"{ui}/ui/"} if ui else {}
    return {}


def reason_doc(reason: Reason) -> Doc:
    return {"code": reason.code.value, "site": reason.site, "detail": reason.detail}


def site_doc(spec: SiteSpec, control: SiteControl, status: SiteStatus | None) -> Doc:
    """One site: executors and jobs as of the last tick (0 before it), bounds, desired
    size and drain as the operator set them now."""
    s = status
    return {
        "name": spec.name,
        "private": spec.private,
        "executors": {"wanted": s.wanted if s else 0, "starting": s.starting if s else 0,
                      "running": s.running if s else 0, "idle": s.idle if s else 0,
                      "draining": s.draining if s else 0},
        "jobs": {"idle": s.jobs_idle if s else 0, "running": s.jobs_running if s else 0},
        "bounds": {"min": control.min, "max": control.max},
        "desired": control.desired,
        "drained": control.drained,
        "held": s.held if s else None,
    }


def site_docs(sites: Sequence[SiteSpec], controls: Controls,
              latest: TickStatus | None) -> list[Doc]:
    """Every site of the spec, in its order."""
    by_name = {s.name: s for s in latest.sites} if latest is not None else {}
    return [site_doc(spec, controls.site(spec.name), by_name.get(spec.name)) for spec in sites]


def operator_doc(action: OperatorAction) -> Doc:
    return {"at": action.wall, "who": action.who, "what": action.what,
            "action": action.action}


def status_doc(pool: str, backend: str, latest: TickStatus, sites: list[Doc],
               controls: Controls, actions: Iterable[OperatorAction],
               links: dict[str, str] | None = None) -> Doc:
    """``GET /api/v1/status``: the pool after the last tick."""
    return {
        "pool": pool,
        "backend": backend,
        "at": latest.wall,
        "fresh": latest.fresh,
        "snapshot_age_s": latest.snapshot_age_s,
        "error": latest.error,
        "paused": controls.paused,
        "sites": sites,
        "jobs_idle_any": latest.jobs_idle_any,
        "decision": {"at": latest.wall, "actions": list(latest.actions),
                     "reasons": [reason_doc(r) for r in latest.reasons]},
        "operator": [operator_doc(a) for a in actions],
        "links": [{"name": name, "url": url} for name, url in (links or {}).items()],
    }


def history_point(tick: TickStatus) -> Doc:
    """One point of the demand/supply plot: all sites summed, and per site."""
    sites = {s.name: {"jobs_idle": s.jobs_idle, "jobs_running": s.jobs_running,
                      "wanted": s.wanted, "starting": s.starting, "running": s.running}
             for s in tick.sites}
    return {
        "at": tick.wall,
        "jobs_idle": tick.jobs_idle_any + sum(s.jobs_idle for s in tick.sites),
        "jobs_running": sum(s.jobs_running for s in tick.sites),
        "wanted": sum(s.wanted for s in tick.sites),
        "starting": sum(s.starting for s in tick.sites),
        "running": sum(s.running for s in tick.sites),
        "sites": sites,
    }


def decision_doc(tick: TickStatus) -> Doc:
    return {"at": tick.wall, "fresh": tick.fresh, "actions": list(tick.actions),
            "reasons": [reason_doc(r) for r in tick.reasons], "errors": list(tick.errors)}


def task_doc(task: Any) -> Doc:
    """One backend task (:class:`framework.backends.views.TaskView`), its link without
    user:password."""
    return {**task.to_json(), "link": public_url(task.link)}
