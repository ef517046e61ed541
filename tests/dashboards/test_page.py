"""The dashboard page and its files: served from the package (no CDN, no external font),
the elements the browser test and people read, and no secret in any read-only answer."""
from __future__ import annotations

import re
from pathlib import Path

from tests.dashboards.fakes import AUTH, OTHER, TOKEN, app_for, book, scripted, two_ticks

STATIC = Path(__file__).resolve().parents[2] / "dashboards" / "static"


def test_the_page_is_a_shell_the_script_fills():
    client = app_for(scripted(), book()).test_client()
    r = client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert 'data-refresh-ms="2000"' in html and 'data-ticks="0"' in html
    for ident in ("pool", "freshness", "paused", "updated", "sites", "plot", "decisions",
                  "tasks", "operator", "problem"):
        assert f'id="{ident}"' in html, ident
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"] == "no-store"
    for name, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
        asset = client.get(f"/static/{name}")
        assert asset.status_code == 200 and asset.mimetype == kind
        assert asset.data == (STATIC / name).read_bytes()
    for path in ("/static/nothing.js", "/static/../__init__.py", "/static/%2e%2e/views.py"):
        r = client.get(path)
        assert r.status_code == 404 and r.json["error"].startswith(
            f"no such resource: {path.replace('%2e', '.')} (see / for the dashboard"), r.json
    slow = app_for(scripted(), book())
    slow.extensions["htcmesos.refresh_s"] = 7.5
    assert 'data-refresh-ms="7500"' in slow.test_client().get("/").get_data(as_text=True)


def test_nothing_is_loaded_from_elsewhere_and_no_data_goes_in_as_markup():
    texts = {p.name: p.read_text() for p in STATIC.iterdir()}
    texts["index.html"] = (STATIC.parent / "templates" / "index.html").read_text()
    for name, text in texts.items():
        urls = set(re.findall(r"(?:https?:|[\"'(=])//[A-Za-z0-9.-]+\.[A-Za-z]{2,}", text))
        assert urls <= {"http://www.w3.org"}, (name, urls)       # the SVG namespace only
        assert "@import" not in text and "@font-face" not in text, name
    js = texts["app.js"]
    assert "innerHTML" not in js and "insertAdjacentHTML" not in js and "eval(" not in js
    for field in ("executors.wanted", "executors.starting", "executors.running",
                  "executors.idle", "executors.draining", "jobs.idle", "jobs.running",
                  "bounds.min", "bounds.max", '"desired"'):
        assert field in js, field
    assert "dataset.ticks" in js and "/api/v1/history" in js and "/api/v1/tasks" in js


def test_no_read_only_answer_shows_a_token_or_a_password():
    loop = scripted()
    two_ticks(loop)
    app = app_for(loop, book(), ui_links={"Mesos": "http://op:mesos-pass-77@master:5050"})
    client = app.test_client()
    assert client.post("/api/v1/autoscaling/pause", headers=AUTH).status_code == 200
    assert client.get("/api/v1/status").json["links"] == [{"name": "Mesos",
                                                           "url": "http://master:5050"}]
    paths = [rule.rule for rule in app.url_map.iter_rules() if "GET" in rule.methods
             and "<" not in rule.rule]
    paths += ["/api/v1/sites/dc", "/static/app.js", "/static/style.css", "/nothing"]
    assert {"/", "/metrics", "/api/v1/status", "/api/v1/tasks"} <= set(paths)
    for path in paths:
        for headers in ({}, AUTH):
            r = client.get(path, headers=headers)
            text = r.get_data(as_text=True) + str(r.headers)
            for secret in (TOKEN, OTHER, "hunter2-password", "mesos-pass-77"):
                assert secret not in text, (path, secret)


def test_the_header_links_to_the_backends_ui_from_the_spec():
    import dataclasses

    from dashboards.documents import default_links
    from framework.spec import BackendSpec, MarathonBackendSpec, MesosBackendSpec
    from tests.dashboards.fakes import SPEC

    def links(backend):
        return default_links(dataclasses.replace(SPEC, backend=backend))

    assert links(BackendSpec("mesos", mesos=MesosBackendSpec(
        "http://ops:pw@m1.example:5050/,http://m2.example:5050"))) == {
        "Mesos": "http://m1.example:5050"}
    assert links(BackendSpec("mesos", mesos=MesosBackendSpec("zk://z1:2181/mesos"))) == {}
    assert links(BackendSpec("marathon", marathon=MarathonBackendSpec(
        "https://marathon.example:8443/"))) == {"Marathon": "https://marathon.example:8443/ui/"}
    assert links(SPEC.backend) == {}


def test_no_answer_is_sniffed_as_another_type_and_only_the_page_runs_scripts():
    loop = scripted()
    two_ticks(loop)
    client = app_for(loop, book()).test_client()
    for method, path in (("get", "/"), ("get", "/static/app.js"), ("get", "/api/v1/status"),
                         ("get", "/api/v1/sites/%3Cscript%3E"), ("get", "/metrics"),
                         ("get", "/<img src=x onerror=alert(1)>"),
                         ("post", "/api/v1/autoscaling/pause")):
        r = getattr(client, method)(path)
        assert r.headers.get("X-Content-Type-Options") == "nosniff", path
        if path != "/":
            assert r.headers.get("Content-Security-Policy") == \
                "default-src 'none'; frame-ancestors 'none'", path
