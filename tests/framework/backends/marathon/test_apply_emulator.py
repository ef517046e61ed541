"""``apply`` against the strict Marathon emulator on an emulated Mesos cluster (simulated
tasks, no Docker): create from nothing in dependency order, idempotence counted in write
calls, 422 field by field, a 409 waited out, a rolling executor upgrade."""
from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from framework.backends.marathon.apply import ApplyResult, apply, plan_apply
from framework.backends.marathon.client import MarathonClient
from framework.backends.marathon.render import render_group
from framework.backends.marathon.secrets import write_store
from framework.errors import MarathonInvalid
from framework.sim.from_spec import site_layouts
from framework.sim.marathon import EmulatedMarathon
from framework.sim.mesos.cluster import SimCluster
from framework.sim.mesos.master import EmulatedMaster
from framework.spec import ClusterSpec, load_spec
from tests.framework.backends.marathon.test_cli import KEY, marathon_spec
from tests.waiting import wait_for

G = "/htcondor/twosites"


@dataclasses.dataclass
class Pool:
    spec: ClusterSpec
    cluster: SimCluster
    marathon: EmulatedMarathon
    client: MarathonClient
    lines: list[str]

    def apply(self, group: dict[str, Any] | None = None, **kw: Any) -> ApplyResult:
        """What `htcmesos marathon apply` does, with a group (default: the spec's)."""
        desired = group or render_group(self.spec)
        plan = plan_apply(desired, self.client.get_group(desired["id"]))
        kw.setdefault("timeout_s", 30)
        return apply(self.client, plan, echo=self.lines.append, poll_s=0.05, **kw)

    def running(self, app: str) -> list[dict[str, Any]]:
        return [t for t in self.marathon.tasks(f"{G}/{app}") if t["state"] == "TASK_RUNNING"]


@pytest.fixture
def pool(tmp_path: Path) -> Iterator[Pool]:
    spec = load_spec(marathon_spec(tmp_path))
    cluster = SimCluster.build(site_layouts(spec, 2), seed=7, allocation_interval_s=0.05)
    master = EmulatedMaster(cluster, heartbeat_s=0.5).start()
    store = tmp_path / "store"
    write_store(spec, KEY, store, time.time())
    m = EmulatedMarathon(master.url, secrets_dir=store, deployment_poll_s=0.05).start()
    marathon = dataclasses.replace(spec.backend.marathon, url=m.url)
    spec = dataclasses.replace(spec, backend=dataclasses.replace(spec.backend,
                                                                 marathon=marathon))
    try:
        yield Pool(spec, cluster, m, MarathonClient(m.url), [])
    finally:
        m.stop()
        master.stop()
        cluster.close()


def with_app(group: dict[str, Any], name: str, **changes: Any) -> dict[str, Any]:
    """A copy of ``group`` with app ``name`` changed (dotted keys reach into objects)."""
    out = copy.deepcopy(group)
    app = next(a for a in out["apps"] if a["id"] == f"{G}/{name}")
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = app
        for p in parents:
            target = target[p]
        target[last] = value
    return out


def test_apply_from_nothing_creates_the_group_master_first(pool: Pool):
    result = pool.apply()
    assert result.ok, (result, pool.lines)
    assert [w[:2] for w in pool.marathon.writes()] == [("POST", "/v2/groups")]
    for app in ("master", "submitter", "executor-dc"):
        assert len(pool.running(app)) == 1, app
    assert pool.marathon.app(f"{G}/executor-campus")["instances"] == 0
    # Marathon starts the dependents once the master runs healthy
    [master] = pool.running("master")
    for app in ("submitter", "executor-dc"):
        [task] = pool.running(app)
        assert task["stagedAt"] >= master["startedAt"], (app, task, master)
    assert any("step" in line for line in pool.lines), pool.lines


def test_second_apply_writes_nothing(pool: Pool):
    assert pool.apply().ok
    writes = pool.marathon.writes()
    plan = plan_apply(render_group(pool.spec), pool.client.get_group(G))
    assert not plan.changed, plan.describe()
    result = pool.apply()
    assert result.ok and result.deployment is None and "nothing to change" in result.message
    assert pool.marathon.writes() == writes


def test_executor_instances_the_autoscaler_set_are_kept(pool: Pool):
    assert pool.apply().ok
    pool.client.scale_app(f"{G}/executor-dc", 3)
    wait_for(lambda: len(pool.running("executor-dc")) == 3, 20, "3 executors")
    writes = len(pool.marathon.writes())
    assert pool.apply().deployment is None and len(pool.marathon.writes()) == writes
    assert pool.marathon.app(f"{G}/executor-dc")["instances"] == 3


@pytest.mark.parametrize("change,expected", [
    ({"cpus": 0.0001}, "Marathon refused /htcondor/twosites/executor-dc: /cpus: error.min"),
    ({"networks": [{"mode": "container", "name": "Calico_DC"}]},
     "Marathon refused /htcondor/twosites/executor-dc: /networks(0)/name: error.pattern"),
])
def test_invalid_values_surface_field_by_field(pool: Pool, change, expected):
    key, value = next(iter(change.items()))
    with pytest.raises(MarathonInvalid) as info:
        pool.apply(with_app(render_group(pool.spec), "executor-dc", **{key: value}))
    assert info.value.status == 422 and str(info.value).startswith(expected), str(info.value)
    assert pool.marathon.writes() and pool.client.get_group(G) is None   # nothing created


