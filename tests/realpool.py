"""A real HTCondor pool for tests: the production framework against the strict Mesos
emulator whose agents run the real role images on the local Docker engine.

Two sites on iptables'd Docker networks (``dc`` public, ``campus`` private: nothing can
open a connection into it), credentials fetched from the framework's single-use URLs,
the central manager at its fixed address. :class:`RealPool` adds what the tests ask of
it: containers by task, HTCondor queries from the host (the PyPI bindings, as the
framework's pool monitor will), shell commands in containers, extra "intruder"
containers on a site's network.
"""
from __future__ import annotations

import base64
import json
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

from framework.autoscaler.backoff import BackoffPolicy
from framework.backends.mesos.framework import Options
from framework.backends.mesos.needs import TaskRecord
from framework.condor.brokers import plan_brokers
from framework.condor.config import render_config
from framework.model import Role
from framework.sim.condorpool import SubmitHost
from framework.sim.docker.objects import TASK_LABEL
from framework.sim.docker.runner import DockerTaskRunner
from framework.sim.emulated_run import EmulatedRun
from framework.spec import ClusterSpec, parse_spec
from tests.services import free_docker_cidr, wait_for

#: One collector query, printed as JSON (run by :meth:`RealPool.ads` in a child process).
_QUERY = """
import json, sys, htcondor2
address, ad_type, constraint, projection = sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])
ads = htcondor2.Collector(address).query(getattr(htcondor2.AdType, ad_type), constraint, projection)
out = [{k: (ad.eval(k) if k in ad else None) for k in (projection or ad.keys())} for ad in ads]
print(json.dumps(out, default=str))
"""

SPEC = textwrap.dedent("""\
    pool:
      name: rp
      trust_domain: rp.htcmesos.test
      signing_key_file: pool.key
      negotiator_interval: 1
      update_interval: 2
      job_lease: {lease}
    sites:
      - name: dc
        agents: {{attribute: "site:dc"}}
        calico: {{network: {dc_net}, cidr: {dc_cidr}}}
        executors: {{min: 0, max: 4}}
      - name: campus
        agents: {{region: campus-east}}
        private: {campus_private}
        calico: {{network: {campus_net}, cidr: {campus_cidr}}}
        executors: {{min: 0, max: 4}}
    roles:
      master:
        image: {master}{master_address}
        cpus: 1
        mem: 1024
        health_check: {{grace_period: 120, interval: 1, timeout: 5,
                       consecutive_failures: {master_failures}}}
      submitter:
        image: {submitter}
        cpus: 1
        mem: 1024
        health_check: {{grace_period: 120, interval: 1, timeout: 5}}
      executor:
        image: {executor}
        cpus: 2
        mem: 2048
        kill_grace_period: 20
        health_check: {{grace_period: 120, interval: 1, timeout: 5}}
    autoscaling: {{enabled: {elastic}, executor_size: {executor_size}, min_executors: 0,
                  max_executors: 8,
                  max_launches_per_tick: 4, idle_before_scale_in: 6, scale_up_cooldown: 10,
                  scale_down_cooldown: 4, tick: 2}}
    backend: {{type: sim, sim: {{seed: 3, agents_per_site: 3}}}}
    {network}""")
FAST = Options(reconcile_settle_s=0.3, refuse_s=0.5, idle_refuse_s=2.0,
               backoff=BackoffPolicy(base_s=0.5, max_s=5.0))
KEY = b"real-pool test signing key, not for production\n"
JOB_LEASE_S = 20


def make_spec(client: Any, images: dict, workdir: Path, campus_private: bool = True,
              nets: dict | None = None, elastic: bool = False,
              master_failures: int = 3, executor_size: str = "slot",
              job_lease_s: int | None = None, network: str = "",
              master_address: str = "") -> tuple[ClusterSpec, dict]:
    """The test pool's spec (fresh network names and free CIDRs unless ``nets`` given);
    ``master_failures``: failed health checks in a row that get the master replaced;
    ``executor_size``: autoscaling.executor_size; ``job_lease_s``: pool.job_lease;
    ``network``: a ``network:`` block (YAML, one line), e.g. brokers; ``master_address``:
    roles.master.address (e.g. ``dynamic``)."""
    tag = uuid.uuid4().hex[:6]
    nets = nets or {"dc_net": f"htcm-rp-dc-{tag}", "dc_cidr": free_docker_cidr(client, 231),
                    "campus_net": f"htcm-rp-campus-{tag}",
                    "campus_cidr": free_docker_cidr(client, 232)}
    text = SPEC.format(lease=job_lease_s or JOB_LEASE_S, campus_private=str(campus_private).lower(),
                       elastic=str(elastic).lower(), master_failures=master_failures,
                       executor_size=executor_size, network=network,
                       master_address=f"\n    address: {master_address}"
                       if master_address else "",
                       master=images[Role.MASTER], submitter=images[Role.SUBMITTER],
                       executor=images[Role.EXECUTOR], **nets)
    return parse_spec(text, "real-pool.yaml", workdir), nets


