"""The OpenAPI 3.0.3 document of ``/api/v1`` (``GET /api/v1/openapi.json``).

Written by hand next to the routes (:mod:`.api`); a test checks that both name the same
paths and methods."""
from __future__ import annotations

import copy
from typing import Any

from .strict import MAX_COUNT

VERSION = "1.0.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _int(description: str, nullable: bool = False,
         maximum: int | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "integer", "minimum": 0, "description": description}
    if maximum is not None:
        schema["maximum"] = maximum
    if nullable:
        schema["nullable"] = True
    return schema


def _obj(props: dict[str, Any], required: bool = True, **extra: Any) -> dict[str, Any]:
    schema = {"type": "object", "properties": props, **extra}
    if required:
        schema["required"] = list(props)
    return schema


_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_NUM = {"type": "number"}
_BOOL = {"type": "boolean"}

#: what a change's answer adds in framework mode: whether the change was saved with the
#: framework's state (it survives a restart), and why not
_SAVED = {"saved": {**_BOOL, "description": "Kept over a framework restart (framework "
                                            "mode only)"},
          "warning": {**_STR, "description": "Why the change could not be saved"}}


def _changed(props: dict[str, Any]) -> dict[str, Any]:
    """A change's answer: ``props`` (all there), and the optional ``saved``/``warning``."""
    return {**_obj(props), "properties": {**props, **_SAVED}}


_SITE: dict[str, Any] = {
    "name": _STR,
    "private": {**_BOOL, "description": "No inbound connections (CCB)"},
    "executors": _obj({k: _int(f"Executors {k} (last tick)") for k in
                       ("wanted", "starting", "running", "idle", "draining")}),
    "jobs": _obj({"idle": _int("Idle jobs pinned to this site"),
                  "running": _int("Jobs running here")}),
    "bounds": _obj({"min": _int("Least executors"), "max": _int("Most executors")}),
    "desired": _int("The operator's desired size (null: the queue decides)", True),
    "drained": {**_BOOL, "description": "Drained by the operator"},
    "held": {**_NSTR, "description": "Why the backend launches nothing here now"}}

SCHEMAS: dict[str, Any] = {
    "Error": _obj({"error": {"type": "string", "description": "What is wrong"}}),
    "Reason": _obj({"code": {**_STR, "description": "Reason code (framework.planner Code)"},
                    "site": _STR, "detail": _STR}),
    "Site": _obj(_SITE),
    "SiteChanged": _changed(_SITE),
    "Sites": _obj({"sites": {"type": "array", "items": _ref("Site")}}),
    "OperatorAction": _obj({"at": {**_NUM, "description": "Epoch s"}, "who": _STR,
                            "what": _STR, "action": _STR}),
    "Status": _obj({
        "pool": _STR, "backend": {"type": "string", "enum": ["mesos", "marathon", "sim"]},
        "at": {**_NUM, "description": "Epoch s of the last tick"},
        "fresh": _BOOL, "snapshot_age_s": _NUM, "error": _NSTR, "paused": _BOOL,
        "sites": {"type": "array", "items": _ref("Site")},
        "jobs_idle_any": _int("Idle jobs that may run at any site"),
        "decision": _obj({"at": _NUM, "actions": {"type": "array", "items": _STR},
                          "reasons": {"type": "array", "items": _ref("Reason")}}),
        "operator": {"type": "array", "items": _ref("OperatorAction"),
                     "description": "The last operator actions, newest first"},
        "links": {"type": "array", "items": _obj({"name": _STR, "url": _STR})}}),
    "SiteChanges": _obj({"min": _int("Least executors", maximum=MAX_COUNT),
                         "max": _int("Most executors", maximum=MAX_COUNT),
                         "desired": _int("Hold the site at this size (null: the queue "
                                         "decides)", True, MAX_COUNT)},
                        required=False, additionalProperties=False, minProperties=1),
    "Empty": _obj({}, required=False, additionalProperties=False),
    "SiteDrain": _changed({"site": _STR, "message": _STR}),
    "NodeDrain": _changed({"node": _STR, "task_id": _STR, "message": _STR}),
    "Paused": _changed({"paused": _BOOL}),
    "Counts": _obj({k: _int(k) for k in ("jobs_idle", "jobs_running", "wanted", "starting",
                                          "running")}),
    "History": _obj({"points": {"type": "array", "items": _obj({
        "at": _NUM, **{k: _int(k) for k in ("jobs_idle", "jobs_running", "wanted",
                                           "starting", "running")},
        "sites": {"type": "object", "additionalProperties": _ref("Counts")}})}}),
    "Decisions": _obj({"decisions": {"type": "array", "items": _obj({
        "at": _NUM, "fresh": _BOOL, "actions": {"type": "array", "items": _STR},
        "reasons": {"type": "array", "items": _ref("Reason")},
        "errors": {"type": "array", "items": _STR}})}}),
    "Tasks": _obj({"tasks": {"type": "array", "items": _obj({
        "id": _STR, "role": _STR, "site": _NSTR, "state": _STR,
        "healthy": {**_BOOL, "nullable": True}, "ip": _NSTR, "agent": _NSTR,
        "link": {**_NSTR, "description": "The task in the Mesos or Marathon UI"}})}}),
}

