"""The alert rules and the Grafana dashboards (dashboards/prometheus, dashboards/grafana).

- ``promtool check rules`` and ``promtool test rules`` pass on alerts.yml (Debian package
  ``prometheus``; outside CI a missing promtool skips, with ``CI=true`` it fails);
- every Grafana query is valid PromQL (promtool checks them as recording rules);
- every metric name an alert or a Grafana query uses is exported by a real scrape of
  ``/metrics`` (the dashboards app over a pool whose every per-site and per-label series
  exists), with the labels its matchers and groupings name, and the literal label values
  its matchers ask for;
- the Grafana JSON imports anywhere: the ``DS_PROMETHEUS`` input, every panel on it,
  unique ids, grid positions that do not overlap.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from framework.planner.decision import Code
from framework.spec import load_spec
from framework.webserve import WebServer
from tests.dashboards.promql import parse_exposition, problems, promql_uses
from tests.dashboards.scripted_pool import Counts, ScriptedLoop, Task
from tests.services import unavailable

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "dashboards" / "prometheus" / "alerts.yml"
ALERTS_TEST = ROOT / "dashboards" / "prometheus" / "alerts_test.yml"
GRAFANA = sorted((ROOT / "dashboards" / "grafana").glob("*.json"))
PROMTOOL_TIMEOUT_S = 30.0


# -- the expressions of the alerts and the dashboards -------------------------------------

def alert_exprs() -> Iterator[tuple[str, str]]:
    for group in yaml.safe_load(ALERTS.read_text())["groups"]:
        for rule in group["rules"]:
            yield f"alert {rule['alert']}", rule["expr"]


def _panels(dash: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dash["panels"]:
        yield panel
        yield from panel.get("panels", [])           # a collapsed row holds its panels


def grafana_exprs() -> Iterator[tuple[str, str]]:
    for path in GRAFANA:
        dash = json.loads(path.read_text())
        for panel in _panels(dash):
            for t in panel.get("targets", []):
                yield f"{path.name} panel {panel['id']} {panel['title']!r} {t['refId']}", t["expr"]
        for var in dash["templating"]["list"]:
            query = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", query.strip())
            assert m, f"{path.name} variable {var['name']}: not label_values(...): {query!r}"
            # the label a variable lists must exist on the metric: read it as a grouping
            yield f"{path.name} variable {var['name']}", f"max by ({m[2]}) ({m[1]})"


def as_promql(expr: str) -> str:
    """A Grafana query as plain PromQL: ranges and variables replaced by values."""
    expr = re.sub(r"\$__(rate_)?interval|\$\{__(rate_)?interval\}", "5m", expr)
    return re.sub(r"\$\{?\w+\}?|\[\[\w+\]\]", "x", expr)


# -- promtool -------------------------------------------------------------------------------

def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("promtool")
    if exe is None:
        unavailable("promtool is missing: install the Debian package prometheus "
                    "(scripts/bootstrap.sh does)")
    return subprocess.run([exe, *args], capture_output=True, text=True,
                          timeout=PROMTOOL_TIMEOUT_S, cwd=ROOT)


def test_promtool_check_rules_passes() -> None:
    done = promtool("check", "rules", str(ALERTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 6 rules found" in done.stdout, done.stdout


def test_promtool_unit_tests_of_the_alerts_pass() -> None:
    done = promtool("test", "rules", str(ALERTS_TEST))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout, done.stdout


def test_every_alert_has_severity_and_names_the_pool() -> None:
    rules = [r for g in yaml.safe_load(ALERTS.read_text())["groups"] for r in g["rules"]]
    assert [g["name"] for g in yaml.safe_load(ALERTS.read_text())["groups"]] == ["htcmesos"]
    assert {r["alert"] for r in rules} == {
        "HtcmesosCollectorUnreachable", "HtcmesosSiteBlackHole",
        "HtcmesosExecutorsNotStarting", "HtcmesosLoopStalled", "HtcmesosBackendErrors",
        "HtcmesosCentralRoleUnhealthy"}
    for r in rules:
        assert r["labels"]["severity"] in ("warning", "critical"), r["alert"]
        for key in ("summary", "description"):
            assert "$labels.pool" in r["annotations"][key], (r["alert"], key)
        uses = promql_uses(r["expr"])
        if any("site" in s.matchers or s.name.startswith(("htcmesos_site_",
                                                          "htcmesos_executors"))
               for s in uses.selectors):
            assert "$labels.site" in r["annotations"]["summary"], r["alert"]


def test_grafana_queries_are_valid_promql(tmp_path: Path) -> None:
    rules = [{"record": f"grafana:query_{n}", "expr": as_promql(e)}
             for n, (_, e) in enumerate(grafana_exprs())]
    assert len(rules) > 30
    path = tmp_path / "grafana-queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "grafana", "rules": rules}]}))
    done = promtool("check", "rules", str(path))
    assert done.returncode == 0, done.stdout + done.stderr


# -- the tokenizer finds what it must (so the export check can fail) -----------------------

@pytest.mark.parametrize("expr, names, grouping, matchers", [
    ('sum by (site, state) (htcmesos_jobs{pool="$pool", site=~"a|b"})',
     {"htcmesos_jobs"}, {"site", "state"}, {"pool": ("=", "$pool"), "site": ("=~", "a|b")}),
    ("histogram_quantile(0.9, sum by (le) (rate(htcmesos_tick_duration_seconds_bucket"
     "[$__rate_interval])))", {"htcmesos_tick_duration_seconds_bucket"}, {"le"}, {}),
    ("time() - htcmesos_last_tick_timestamp_seconds offset 5m > 300",
     {"htcmesos_last_tick_timestamp_seconds"}, set(), {}),
    ('label_replace(sum(0 * x_total) without (instance), "role", "master", "", "") '
     'or on (pool) group_left (site) y unless bool {__name__="z", a!="b"} @ 1700000000',
     {"x_total", "y", "z"}, {"instance", "pool", "site"}, {"a": ("!=", "b")}),
    ("sum(rate(a:b_total[1h:5m])) / ignoring(code) count(max_over_time(c[10m])) * 1e3",
     {"a:b_total", "c"}, {"code"}, {}),
])
def test_tokenizer_finds_names(expr: str, names: set[str], grouping: set[str],
                               matchers: dict[str, tuple[str, str]]) -> None:
    uses = promql_uses(expr)
    assert uses.names == names
    assert uses.grouping == grouping
    assert {k: v for s in uses.selectors for k, v in s.matchers.items()} == matchers


EXPOSITION = """\
# TYPE htcmesos_jobs gauge
htcmesos_jobs{pool="p",site="dc",state="idle"} 1
# TYPE htcmesos_ticks_total counter
htcmesos_ticks_total{pool="p"} 3
# TYPE htcmesos_tick_duration_seconds histogram
htcmesos_tick_duration_seconds_bucket{pool="p",le="0.5"} 1
htcmesos_tick_duration_seconds_bucket{pool="p",le="+Inf"} 1
htcmesos_tick_duration_seconds_sum{pool="p"} 0.2
htcmesos_tick_duration_seconds_count{pool="p"} 1
"""


def test_the_export_check_reports_what_is_missing() -> None:
    exp = parse_exposition(EXPOSITION)
    assert exp.family_of("htcmesos_tick_duration_seconds_bucket") == \
        "htcmesos_tick_duration_seconds"
    assert exp.family_of("htcmesos_ticks_total") == "htcmesos_ticks"
    assert problems("ok", "sum by (le) (rate(htcmesos_tick_duration_seconds_bucket[5m])) "
                          "+ on (pool) htcmesos_ticks_total", exp) == []
    assert problems("e", 'htcmesos_jobs{state="idle", site="$site"}', exp) == []
    assert problems("e", "htcmesos_job", exp) == ["e: metric htcmesos_job is not exported"]
    assert problems("e", "htcmesos_ticks", exp) == ["e: metric htcmesos_ticks is not exported"]
    assert problems("e", 'htcmesos_jobs{role="x"}', exp) == [
        "e: htcmesos_jobs has no label 'role' (it has ['pool', 'site', 'state'])"]
    assert problems("e", 'htcmesos_jobs{state=~"busy|wanted"}', exp) == [
        "e: no htcmesos_jobs series has state=~'busy|wanted' (values: ['idle'])"]
    assert problems("e", "sum by (code) (htcmesos_ticks_total)", exp) == [
        "e: no metric of 'sum by (code) (htcmesos_ticks_total)' has the label 'code'"]


# -- the real scrape -------------------------------------------------------------------------

#: the central roles and executors, healthy, unhealthy and without a health check
TASKS = (
    Task("master-1", "master", "dc", "running", True, "10.1.0.2", "agent-1", None),
    Task("submitter-1", "submitter", "dc", "running", True, "10.1.0.3", "agent-1", None),
    Task("executor-1", "executor", "dc", "running", False, "10.1.0.4", "agent-2", None),
    Task("executor-2", "executor", "campus", "starting", None, None, "agent-3", None),
)


@pytest.fixture(scope="module")
def scrape() -> Iterator[str]:
    """``GET /metrics`` over HTTP from the dashboards app of a two-site pool after two
    ticks (one stale, with a backend error), an operator's desired size at dc, a site held
    by the backend: every series of every family exists."""
    import urllib.request

    from dashboards import create_app
    from dashboards.source import LocalSource

    loop = ScriptedLoop(load_spec(ROOT / "examples" / "two-sites.yaml"), TASKS)
    loop.tick({"dc": Counts(wanted=2, starting=2, jobs_idle=3)}, jobs_idle_any=1,
              reasons=[(Code.SCALE_UP, "dc", "3 idle jobs: 2 executors")],
              actions=["launch dc+2"], launches={"dc": 2})
    loop.set_site("dc", {"desired": 2}, "ops@127.0.0.1")
    loop.tick({"dc": Counts(starting=1, running=1, idle=0, jobs_idle=2, jobs_running=1),
               "campus": Counts(held="black hole: 3 executors ended within 60 s")},
              jobs_idle_any=1, reasons=[(Code.SITE_HELD, "campus", "black hole")],
              actions=["drain slot1@h"], drains={"dc": 1}, removals={"campus": 1},
              errors=["launch at campus: no offer"], fresh=False, duration_s=3.0)
    server = WebServer("127.0.0.1:0", create_app(LocalSource(loop)), "metrics test").start()
    try:
        with urllib.request.urlopen(server.url + "/metrics", timeout=10) as resp:
            assert resp.status == 200
            yield resp.read().decode()
    finally:
        server.stop()


def test_every_metric_and_label_used_is_exported(scrape: str) -> None:
    exported = parse_exposition(scrape)
    found = [p for where, e in [*alert_exprs(), *grafana_exprs()]
             for p in problems(where, e, exported)]
    assert found == [], "\n".join(found)


def test_every_exported_family_is_on_a_dashboard(scrape: str) -> None:
    exported = parse_exposition(scrape)
    used = {exported.family_of(n) for _, e in grafana_exprs() for n in promql_uses(e).names}
    ours = {f for f in exported.families
            if f.startswith("htcmesos_") and not f.endswith("_created")}
    assert sorted(ours - used) == []


# -- the Grafana JSON ------------------------------------------------------------------------

def _overlap(a: dict[str, int], b: dict[str, int]) -> bool:
    return (a["x"] < b["x"] + b["w"] and b["x"] < a["x"] + a["w"]
            and a["y"] < b["y"] + b["h"] and b["y"] < a["y"] + a["h"])


@pytest.mark.parametrize("path", GRAFANA, ids=[p.name for p in GRAFANA])
def test_grafana_dashboard_imports_anywhere(path: Path) -> None:
    dash = json.loads(path.read_text())
    assert [i["name"] for i in dash["__inputs"]] == ["DS_PROMETHEUS"]
    assert dash["__inputs"][0]["pluginId"] == "prometheus"
    assert 36 <= dash["schemaVersion"] <= 41
    assert dash["uid"] and dash["title"] and dash["id"] is None
    ds = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
    panels = list(_panels(dash))
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"panel ids repeat: {ids}"
    for p in panels:
        assert set(p["gridPos"]) >= {"x", "y", "w", "h"}, p["id"]
        assert p["gridPos"]["x"] + p["gridPos"]["w"] <= 24, p["id"]
        if p["type"] == "row":              # a row groups panels: no queries of its own
            assert "targets" not in p, p["id"]
            continue
        assert p["type"] in ("timeseries", "stat", "table"), p["id"]
        assert p["datasource"] == ds, p["id"]
        assert p["targets"], p["id"]
        for t in p["targets"]:
            assert t["datasource"] == ds and t["expr"].strip(), (p["id"], t["refId"])
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["id"]
    for a, b in ((a, b) for n, a in enumerate(panels) for b in panels[n + 1:]):
        assert not _overlap(a["gridPos"], b["gridPos"]), (a["id"], b["id"])
    for var in dash["templating"]["list"]:
        assert var["datasource"] == ds, var["name"]
    assert "${DS_PROMETHEUS}" in path.read_text()
    assert not re.search(r'"uid":\s*"(?!\$\{DS_PROMETHEUS\}|-- Grafana --|htcmesos-)',
                         path.read_text()), "a datasource uid that only exists somewhere"
