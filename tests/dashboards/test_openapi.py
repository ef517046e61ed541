"""/api/v1/openapi.json: a valid OpenAPI 3.0.3 document that names exactly the app's
/api/v1 routes and methods, and whose schemas the real answers fit."""
from __future__ import annotations

import re

import pytest

from tests.dashboards.fakes import AUTH, app_for, book, scripted, two_ticks


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