_ERRORS = {
    "400": "Bad values or body (the message names the field)",
    "401": "Bearer token missing or wrong",
    "403": "Changes are disabled: no api.token_file",
    "404": "No such site, node or resource (the message names it)",
    "409": "Operators cannot change this pool: CLUES sizes it (autoscaling.driver: clues)",
    "413": "A body over 64 KiB",
    "415": "The body is not application/json",
    "503": "No tick yet",
}


def _answer(description: str, schema: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": _ref(schema)}}}


def _errors(*codes: str) -> dict[str, Any]:
    out = {code: _answer(_ERRORS[code], "Error") for code in codes}
    if "401" in out:
        out["401"]["headers"] = {"WWW-Authenticate": {
            "description": 'Bearer realm="htcmesos"', "schema": _STR}}
    return out


def _param(name: str, where: str = "path", description: str = "") -> dict[str, Any]:
    if where == "path":
        return {"name": name, "in": "path", "required": True, "schema": _STR,
                "description": description}
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": {"type": "integer", "minimum": 1}}


def _read(summary: str, ok: str, *codes: str, params: list | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {"200": _answer("OK", ok),
                                                            **_errors("400", *codes)}}
    if params:
        op["parameters"] = params
    return op


def _change(summary: str, status: str, ok: str, body: str, *codes: str,
            params: list | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {
        "summary": summary, "security": [{"bearer": []}],
        "requestBody": {"required": body == "SiteChanges", "content": {
            "application/json": {"schema": _ref(body)}}},
        "responses": {status: _answer("Done", ok),
                      **_errors("400", "401", "403", "409", "413", "415", *codes)}}
    if params:
        op["parameters"] = params
    return op


SITE = _param("site", description="A site's name")
NODE = _param("node", description="An executor: task id, startd name (slot1@host) or host")
_SET_SITE = _change("Change a site's bounds and desired size", "200", "SiteChanged",
                    "SiteChanges", "404", params=[SITE])


def document() -> dict[str, Any]:
    """The OpenAPI document (a new dict each call)."""
    paths: dict[str, Any] = {
        "/api/v1/status": {"get": _read("The pool after the last tick", "Status", "503")},
        "/api/v1/sites": {"get": _read("Every site", "Sites")},
        "/api/v1/sites/{site}": {
            "get": _read("One site", "Site", "404", params=[SITE]),
            "patch": _SET_SITE, "put": _SET_SITE},
        "/api/v1/sites/{site}/drain": {"post": _change(
            "Drain every executor of the site (jobs finish); launch nothing there",
            "202", "SiteDrain", "Empty", "404", params=[SITE])},
        "/api/v1/sites/{site}/undrain": {"post": _change(
            "Give a drained site back to the autoscaler", "200", "SiteDrain", "Empty", "404",
            params=[SITE])},
        "/api/v1/nodes/{node}/drain": {"post": _change(
            "Drain one executor (its jobs finish), then remove it", "202", "NodeDrain",
            "Empty", "404", params=[NODE])},
        "/api/v1/autoscaling": {"get": _read("Whether autoscaling is paused", "Paused")},
        "/api/v1/autoscaling/pause": {"post": _change(
            "Pause autoscaling (minimums, desired sizes, operator drains go on)", "200",
            "Paused", "Empty")},
        "/api/v1/autoscaling/resume": {"post": _change("Resume autoscaling", "200",
                                                       "Paused", "Empty")},
        "/api/v1/history": {"get": _read(
            "Demand and supply over time, oldest first", "History",
            params=[_param("limit", "query", "Most points (default 600)")])},
        "/api/v1/decisions": {"get": _read(
            "The latest notable decisions, newest first", "Decisions",
            params=[_param("limit", "query", "Most decisions (default 50)")])},
        "/api/v1/tasks": {"get": _read("The pool's tasks (every role)", "Tasks")},
        "/api/v1/openapi.json": {"get": {"summary": "This document", "responses": {
            "200": {"description": "OpenAPI 3.0.3",
                    "content": {"application/json": {"schema": {"type": "object"}}}},
            **_errors("400")}}},
    }
    return copy.deepcopy({
        "openapi": "3.0.3",
        "info": {"title": "htcmesos operators' API", "version": VERSION,
                 "description": "Read the pool (no token) and change it (a bearer token of "
                                "api.token_file). Errors are {\"error\": \"...\"}."},
        "paths": paths,
        "components": {"schemas": SCHEMAS,
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
    })