def test_a_locked_group_is_waited_out(pool: Pool):
    pool.cluster.set_start_delay("dc", 0.5, 1.0)          # the first deployment takes a while
    first = pool.apply(wait=False)
    assert first.ok and first.deployment is not None
    newer = with_app(render_group(pool.spec), "submitter",
                     container__docker__image="htcmesos/submitter:0.2")
    result = pool.apply(newer)
    assert result.ok, (result, pool.lines)
    assert any(f"locked by deployment(s) {first.deployment.id}" in line for line in pool.lines), \
        pool.lines
    statuses = [w[2] for w in pool.marathon.writes()]
    assert 409 in statuses and statuses[-1] == 200
    [task] = pool.running("submitter")
    assert pool.marathon.app(f"{G}/submitter")["container"]["docker"]["image"] == \
        "htcmesos/submitter:0.2" and task["version"] == pool.marathon.app(f"{G}/submitter")["version"]


def test_an_executor_image_change_rolls_without_losing_healthy_capacity(pool: Pool):
    assert pool.apply().ok
    pool.client.scale_app(f"{G}/executor-dc", 3)
    wait_for(lambda: len(pool.running("executor-dc")) == 3, 20, "3 executors")
    wait_for(lambda: pool.client.deployments() == [], 20, "the scale-up")
    old = {t["id"] for t in pool.running("executor-dc")}
    newer = with_app(render_group(pool.spec), "executor-dc",
                     container__docker__image="htcmesos/executor:0.2")
    plan = plan_apply(newer, pool.client.get_group(G))
    assert [line for line in plan.describe() if line.startswith("~")] == [
        f"~ {G}/executor-dc: container.docker.image: htcmesos/executor:0.1 → "
        f"htcmesos/executor:0.2"]
    lines: list[str] = []
    result = apply(pool.client, plan, echo=lines.append, poll_s=0.05, timeout_s=30)
    assert result.ok, (result, lines)
    now = pool.running("executor-dc")
    assert len(now) == 3 and not old & {t["id"] for t in now}        # every one replaced
    assert pool.marathon.min_healthy_during_deployment(f"{G}/executor-dc") >= 3
    assert pool.marathon.app(f"{G}/executor-dc")["instances"] == 3   # the autoscaler's kept
    assert len(pool.running("master")) == 1 and len(pool.running("submitter")) == 1


def test_the_event_stream_yields_frames_and_stops_promptly(pool: Pool):
    import threading

    stop, seen = threading.Event(), []

    def follow() -> None:
        for kind, data in pool.client.events(("event_stream_attached", "deployment_success"),
                                             stop):
            seen.append((kind, data))

    thread = threading.Thread(target=follow, daemon=True)
    thread.start()
    wait_for(lambda: seen, 5, "event_stream_attached")
    result = pool.apply()
    wait_for(lambda: any(k == "deployment_success" and d.get("id") == result.deployment.id
                         for k, d in seen), 5, "deployment_success of the apply")
    started = time.monotonic()
    stop.set()
    thread.join(5)
    assert not thread.is_alive() and time.monotonic() - started < 1.0


def test_forcing_cancels_the_running_deployment_which_then_fails(pool: Pool):
    import threading

    pool.cluster.set_start_delay("dc", 0.5, 1.0)
    results: list[ApplyResult] = []
    waiting = threading.Thread(target=lambda: results.append(pool.apply()), daemon=True)
    waiting.start()
    wait_for(lambda: pool.client.deployments(), 10, "the first deployment")
    newer = with_app(render_group(pool.spec), "submitter",
                     container__docker__image="htcmesos/submitter:0.2")
    forced = pool.apply(newer, force=True, wait=False)
    assert forced.ok
    waiting.join(30)
    [first] = results
    assert not first.ok and "failed" in first.message, first
    assert ("PUT", "/v2/groups/htcondor/twosites?force=true") in \
        {w[:2] for w in pool.marathon.writes()}


def test_a_deployment_that_never_gets_healthy_times_out(pool: Pool):
    pool.cluster.fail_at_launch("campus")
    group = with_app(render_group(pool.spec), "executor-campus", instances=1)
    result = pool.apply(group, timeout_s=3)
    assert not result.ok and "not finished in time" in result.message
    assert pool.client.deployments()                   # it goes on in Marathon


def test_the_cli_applies_shows_status_scales_and_deletes(pool: Pool, tmp_path: Path):
    from tests.framework.backends.marathon.test_cli import run

    spec, url = str(tmp_path / "pool.yaml"), pool.marathon.url
    code, out = run("marathon", "apply", spec, "--marathon", url, "--timeout", "30")
    assert code == 0, out
    assert f"+ {G}: new group" in out and f"{G}: deployed" in out
    code, out = run("marathon", "apply", spec, "--marathon", url)
    assert code == 0 and "up to date, nothing to change" in out
    code, out = run("marathon", "status", spec, "--marathon", url)
    assert code == 0, out
    assert f"{G}/executor-dc: instances 1, running 1, healthy 1" in out
    assert "TASK_RUNNING 10.1." in out and "no deployment running" in out
    code, out = run("marathon", "scale", spec, "dc", "2", "--marathon", url)
    assert code == 0 and "1 → 2" in out
    wait_for(lambda: len(pool.running("executor-dc")) == 2, 20, "2 executors")
    wait_for(lambda: pool.client.deployments() == [], 20, "the scale-up")
    code, out = run("marathon", "apply", spec, "--marathon", url, "--dry-run")
    assert code == 0 and "up to date" in out                # the autoscaler's count is kept
    code, out = run("marathon", "delete", spec, "--yes", "--marathon", url)
    assert code == 0 and "deleting" in out
    wait_for(lambda: pool.client.get_group(G) is None, 20, "the group deleted")