class RealPool:
    """The running pool and what tests ask of it."""

    def __init__(self, client: Any, images: dict, workdir: Path,
                 desired: dict[str, int], elastic: bool = False,
                 master_failures: int = 3, executor_size: str = "slot",
                 job_lease_s: int | None = None, network: str = "",
                 master_address: str = "") -> None:
        """``desired``: executors per site, kept by the framework; with ``elastic`` the
        queue decides instead (the elastic loop runs, ``desired`` is ignored)."""
        self.client, self.images, self.workdir = client, images, workdir
        self.key_file = workdir / "pool.key"
        self.key_file.write_bytes(KEY)
        self.spec, self.nets = make_spec(client, images, workdir, elastic=elastic,
                                         master_failures=master_failures,
                                         executor_size=executor_size, job_lease_s=job_lease_s,
                                         network=network, master_address=master_address)
        self.runner = DockerTaskRunner(client, poll_s=0.2)
        self.decisions: list = []        # (wall time, Decision) of the elastic loop
        self.run = EmulatedRun(self.spec, workdir, self.runner, options=FAST, tick_s=0.2,
                               elastic=elastic,
                               on_decision=lambda d: self.decisions.append((time.time(), d)))
        self.desired = {} if elastic else desired
        self.extra: list[Any] = []
        #: the central manager's address when it is not the spec's (a dynamic master)
        self.master_ip: str | None = None
        self._control: Any = None

    def start(self, timeout_s: float = 240.0) -> "RealPool":
        # the framework reads the key once; then the file is gone, as on an agent that
        # never had it: the master must still get its key (through the fetcher)
        self.run.start(self.desired, on_start=lambda fw: self.key_file.unlink())
        want = {(Role.MASTER, "dc"): 1, (Role.SUBMITTER, "dc"): 1}
        extra = plan_brokers(self.spec).count - 1       # connection brokers beyond the master
        if extra:
            want[(Role.BROKER, "dc")] = extra
        want.update({(Role.EXECUTOR, site): n for site, n in self.desired.items()})
        self.run.wait(lambda: all(len(self.confirmed(role, site)) >= n
                                  for (role, site), n in want.items()), timeout_s,
                      "every role running and healthy")
        return self

    def remove_extra(self) -> None:
        """Stop the extra containers gracefully (their daemons withdraw their ads), then
        remove them."""
        for container in self.extra:
            try:
                container.stop(timeout=5)
                container.remove(force=True)
            except Exception:  # noqa: BLE001 - gone already
                pass
        self.extra.clear()

    def close(self) -> None:
        self.remove_extra()
        if self._control is not None:
            self._control.worker.close()
        try:
            self.run.close()
        finally:
            self.runner.close()

    def control(self) -> "CondorControl":
        """HTCondor's side of the actuator as the framework has it (the bindings worker
        with the framework's own drain token), for tests that drain by hand."""
        if self._control is None:
            from framework.actuator.condor import CondorControl
            from framework.condor.tokens import mint_admin_token
            from framework.condor.workerclient import CondorWorker
            tokens = self.workdir / "framework-tokens"
            tokens.mkdir(mode=0o700, exist_ok=True)
            (tokens / "htcmesos").write_text(
                mint_admin_token(KEY, self.spec.pool.trust_domain, time.time()) + "\n")
            (tokens / "htcmesos").chmod(0o600)
            self._control = CondorControl(CondorWorker({
                "_CONDOR_TRUST_DOMAIN": self.spec.pool.trust_domain,
                "_CONDOR_SEC_TOKEN_DIRECTORY": str(tokens),
                "_CONDOR_SEC_CLIENT_AUTHENTICATION_METHODS": "IDTOKENS"}))
        return self._control

    # -- tasks and containers --------------------------------------------------------
    def confirmed(self, role: Role, site: str | None = None) -> list[TaskRecord]:
        return [r for r in self.run.records() if r.role is role and r.confirmed
                and (site is None or r.site == site)]

    def one(self, role: Role, site: str | None = None) -> TaskRecord:
        found = self.confirmed(role, site)
        assert found, f"no healthy {role} at {site or 'any site'}: {self.run.records()}"
        return found[0]

    def container(self, task_id: str) -> Any:
        found = self.client.containers.list(all=True, filters={"label": f"{TASK_LABEL}={task_id}"})
        assert len(found) == 1, (task_id, found)
        return found[0]

    def hostname(self, task_id: str) -> str:
        """The container's hostname (how HTCondor names the startd/schedd)."""
        return self.container(task_id).attrs["Config"]["Hostname"]

    def sh(self, task_id: str, command: str, check: bool = True) -> str:
        code, out = self.container(task_id).exec_run(["sh", "-c", command])
        text = (out or b"").decode("utf-8", "replace")
        assert not check or code == 0, (command, code, text)
        return text

    def submit_host(self) -> SubmitHost:
        return SubmitHost(self.container(self.one(Role.SUBMITTER).task_id))

    # -- HTCondor from the host ------------------------------------------------------
    @property
    def collector_address(self) -> str:
        return f"{self.master_ip or self.spec.master_address}:9618?sock=collector"

    def ads(self, ad_type: str, constraint: str = "true",
            projection: tuple[str, ...] = ()) -> list[dict]:
        """Ads from the central manager's collector, as plain dicts (empty on failure).

        Asked from a child process: the htcondor2 bindings hold the GIL while they wait
        on the network (3 s and more for a collector that is gone), which would freeze
        the framework, the emulated master and the Docker runner living in this one."""
        proc = subprocess.run([sys.executable, "-c", _QUERY, self.collector_address, ad_type,
                               constraint, json.dumps(list(projection))],
                              capture_output=True, text=True, timeout=120)
        return json.loads(proc.stdout) if proc.returncode == 0 else []

    def startd_of(self, task_id: str) -> dict | None:
        ads = self.ads("Startd", f'HTCMESOS_TASK_ID == "{task_id}"',
                       ("Name", "Machine", "HTCMESOS_SITE", "MyAddress", "State"))
        return ads[0] if ads else None

    # -- intruders -------------------------------------------------------------------
    def extra_container(self, site: str, role: Role, task_id: str, config: str,
                        files: dict[str, bytes]) -> Any:
        """A role container the framework did not launch, on ``site``'s network, with
        ``config`` and credential ``files`` (``passwords/NAME`` or ``tokens/NAME``) as
        if fetched into its sandbox."""
        sandbox = self.workdir / f"extra-{task_id}"
        for name, data in files.items():
            path = sandbox / "htcmesos-credentials" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        network = self.runner_network(site)
        container = self.client.containers.run(
            self.images[role], detach=True, network=network,
            environment={"HTCMESOS_CONDOR_CONFIG_B64": base64.b64encode(config.encode()).decode(),
                         "HTCMESOS_TASK_ID": task_id, "MESOS_SANDBOX": "/mnt/mesos/sandbox",
                         "HTCMESOS_MASTER_ADDRESS": self.spec.master_address},
            volumes={str(sandbox): {"bind": "/mnt/mesos/sandbox", "mode": "rw"}},
            labels={"htcmesos.test-extra": "1"})
        self.extra.append(container)
        return container

    def runner_network(self, site: str) -> str:
        """The Docker network standing in for ``site``'s Calico network."""
        return self.spec.site(site).calico_network

    def config(self, role: Role, site: str, **spec_changes: Any) -> str:
        """A role config rendered from this pool's spec (``campus_private`` may change)."""
        spec = self.spec
        if "campus_private" in spec_changes:
            spec, _ = make_spec(self.client, self.images, self.workdir,
                                spec_changes["campus_private"], self.nets)
        return render_config(spec, role, site)


def wait_job(host: SubmitHost, cluster: int, predicate, timeout_s: float, what: str):
    """The cluster's jobs once ``predicate(jobs)`` holds (polled); AssertionError else."""
    box: list = []

    def check() -> bool:
        jobs = [j for j in host.jobs() if j.cluster == cluster]
        box[:] = [jobs]
        return bool(jobs) and predicate(jobs)

    if not wait_for(check, timeout_s, interval_s=0.5):
        raise AssertionError(f"{what}: not within {timeout_s:g} s; jobs {box}")
    return box[0]


def job_attrs(host: SubmitHost, cluster: int, attrs: str) -> list[list[str]]:
    """``condor_q`` then ``condor_history`` rows of ``attrs`` for one cluster."""
    out = host.run(f"condor_q {cluster} -af {attrs}; condor_history {cluster} -af {attrs}")
    return [line.split() for line in out.splitlines() if line.strip()]


def elapsed(since: float) -> float:
    return time.monotonic() - since
