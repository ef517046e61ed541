"""/api/v1/openapi.json: a valid OpenAPI 3.0.3 document that names exactly the app's
/api/v1 routes and methods, and whose schemas the real answers fit."""
from __future__ import annotations

import re

import pytest

from framework.controls import NotOperable
from tests.dashboards.fakes import AUTH, SPEC, TASKS, app_for, book, scripted, two_ticks
from tests.dashboards.scripted_pool import ScriptedLoop


@pytest.fixture
def app():
    loop = scripted()
    two_ticks(loop)
    return app_for(loop, book())


def routes(app) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every /api/v1 rule of the app."""
    out = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1"):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        out |= {(path, m.lower()) for m in rule.methods - {"HEAD", "OPTIONS"}}
    return out


def test_every_route_is_documented_and_every_documented_route_exists(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert documented == routes(app)
    assert len(documented) == 15


def test_the_document_is_valid_openapi_3_0_3(app):
    from openapi_spec_validator import validate
    from openapi_spec_validator.validation import OpenAPIV30SpecValidator

    doc = app.test_client().get("/api/v1/openapi.json").json
    assert doc["openapi"] == "3.0.3"
    validate(doc, cls=OpenAPIV30SpecValidator)
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            changes = method != "get"
            assert (op.get("security") == [{"bearer": []}]) == changes, (path, method)
            if changes:
                assert {"401", "403", "400"} <= set(op["responses"]), (path, method)
    assert doc["components"]["securitySchemes"]["bearer"] == {"type": "http",
                                                              "scheme": "bearer"}


def test_the_answers_fit_their_schemas(app):
    from openapi_schema_validator import OAS30Validator

    client = app.test_client()
    doc = client.get("/api/v1/openapi.json").json

    def check(path: str, method: str, status: str, answer) -> None:
        schema = doc["paths"][path][method]["responses"][status]["content"][
            "application/json"]["schema"]
        OAS30Validator({**schema, "components": doc["components"]}).validate(answer)

    for path in ("/api/v1/status", "/api/v1/sites", "/api/v1/history", "/api/v1/decisions",
                 "/api/v1/tasks", "/api/v1/autoscaling"):
        check(path, "get", "200", client.get(path).json)
    check("/api/v1/sites/{site}", "get", "200", client.get("/api/v1/sites/dc").json)
    check("/api/v1/sites/{site}", "get", "404", client.get("/api/v1/sites/x").json)
    check("/api/v1/sites/{site}", "patch", "200",
          client.patch("/api/v1/sites/dc", json={"max": 5}, headers=AUTH).json)
    check("/api/v1/sites/{site}/drain", "post", "202",
          client.post("/api/v1/sites/dc/drain", headers=AUTH).json)
    check("/api/v1/nodes/{node}/drain", "post", "202",
          client.post("/api/v1/nodes/agent-2/drain", headers=AUTH).json)
    check("/api/v1/autoscaling/pause", "post", "200",
          client.post("/api/v1/autoscaling/pause", headers=AUTH).json)


class CluesSizedLoop(ScriptedLoop):
    """A pool CLUES sizes: every operator change is refused (ElasticLoop's 409)."""

    def _done(self, who, action, what, controls):
        raise NotOperable("pool p is sized by CLUES (autoscaling.driver: clues)")


def test_every_answer_the_api_gives_is_documented_with_its_schema(app):
    from openapi_schema_validator import OAS30Validator

    client = app.test_client()
    doc = client.get("/api/v1/openapi.json").json
    fresh = app_for(scripted(), book()).test_client()            # before the first tick
    clues = CluesSizedLoop(SPEC, TASKS)
    clues.tick({})
    sized_by_clues = app_for(clues, book()).test_client()
    closed = app_for(scripted(), None).test_client()            # no token file
    json_ = {"Content-Type": "application/json"}
    asked = [
        (client, "get", "/api/v1/status", "/api/v1/status?x=1", {}, 400),
        (fresh, "get", "/api/v1/status", "/api/v1/status", {}, 503),
        (client, "get", "/api/v1/sites", "/api/v1/sites", {}, 200),
        (client, "get", "/api/v1/history", "/api/v1/history?limit=0", {}, 400),
        (client, "get", "/api/v1/decisions", "/api/v1/decisions", {}, 200),
        (client, "get", "/api/v1/tasks", "/api/v1/tasks", {}, 200),
        (client, "get", "/api/v1/autoscaling", "/api/v1/autoscaling", {}, 200),
        (client, "get", "/api/v1/openapi.json", "/api/v1/openapi.json", {}, 200),
        (client, "get", "/api/v1/openapi.json", "/api/v1/openapi.json?v=2", {}, 400),
        (client, "put", "/api/v1/sites/{site}", "/api/v1/sites/dc",
         {"json": {"min": 2}, "headers": AUTH}, 200),
        (client, "patch", "/api/v1/sites/{site}", "/api/v1/sites/dc",
         {"json": {"min": 20}, "headers": AUTH}, 400),
        (client, "patch", "/api/v1/sites/{site}", "/api/v1/sites/dc", {"json": {"min": 2}}, 401),
        (closed, "patch", "/api/v1/sites/{site}", "/api/v1/sites/dc",
         {"json": {"min": 2}, "headers": AUTH}, 403),
        (client, "patch", "/api/v1/sites/{site}", "/api/v1/sites/lab",
         {"json": {"min": 2}, "headers": AUTH}, 404),
        (client, "patch", "/api/v1/sites/{site}", "/api/v1/sites/dc",
         {"data": "{}" + " " * 70_000, "headers": {**AUTH, **json_}}, 413),
        (client, "patch", "/api/v1/sites/{site}", "/api/v1/sites/dc",
         {"data": "min=2", "headers": AUTH}, 415),
        (sized_by_clues, "patch", "/api/v1/sites/{site}", "/api/v1/sites/dc",
         {"json": {"min": 2}, "headers": AUTH}, 409),
        (client, "post", "/api/v1/sites/{site}/undrain", "/api/v1/sites/dc/undrain",
         {"headers": AUTH}, 200),
        (sized_by_clues, "post", "/api/v1/sites/{site}/drain", "/api/v1/sites/dc/drain",
         {"headers": AUTH}, 409),
        (sized_by_clues, "post", "/api/v1/sites/{site}/undrain", "/api/v1/sites/dc/undrain",
         {"headers": AUTH}, 409),
        (client, "post", "/api/v1/nodes/{node}/drain", "/api/v1/nodes/nowhere/drain",
         {"headers": AUTH}, 404),
        (sized_by_clues, "post", "/api/v1/nodes/{node}/drain",
         "/api/v1/nodes/agent-2/drain", {"headers": AUTH}, 409),
        (client, "post", "/api/v1/autoscaling/resume", "/api/v1/autoscaling/resume",
         {"headers": AUTH}, 200),
        (sized_by_clues, "post", "/api/v1/autoscaling/pause", "/api/v1/autoscaling/pause",
         {"headers": AUTH}, 409),
        (sized_by_clues, "post", "/api/v1/autoscaling/resume", "/api/v1/autoscaling/resume",
         {"headers": AUTH}, 409),
    ]
    for who, method, template, path, kw, status in asked:
        r = getattr(who, method)(path, **kw)
        assert r.status_code == status, (method, path, r.json)
        responses = doc["paths"][template][method]["responses"]
        assert str(status) in responses, (method, template, status)
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        OAS30Validator({**schema, "components": doc["components"]}).validate(r.json)
        for header in responses[str(status)].get("headers", {}):
            assert header in r.headers, (method, template, status, header)
        if status == 401:
            assert "WWW-Authenticate" in responses["401"].get("headers", {})
