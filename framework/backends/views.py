"""What the operators' views show of a backend's tasks (every role), and the links to the
backend's own UI. Read-only, JSON-ready, never a secret: a URL's user and password are
dropped before it is shown."""
from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class TaskView:
    """One task as the dashboard lists it."""

    task_id: str
    role: str                   # master | submitter | executor | broker
    site: str | None
    state: str                  # launching | starting | running | killing | unreachable | …
    healthy: bool | None        # None: no health result yet
    ip: str | None
    agent: str | None           # the Mesos agent id (Marathon: its id, else its host)
    link: str | None            # the task (Mesos) or its app (Marathon) in that UI

    def to_json(self) -> dict:
        return {"id": self.task_id, "role": self.role, "site": self.site, "state": self.state,
                "healthy": self.healthy, "ip": self.ip, "agent": self.agent, "link": self.link}


def public_url(url: str) -> str | None:
    """``url`` (http or https) without user, password, query or fragment and without the
    trailing slash; None for any other scheme (``zk://``: no single UI to link to)."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        host, port = parts.hostname, parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not host:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def mesos_ui(master: str) -> str | None:
    """The Mesos UI's base URL from ``backend.mesos.master`` (the first of a comma list of
    http(s) masters; None for ``zk://``)."""
    first = master.split(",")[0].strip()
    return public_url(first) if first else None


def mesos_task_link(ui: str | None, framework_id: str | None, agent: str | None,
                    task_id: str) -> str | None:
    """The task's page in the Mesos UI (its executor in the framework on the agent).

    The route is the UI's ``/agents/:agent_id/frameworks/:framework_id/executors/
    :executor_id`` (apache/mesos src/webui/app/app.js, ``$routeProvider``), and htcmesos'
    tasks are command tasks, whose executor id is the task id ("Command executors share
    the same id as the task": apache/mesos src/slave/slave.cpp, getExecutorInfo)."""
    if not (ui and framework_id and agent):
        return None
    q = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731
    return f"{ui}/#/agents/{q(agent)}/frameworks/{q(framework_id)}/executors/{q(task_id)}"


def marathon_app_link(marathon: str, app_id: str) -> str | None:
    """The app's page in Marathon's UI: Marathon serves the UI under ``/ui/``
    (mesosphere/marathon src/main/scala/mesosphere/marathon/api/WebJarServlet.scala: ``/``
    redirects to ``ui/``), whose route ``apps/:appId`` takes the app id through
    ``encodeURIComponent`` (mesosphere/marathon-ui src/js/main.jsx and
    components/AppListItemComponent.jsx). Marathon's ids (lower case letters, digits,
    ``-``, ``.``, ``/``) quote the same with ``quote(..., safe='')``."""
    base = public_url(marathon)
    return f"{base}/ui/#/apps/{urllib.parse.quote(app_id, safe='')}" if base else None
