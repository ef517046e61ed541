"""Marathon mode end to end with real HTCondor daemons.

``htcmesos marathon apply`` (the production plan and client) creates the pool's group on
the strict Marathon emulator, whose tasks the emulated Mesos agents run as the real role
containers (Docker runner; two sites on iptables'd networks, ``campus`` private). The
credentials come from the secret store by reference. The production elastic loop sizes
each site's executor app from the real queue. Jobs run at both sites; the master's
container is then killed under running jobs: Marathon restarts the master app, the new
task takes the same fixed address, and the pool carries on — the running jobs finish
without a restart and a job submitted afterwards runs too.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from framework.model import Role
from framework.sim.condorpool import SubmitHost
from framework.sim.docker.objects import TASK_LABEL
from framework.sim.docker.runner import DockerTaskRunner
from framework.sim.marathon_run import MarathonRun
from tests.realpool import KEY, job_attrs, make_spec, wait_job

pytestmark = pytest.mark.docker


def container(client, task_id: str):
    found = client.containers.list(all=True, filters={"label": f"{TASK_LABEL}={task_id}"})
    assert len(found) == 1, (task_id, found)
    return found[0]


def healthy(run: MarathonRun, role: Role, site: str | None = None) -> list:
    return [r for r in run.records() if r.role is role and r.confirmed
            and (site is None or r.site == site)]


@pytest.mark.timeout(900)
def test_apply_brings_up_a_pool_whose_jobs_run_at_both_sites_and_survive_a_master_restart(
        docker_engine, role_images, tmp_path: Path):
    (tmp_path / "pool.key").write_bytes(KEY)
    spec, _ = make_spec(docker_engine, role_images, tmp_path, elastic=True)
    runner = DockerTaskRunner(docker_engine, poll_s=0.2)
    decisions: list = []
    try:
        with MarathonRun(spec, tmp_path, runner, on_decision=decisions.append) as run:
            lines: list[str] = []
            run.apply(echo=lines.append, wait=True, timeout_s=300)
            master = healthy(run, Role.MASTER)[0]
            assert master.ip == spec.master_address
            assert healthy(run, Role.SUBMITTER)
            assert not run.records() or all(r.role is not Role.EXECUTOR for r in run.records())
            # no secret value anywhere in what Marathon stores
            for app in run.client.get_group(run.spec.backend.marathon.group + "/rp")["apps"]:
                assert all(isinstance(v, str) and KEY.decode().strip() not in v or
                           isinstance(v, dict) and set(v) == {"secret"}
                           for v in app.get("env", {}).values()), app["env"]
            run.start()
            host = SubmitHost(container(docker_engine, healthy(run, Role.SUBMITTER)[0].task_id))
            short = {site: host.submit(site, 3, 1, command="sleep 3; hostname")
                     for site in ("dc", "campus")}
            for site, cluster in short.items():       # pinned by requirements to the site
                wait_job(host, cluster, lambda js: js[0].status == "completed", 240,
                         f"a job at {site}")
            launched = {site for d in decisions for site, n in d.launches.items() if n}
            assert launched == {"dc", "campus"}       # executor apps grown at both sites
            # long jobs at both sites, then the central manager dies under them
            long = {site: host.submit(site, 60, 1, command="sleep 60; hostname")
                    for site in ("dc", "campus")}
            for site, cluster in long.items():
                wait_job(host, cluster, lambda js: js[0].status == "running", 240,
                         f"a long job running at {site}")
            old = healthy(run, Role.MASTER)[0]
            container(docker_engine, old.task_id).kill()
            new = run.wait(lambda: next((r for r in healthy(run, Role.MASTER)
                                         if r.task_id != old.task_id), None), 180,
                           "Marathon restarted the master app")
            assert new.ip == old.ip == spec.master_address
            after = host.submit("dc", 2, 1, command="sleep 2; hostname")
            for site, cluster in long.items():
                wait_job(host, cluster, lambda js: js[0].status == "completed", 240,
                         f"the long job at {site} completed")
                assert job_attrs(host, cluster, "NumJobStarts") == [["1"]], site
            wait_job(host, after, lambda js: js[0].status == "completed", 240,
                     "a job submitted after the master's restart")
            assert any(d.changes for d in decisions)      # the loop sized the apps
    finally:
        runner.close()

