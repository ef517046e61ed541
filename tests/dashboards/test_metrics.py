"""/metrics: the scrape parsed with prometheus_client's own parser, names, labels and
values checked against a status log of known ticks."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from framework.planner.decision import Code
from framework.statuslog import TICK_BUCKETS
from tests.dashboards.fakes import AUTH, app_for, book, scripted, two_ticks


def scrape(client) -> dict[str, dict[tuple, float]]:
    """name → {sorted labels without pool: value}; every sample has pool="p"."""
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    out: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(r.get_data(as_text=True)):
        for sample in family.samples:
            labels = dict(sample.labels)
            assert labels.pop("pool") == "p", sample
            out.setdefault(sample.name, {})[tuple(sorted(labels.items()))] = sample.value
    return out


def test_before_the_first_tick_counters_are_zero_and_site_gauges_come_from_controls():
    m = scrape(app_for(scripted([]), book()).test_client())
    for name in ("htcmesos_ticks_total", "htcmesos_tick_failures_total",
                 "htcmesos_stale_snapshots_total", "htcmesos_backend_errors_total"):
        assert m[name] == {(): 0.0}
    assert "htcmesos_executors" not in m and "htcmesos_snapshot_fresh" not in m
    assert m["htcmesos_site_min_executors"] == {(("site", "dc"),): 1.0,
                                                (("site", "campus"),): 0.0}
    assert m["htcmesos_site_max_executors"] == {(("site", "dc"),): 10.0,
                                                (("site", "campus"),): 4.0}
    assert m["htcmesos_autoscaling_paused"] == {(): 0.0}
    assert m["htcmesos_decision_reasons_total"][(("code", "SCALE_UP"),)] == 0.0
    assert len(m["htcmesos_decision_reasons_total"]) == len(Code)
    assert m["htcmesos_launches_total"] == {(("site", "dc"),): 0.0, (("site", "campus"),): 0.0}
    assert m["htcmesos_tick_duration_seconds_count"] == {(): 0.0}


def test_metrics_follow_the_status_log_controls_and_tasks():
    loop = scripted()
    two_ticks(loop)
    loop.status.failed()
    client = app_for(loop, book()).test_client()
    assert client.patch("/api/v1/sites/dc", json={"desired": 4}, headers=AUTH).status_code == 200
    assert client.post("/api/v1/sites/campus/drain", headers=AUTH).status_code == 202
    assert client.post("/api/v1/autoscaling/pause", headers=AUTH).status_code == 200
    m = scrape(client)

    def site(name, **labels):
        return tuple(sorted({"site": name, **labels}.items()))

    assert m["htcmesos_executors"] == {
        site("dc", state="wanted"): 3, site("dc", state="starting"): 1,
        site("dc", state="running"): 2, site("dc", state="idle"): 0,
        site("dc", state="draining"): 1, site("campus", state="wanted"): 0,
        site("campus", state="starting"): 0, site("campus", state="running"): 0,
        site("campus", state="idle"): 0, site("campus", state="draining"): 0}
    assert m["htcmesos_executors_missing"] == {site("dc"): 0, site("campus"): 0}
    assert m["htcmesos_jobs"] == {site("dc", state="idle"): 2, site("dc", state="running"): 4,
                                  site("campus", state="idle"): 1,
                                  site("campus", state="running"): 0,
                                  site("any", state="idle"): 2}
    assert m["htcmesos_site_held"] == {site("dc"): 0, site("campus"): 1}
    assert m["htcmesos_site_desired_executors"] == {site("dc"): 4}     # only where set
    assert m["htcmesos_site_drained"] == {site("dc"): 0, site("campus"): 1}
    assert m["htcmesos_autoscaling_paused"] == {(): 1}
    assert m["htcmesos_snapshot_fresh"] == {(): 0}
    assert m["htcmesos_snapshot_age_seconds"] == {(): 95.0}
    assert m["htcmesos_last_tick_timestamp_seconds"] == {(): 1700000020.0}
    assert m["htcmesos_ticks_total"] == {(): 2} and m["htcmesos_tick_failures_total"] == {(): 1}
    assert m["htcmesos_stale_snapshots_total"] == {(): 1}
    assert m["htcmesos_backend_errors_total"] == {(): 1}
    reasons = {k[0][1]: v for k, v in m["htcmesos_decision_reasons_total"].items()}
    assert (reasons["SCALE_UP"], reasons["SITE_HELD"], reasons["COVERED"], reasons["DRAIN"]) \
        == (1, 1, 1, 0)
    assert m["htcmesos_launches_total"] == {site("dc"): 2, site("campus"): 0}
    assert m["htcmesos_drains_total"] == {site("dc"): 0, site("campus"): 0}
    assert m["htcmesos_operator_actions_total"] == {
        (("action", a),): n for a, n in [("set_site", 1), ("drain_site", 1), ("undrain_site", 0),
                                         ("drain_node", 0), ("pause", 1), ("resume", 0)]}
    # durations 0.3 s and 7.0 s: cumulative buckets
    buckets = {k[0][1]: v for k, v in m["htcmesos_tick_duration_seconds_bucket"].items()}
    assert buckets == {**{str(float(b)): (0 if b < 0.3 else 1 if b < 7.0 else 2)
                          for b in TICK_BUCKETS}, "+Inf": 2}
    assert m["htcmesos_tick_duration_seconds_sum"] == {(): 7.3}
    assert m["htcmesos_tick_duration_seconds_count"] == {(): 2}
    assert m["htcmesos_tasks"] == {
        (("health", "healthy"), ("role", "master"), ("site", "dc")): 1,
        (("health", "unknown"), ("role", "executor"), ("site", "dc")): 1,
        (("health", "unhealthy"), ("role", "executor"), ("site", "campus")): 1}


def test_each_app_has_its_own_registry():
    one, two = scripted(), scripted()
    two_ticks(one)
    first = scrape(app_for(one).test_client())
    second = scrape(app_for(two).test_client())
    assert first["htcmesos_ticks_total"] == {(): 2}
    assert second["htcmesos_ticks_total"] == {(): 0}
    assert not any(name.startswith(("python_", "process_")) for name in first)
