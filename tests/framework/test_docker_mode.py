"""Framework mode end to end with real containers: the production framework (run_framework:
MesosFramework + Driver) against the strict Mesos emulator, one site's agents in Docker mode.

Site ``dc`` (public) runs the master and the submitter on the simulated runner; site
``dock`` (private) runs its executor on :class:`~framework.sim.docker_runner.DockerTaskRunner`
with the real executor image (``executors/executor/Dockerfile`` built FROM a local stand-in
of ``htcondor/execute``, :func:`framework.sim.images.build_role_image`). The executor's
TaskInfo, exactly as the framework makes it, must become a running container on the dock
site's network whose IP the framework records, with the pool signing key installed inside
(0600) and never in the container's environment.

The engine is the session fixture ``docker_engine`` (tests/services.py): outside CI a
missing engine skips; with ``CI=true`` it fails.
"""
from __future__ import annotations

import ipaddress
import textwrap
import threading
import uuid
from pathlib import Path

import docker.errors
import pytest

from tests.services import free_docker_cidr

from framework.backends.mesos import MesosFramework, Options, PoolStatus
from framework.backends.mesos_needs import TaskRecord
from framework.backends.mesos_tasks import KEY_MOUNT, LABEL_ROLE, LABEL_SITE
from framework.controller import run_framework
from framework.mesos.protocol import TaskState
from framework.model import Role
from framework.sim.docker_runner import TASK_LABEL, DockerTaskRunner
from framework.sim.mesos_cluster import SimCluster
from framework.sim.mesos_master import EmulatedMaster
from framework.sim.mesos_model import SiteLayout
from framework.spec import ClusterSpec, parse_spec
from tests.services import wait_for

pytestmark = pytest.mark.docker

WAIT_S = 45.0                     # master, submitter (simulated), then one real container
SIGNING_KEY = "pool-signing-key-DOCKER-MODE-3b9e51d7"
KEY_INSTALLED = "/etc/condor/passwords.d/POOL"

SPEC = textwrap.dedent("""\
    pool:
      name: dm
      trust_domain: dm.example.org
      signing_key_file: {key}
    sites:
      - name: dc
        calico: {{network: calico-dc, cidr: 10.77.0.0/16}}
        executors: {{min: 0, max: 2}}
      - name: dock
        private: true
        calico: {{network: {network}, cidr: {cidr}}}
        executors: {{min: 1, max: 2}}
    roles:
      master: {{image: htcmesos/master:simulated, cpus: 1, mem: 512}}
      submitter: {{image: htcmesos/submitter:simulated, cpus: 1, mem: 512}}
      executor:
        image: {image}
        cpus: 1
        mem: 512
        volumes:
          - {{container_path: /usr, host_path: /usr, mode: RO}}
    backend:
      type: mesos
      mesos:
        master: {master}
        state: {state}
    """)


def free_cidr(client) -> str:
    return free_docker_cidr(client, 214)


@pytest.fixture
def executor_image(executor_role_image: str) -> str:
    """The executor role image (built once per session, tests/services.py)."""
    return executor_role_image


