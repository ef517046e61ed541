"""REST v2 front of the emulated Marathon (``api/v2/*Resource.scala`` upstream).

Every request is recorded as (method, path with query, status) in the owner's
``requests``. Answers are JSON; errors carry Marathon's bodies (see :mod:`.validate`).
"""
from __future__ import annotations

import json
import logging
import queue
import socket
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from .events import CLOSED
from .validate import AppInvalid
from ..httpreply import send_reply

log = logging.getLogger(__name__)
VERSION = "1.11.24"


def _flag(query: dict[str, list[str]], name: str, default: bool = False) -> bool:
    values = query.get(name)
    if not values:
        return default
    return values[-1].strip().lower() in ("true", "1", "")


class MarathonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = f"Marathon/{VERSION} (htcmesos emulator)"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
        log.debug("%s %s", self.address_string(), format % args)

    @property
    def owner(self) -> Any:
        return self.server.owner  # type: ignore[attr-defined]

    # -- plumbing --------------------------------------------------------------------------

    def _reply(self, status: int, body: Any = None, headers: dict[str, str] | None = None,
               text: str | None = None) -> None:
        send_reply(self, self.owner, status, body, text, headers)

    def _json_body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            return json.loads(raw.decode("utf-8") or "null")
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise AppInvalid(400, {"message": "Invalid JSON",
                                   "details": [{"path": "/", "errors": [str(exc)]}]}) from None

    def _deployment_result(self, dep: Any, status: int = 200,
                           extra: dict[str, str] | None = None) -> None:
        headers = {"Marathon-Deployment-Id": dep.id}
        headers.update(extra or {})
        self._reply(status, {"version": dep.version, "deploymentId": dep.id}, headers)

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        path = unquote(url.path).rstrip("/") or "/"
        query = parse_qs(url.query, keep_blank_values=True)
        try:
            handled = self._route(self.command, path, query)
            if not handled:
                self._reply(404, {"message": "HTTP 404 Not Found"})
        except AppInvalid as exc:
            self._reply(exc.status, exc.body)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # noqa: BLE001 - an emulator bug is a 500, logged
            log.exception("marathon emulator: %s %s failed", self.command, self.path)
            self._reply(500, {"message": f"{type(exc).__name__}: {exc}"})
        finally:
            self.owner._flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _dispatch

    # -- routes ----------------------------------------------------------------------------

    def _route(self, method: str, path: str, query: dict[str, list[str]]) -> bool:
        store = self.owner.store
        force = _flag(query, "force")
        if path == "/ping":
            return self._only(method, ("GET", "HEAD")) or self._reply(200, text="pong") or True
        if path == "/v2/info":
            return self._only(method, ("GET",)) or self._reply(200, self.owner.info()) or True
        if path == "/v2/leader":
            return self._only(method, ("GET",)) or \
                self._reply(200, {"leader": self.owner.leader}) or True
        if path == "/v2/events":
            return self._only(method, ("GET",)) or self._events(query) or True
        if path == "/v2/deployments":
            return self._only(method, ("GET",)) or self._reply(200, store.deployments_json()) or True
        if path.startswith("/v2/deployments/"):
            return self._only(method, ("DELETE",)) or self._cancel(path[16:], force) or True
        if path == "/v2/queue":
            return self._only(method, ("GET",)) or self._reply(200, {"queue": []}) or True
        if path == "/v2/tasks/delete":
            return self._only(method, ("POST",)) or self._tasks_delete(query, force) or True
        if path == "/v2/tasks":
            with store.lock:
                tasks = [store.task_json(t) for t in store.tasks.values()]
            return self._only(method, ("GET",)) or self._reply(200, {"tasks": tasks}) or True
        if path == "/v2/apps":
            if method == "GET":
                prefix = (query.get("id") or [None])[-1]
                embed = any(e in ("apps.tasks", "app.tasks") for e in query.get("embed", []))
                self._reply(200, {"apps": store.apps_json(prefix, embed)})
                return True
            return self._only(method, ("GET", "POST")) or self._create_app(force) or True
        if path.startswith("/v2/apps/"):
            return self._app_route(method, path[8:], query, force)
        if path == "/v2/groups" or path.startswith("/v2/groups/"):
            return self._group_route(method, path[10:] or "/", query, force)
        return False

    def _only(self, method: str, allowed: tuple[str, ...]) -> bool:
        """Answer 405 (True) unless ``method`` is allowed."""
        if method in allowed:
            return False
        self._reply(405, {"message": "HTTP 405 Method Not Allowed"}, {"Allow": ", ".join(allowed)})
        return True

    def _create_app(self, force: bool) -> None:
        app, dep = self.owner.store.create_app(self._json_body(), force)
        self._reply(201, app, {"Location": f"{self.owner.url}/v2/apps{app['id']}",
                               "Marathon-Deployment-Id": dep.id})

    def _app_route(self, method: str, rest: str, query: dict[str, list[str]], force: bool) -> bool:
        store = self.owner.store
        if "/tasks" in rest and (rest.endswith("/tasks") or "/tasks/" in rest):
            app_id, _, task_part = rest.partition("/tasks")
            task_id = task_part.lstrip("/")
            if store.app_json(app_id) is None:
                raise AppInvalid(404, {"message": f"App '{app_id}' does not exist"})
            if method == "GET" and not task_id:
                self._reply(200, {"tasks": store.tasks_json(app_id)})
                return True
            if self._only(method, ("DELETE",) if task_id else ("GET", "DELETE")):
                return True
            ids = [task_id] if task_id else [t["id"] for t in store.tasks_json(app_id)]
            if task_id and not any(t["id"] == task_id for t in store.tasks_json(app_id)):
                raise AppInvalid(404, {"message": f"Task '{task_id}' does not exist"})
            dep, killed = store.kill_tasks(ids, _flag(query, "scale"), force, app_id=app_id)
            if dep is not None:
                self._deployment_result(dep)
            elif task_id:
                self._reply(200, {"task": killed[0] if killed else None})
            else:
                self._reply(200, {"tasks": killed})
            return True
        if rest.endswith("/restart"):
            if not self._only(method, ("POST",)):
                self._deployment_result(store.restart_app(rest[:-8], force))
            return True
        if "/versions" in rest and (rest.endswith("/versions") or "/versions/" in rest):
            app_id, _, version = rest.partition("/versions")
            version = version.lstrip("/")
            if self._only(method, ("GET",)):
                return True
            versions = store.app_versions(app_id)
            if versions is None:
                raise AppInvalid(404, {"message": f"App '{dep_app(app_id)}' does not exist"})
            if not version:
                self._reply(200, {"versions": versions})
                return True
            spec = store.app_version(app_id, version)
            if spec is None:
                raise AppInvalid(404, {"message": f"App '{dep_app(app_id)}' does not exist in "
                                                  f"version {version}"})
            self._reply(200, spec)
            return True
        app_id = rest
        if method == "GET":
            embed = any(e in ("app.tasks", "apps.tasks") for e in query.get("embed", []))
            app = store.app_json(app_id, embed)
            if app is None:
                raise AppInvalid(404, {"message": f"App '{app_id}' does not exist"})
            self._reply(200, {"app": app})
        elif method in ("PUT", "PATCH"):
            partial = True if method == "PATCH" else _flag(query, "partialUpdate", True)
            dep, created = store.put_app(app_id, self._json_body(), partial, force)
            extra = {"Location": f"{self.owner.url}/v2/apps{dep_app(app_id)}"} if created else None
            self._deployment_result(dep, 201 if created else 200, extra)
        elif method == "DELETE":
            # DELETE /v2/apps/{id} forces by default (AppsResource.delete: force = true)
            self._deployment_result(store.delete_app(app_id, _flag(query, "force", True)))
        else:
            self._only(method, ("GET", "PUT", "PATCH", "DELETE"))
        return True

    def _group_route(self, method: str, gid: str, query: dict[str, list[str]], force: bool) -> bool:
        store = self.owner.store
        if method == "GET":
            embed = query.get("embed")
            group = store.group_json(gid, embed_apps=not embed or "group.apps" in embed)
            if group is None:
                raise AppInvalid(404, {"message": f"Group '{dep_app(gid)}' does not exist"})
            self._reply(200, group)
        elif method == "POST":
            dep = store.put_group(gid, self._json_body(), force, create=True)
            self._deployment_result(dep, 201)
        elif method == "PUT":
            dep = store.put_group(gid, self._json_body(), force, create=False)
            self._deployment_result(dep)
        elif method == "DELETE":
            self._deployment_result(store.delete_group(gid, force))
        else:
            self._only(method, ("GET", "POST", "PUT", "DELETE"))
        return True

    def _tasks_delete(self, query: dict[str, list[str]], force: bool) -> None:
        body = self._json_body()
        ids = body.get("ids") if isinstance(body, dict) else None
        if not isinstance(ids, list):
            raise AppInvalid(422, {"message": "Invalid JSON",
                                   "details": [{"path": "/ids", "errors": ["error.path.missing"]}]})
        dep, killed = self.owner.store.kill_tasks(ids, _flag(query, "scale"), force)
        if dep is not None:
            self._deployment_result(dep)
        else:
            self._reply(200, {"tasks": killed})

    def _cancel(self, dep_id: str, force: bool) -> None:
        try:
            with self.owner.store.lock:
                rollback = self.owner.store.cancel_deployment(dep_id, force)
                self.owner.store.reconcile()
        except KeyError:
            raise AppInvalid(404, {"message": f"DeploymentPlan {dep_id} does not exist"}) from None
        if rollback is None:
            self._reply(202)
        else:
            self._deployment_result(rollback)

    # -- events ----------------------------------------------------------------------------

    def _events(self, query: dict[str, list[str]]) -> None:
        accept = self.headers.get("Accept") or ""
        if "text/event-stream" not in accept:
            self._reply(406, {"message": "HTTP 406 Not Acceptable: use "
                                         "'Accept: text/event-stream' for the event stream"})
            return
        hub = self.owner.hub
        self.owner._record(self.command, self.path, 200)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")   # one chunk per event, as Jetty
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        sub = hub.subscribe(frozenset(query.get("event_type", [])), self.client_address[0])
        try:
            while not self.owner.stopping.is_set() and not sub.closed.is_set():
                try:
                    item = sub.queue.get(timeout=0.5)
                except queue.Empty:
                    continue
                if item is CLOSED:
                    break
                self.wfile.write(b"%x\r\n%s\r\n" % (len(item), item))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except (OSError, socket.timeout):
            pass
        finally:
            hub.unsubscribe(sub)


def dep_app(path: str) -> str:
    """``path`` as an absolute id (``x/y`` → ``/x/y``)."""
    return "/" + path.strip("/")
