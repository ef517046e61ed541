"""The operator's drains on a real pool (HTCondor 23.9 daemons): a drained node runs its
job to the end (a long retirement under the operator's drain, MAXJOBRETIREMENTTIME 0
otherwise) and only then is its executor removed; a drained site removes its idle
executors and launches nothing for a queued job until it is undrained.

The production framework with its elastic loop against the strict Mesos emulator whose
agents run the real role images, as tests/test_real_pool_elastic.py; the requests go to
the loop's operator methods, as the REST API sends them.
"""
from __future__ import annotations

import time
from typing import Iterator

import pytest

from framework.elastic import ElasticLoop
from framework.model import Role
from framework.planner import Code
from tests.realpool import RealPool, job_attrs, wait_job

pytestmark = pytest.mark.docker

WHO = "test@127.0.0.1"


@pytest.fixture(scope="module")
def pool(docker_engine, role_images, tmp_path_factory) -> Iterator[RealPool]:
    real = RealPool(docker_engine, role_images, tmp_path_factory.mktemp("operator"), {},
                    elastic=True)
    try:
        yield real.start()
    finally:
        real.close()


def executors(pool: RealPool, site: str | None = None) -> list:
    return [r for r in pool.run.records() if r.role is Role.EXECUTOR and r.phase.active
            and (site is None or r.site == site)]


def the_loop(pool: RealPool) -> ElasticLoop:
    return pool.run.wait(lambda: pool.run.elastic_thread and pool.run.elastic_thread.loop,
                         30, "the elastic loop")


def test_a_drained_node_finishes_its_job_and_a_drained_site_launches_nothing(pool: RealPool):
    """Both at once (the 40-s job sets the pace): the node drain at dc, the site drain at
    campus while the dc job runs."""
    loop, host = the_loop(pool), pool.submit_host()
    began = time.monotonic()
    loop.set_site("campus", {"desired": 1}, WHO)         # an idle executor to drain there
    long = host.submit("dc", 40, 1, command="sleep 40; hostname")
    (job,) = wait_job(host, long, lambda js: js[0].status == "running", 90, "the 40-s job")
    (dc,) = executors(pool, "dc")
    pool.run.wait(lambda: [r for r in executors(pool, "campus") if r.confirmed], 60,
                  "the campus executor running")
    startd = pool.run.wait(lambda: pool.startd_of(dc.task_id), 30, "the dc startd's ad")
    # the loop names nodes as its last snapshot saw them: one with the job running
    pool.run.wait(lambda: loop.status.latest().site("dc").jobs_running == 1, 30,
                  "the loop seeing the job")
    # the node by its startd name, the site by name
    assert loop.drain_node(startd["Name"], WHO)["task_id"] == dc.task_id
    loop.drain_site("campus", WHO)
    drained_at, seen = time.time(), len(pool.decisions)
    # the busy node drains with the operator's reason, its job retiring (not vacated)
    slots = pool.run.wait(lambda: [a for a in pool.ads(
        "Startd", f'HTCMESOS_TASK_ID == "{dc.task_id}"',
        ("Name", "State", "Activity", "Draining", "DrainReason")) if a["Draining"]], 30,
        "the dc startd draining")
    assert {a["DrainReason"] for a in slots} == {"htcmesos-operator"}, slots
    assert any(a["State"] == "Claimed" and a["Activity"] == "Retiring" for a in slots), slots
    # the campus executor was idle: drained and removed at once; then a job queued for
    # the drained site gets no executor
    pool.run.wait(lambda: not executors(pool, "campus"), 60, "campus emptied")
    short = host.submit("campus", 3, 1)
    said = lambda: [d for _, d in pool.decisions[seen:] if any(  # noqa: E731
        (r.code, r.site) == (Code.SITE_DRAINED, "campus") for r in d.reasons)]
    pool.run.wait(lambda: len(said()) >= 3, 30, "the campus job waiting, the site drained")
    after = [d for _, d in pool.decisions[seen:]]
    assert all(d.launches.get("campus", 0) == 0 and d.desired["campus"] == 0 for d in after)
    assert not executors(pool, "campus")
    assert [j.status for j in host.jobs() if j.cluster == short] == ["idle"]
    assert dc.task_id in {r.task_id for r in executors(pool, "dc")}   # its job runs on
    assert job_attrs(host, long, "JobStatus")[0] == ["2"]
    status = loop.status.latest().site("campus")
    assert (status.drained, status.wanted, status.jobs_idle) == (True, 0, 1)
    # undrained (and back to the queue): the campus job runs
    loop.undrain_site("campus", WHO)
    loop.set_site("campus", {"desired": None}, WHO)
    wait_job(host, short, lambda js: js[0].status == "completed", 90, "the campus job")
    # the dc job ends; only then is its executor removed; it started once, never vacated
    wait_job(host, long, lambda js: js[0].status == "completed", 90, "the 40-s job done")
    pool.run.wait(lambda: dc.task_id not in {r.task_id for r in executors(pool, "dc")}, 60,
                  "the drained dc executor removed")
    assert job_attrs(host, long, "NumJobStarts")[0] == ["1"]
    ended = int(job_attrs(host, long, "CompletionDate")[0][0])
    removed = [wall for wall, d in pool.decisions if dc.task_id in d.kill]
    assert removed and all(wall >= ended for wall in removed), (removed, ended)
    kept = [d for wall, d in pool.decisions if drained_at <= wall < ended]
    assert kept and all(dc.task_id not in d.kill and dc.task_id not in
                        {c.task_id for c in d.cancel} for d in kept)
    assert any(r.code is Code.OPERATOR_DRAIN and "still running" in r.detail
               for d in kept for r in d.reasons)
    pool.run.wait(lambda: not loop.controls.node_drains, 10, "the node drain forgotten")
    actions = [(a.action, a.who) for a in loop.status.actions()]
    assert actions[:5] == [("set_site", WHO), ("undrain_site", WHO), ("drain_site", WHO),
                           ("drain_node", WHO), ("set_site", WHO)]
    assert time.monotonic() - began < 120