class Watch:
    """The framework instance (from ``on_start``) and a condition notified every tick."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.fw: MesosFramework | None = None
        self.status: PoolStatus | None = None
        self.error: BaseException | None = None

    def started(self, fw: MesosFramework) -> None:
        with self.cond:
            self.fw = fw
            self.cond.notify_all()

    def tick(self, status: PoolStatus) -> None:
        with self.cond:
            self.status = status
            self.cond.notify_all()

    def records(self) -> list[TaskRecord]:
        fw = self.fw
        return list(dict(fw.records).values()) if fw is not None else []

    def wait(self, predicate, timeout_s: float = WAIT_S):
        """The first truthy ``predicate()`` (checked on each tick) or an AssertionError."""
        with self.cond:
            found = self.cond.wait_for(lambda: self.error is not None or predicate(), timeout_s)
        if self.error is not None:
            raise AssertionError(f"run_framework failed: {self.error!r}") from self.error
        if not found:
            raise AssertionError(
                f"not reached within {timeout_s:g} s; status {self.status}; records "
                f"{[(r.task_id, r.phase.value, r.state, r.ip, r.healthy, r.message) for r in self.records()]}")
        return found


def test_executor_runs_as_real_container_in_docker_mode(docker_engine, executor_image, tmp_path: Path):
    key = tmp_path / "pool.key"
    key.write_text(SIGNING_KEY)
    key.chmod(0o644)                          # world-readable on the host; 0600 inside
    network, cidr = f"htcm-dock-{uuid.uuid4().hex[:8]}", free_cidr(docker_engine)
    runner = DockerTaskRunner(docker_engine, poll_s=0.1)
    cluster = SimCluster.build(
        [SiteLayout("dc", agents=2, cpus=4, mem=8192, network="calico-dc", cidr="10.77.0.0/16"),
         SiteLayout("dock", agents=1, cpus=4, mem=8192, network=network, cidr=cidr,
                    runner=runner)],
        seed=5, allocation_interval_s=0.05)
    master = EmulatedMaster(cluster, heartbeat_s=1.0).start()
    spec: ClusterSpec = parse_spec(SPEC.format(
        key=key, network=network, cidr=cidr, image=executor_image, master=master.url,
        state=tmp_path / "state.json"), "docker-mode.yaml", tmp_path)
    dock = spec.site("dock")

    watch, stop = Watch(), threading.Event()

    def serve() -> None:
        try:
            run_framework(spec, stop, tick_s=0.1, on_start=watch.started, on_status=watch.tick,
                          options=Options(refuse_s=0.2, reconcile_settle_s=0.2))
        except BaseException as exc:          # noqa: BLE001 - reported by watch.wait
            with watch.cond:
                watch.error = exc
                watch.cond.notify_all()

    thread = threading.Thread(target=serve, name="run-framework", daemon=True)
    thread.start()
    rec: TaskRecord | None = None
    try:
        def executor_running() -> TaskRecord | None:
            return next((r for r in watch.records()
                         if r.role is Role.EXECUTOR and r.site == "dock"
                         and r.state == TaskState.RUNNING.value and r.ip), None)

        rec = watch.wait(executor_running)
        assert ipaddress.ip_address(rec.ip) in dock.cidr, (rec.ip, dock.cidr)
        # the master and the submitter went to the public site, healthy (simulated)
        by_role = {r.role: r for r in watch.records()}
        for role in (Role.MASTER, Role.SUBMITTER):
            assert by_role[role].site == "dc" and by_role[role].confirmed, by_role[role]
            assert ipaddress.ip_address(by_role[role].ip) in spec.site("dc").cidr
        assert [r.site for r in watch.records() if r.role is Role.EXECUTOR] == ["dock"]

        # the container is real: our task, our labels, on the dock network with that IP
        found = docker_engine.containers.list(filters={"label": f"{TASK_LABEL}={rec.task_id}"})
        assert len(found) == 1, found
        container = found[0]
        container.reload()
        attrs = container.attrs
        assert attrs["State"]["Running"] is True
        labels = attrs["Config"]["Labels"]
        assert labels[LABEL_ROLE] == "executor" and labels[LABEL_SITE] == "dock"
        assert attrs["Config"]["Image"] == executor_image
        ips = {net.get("IPAddress") for net in attrs["NetworkSettings"]["Networks"].values()}
        assert rec.ip in ips
        assert docker_engine.networks.get(network).attrs["IPAM"]["Config"][0]["Subnet"] == cidr

        # the key is mounted read-only at KEY_MOUNT and installed by the entrypoint as 0600;
        # the entrypoint runs before condor_master, so poll (deadline) for the copy
        mounts = {m["Destination"]: m for m in attrs["Mounts"]}
        assert mounts[KEY_MOUNT]["Source"] == str(key) and mounts[KEY_MOUNT]["RW"] is False

        def key_installed() -> bool:
            code, out = container.exec_run(["stat", "-c", "%a %s", KEY_INSTALLED])
            return code == 0 and out.decode().split() == ["600", str(len(SIGNING_KEY))]

        assert wait_for(key_installed, 15.0, interval_s=0.1), container.logs()[-2000:]
        code, out = container.exec_run(["cat", KEY_INSTALLED])
        assert code == 0 and out.decode() == SIGNING_KEY
        env = attrs["Config"]["Env"]
        assert not any(SIGNING_KEY in item for item in env)
        assert f"HTCMESOS_TASK_ID={rec.task_id}" in env and "HTCMESOS_ROLE=executor" in env
        assert SIGNING_KEY.encode() not in container.logs()

        # the framework's records agree with the emulated master's view
        assert cluster.task_states(watch.fw.saved.framework_id)[rec.task_id] == "TASK_RUNNING"
    finally:
        stop.set()
        thread.join(timeout=15)
        master.stop()
        runner.close()
        cluster.close()
        try:
            docker_engine.networks.get(network).remove()
        except docker.errors.NotFound:
            pass
    assert not thread.is_alive(), "run_framework did not return after stop"
    assert rec is not None and not docker_engine.containers.list(all=True, filters={"label": f"{TASK_LABEL}={rec.task_id}"})
