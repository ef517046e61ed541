"""A real HTCondor pool, end to end: the production framework against the strict Mesos
emulator whose agents run the real role images (HTCondor 23.9 daemons) on the local
Docker engine, two sites on iptables'd networks (``campus`` takes no inbound connection).

One pool serves the module; the tests run in file order, the later ones change the pool
(an executor killed, an agent lost, the central manager replaced). Nothing here sleeps for
luck: every wait is a condition with a deadline.
"""
from __future__ import annotations

import json
import time
import urllib.request
import uuid
from typing import Iterator

import pytest

from framework.condor.tokens import admin_key, decode, mint_role_token, mint_token
from framework.mesos.protocol import TaskState
from framework.model import Role
from framework.sim.condorpool import SubmitHost
from tests.realpool import JOB_LEASE_S, KEY, RealPool, job_attrs, wait_job
from tests.services import wait_for

pytestmark = pytest.mark.docker

DESIRED = {"dc": 2, "campus": 1}


@pytest.fixture(scope="module")
def pool(docker_engine, role_images, tmp_path_factory) -> Iterator[RealPool]:
    real = RealPool(docker_engine, role_images, tmp_path_factory.mktemp("real-pool"), DESIRED)
    try:
        yield real.start()
    finally:
        real.close()
    leftovers = docker_engine.containers.list(all=True, filters={
        "label": f"htcmesos.runner={real.runner.runner_id}"})
    assert not leftovers, "the runner left containers behind"


@pytest.fixture(scope="module")
def host(pool: RealPool) -> SubmitHost:
    return pool.submit_host()


@pytest.fixture
def extra(pool: RealPool) -> Iterator[RealPool]:
    """The pool, for a test that adds containers of its own (withdrawn afterwards)."""
    try:
        yield pool
    finally:
        pool.remove_extra()


def health(ip: str) -> tuple[int, dict]:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{ip}:5000/health", timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_pool_came_up_in_order_on_real_health_checks(pool: RealPool):
    master, sub = pool.one(Role.MASTER), pool.one(Role.SUBMITTER)
    executors = pool.confirmed(Role.EXECUTOR)
    assert master.ip == pool.spec.master_address           # its fixed address
    # each role started only once the one before was healthy (by real daemons)
    assert master.healthy_at <= sub.launched_at
    assert all(sub.healthy_at <= ex.launched_at for ex in executors)
    status, body = health(master.ip)
    assert status == 200 and "collector" in body["detail"]
    status, body = health(sub.ip)
    assert status == 200 and "schedd" in body["detail"]
    for ex in executors:
        status, body = health(ex.ip)
        assert status == 200 and ex.task_id in body["detail"], body


def test_collector_behind_shared_port_and_every_daemon_registered(pool: RealPool):
    (collector,) = pool.ads("Collector", projection=("Name", "MyAddress"))
    assert f"{pool.spec.master_address}:9618" in collector["MyAddress"]
    schedds = pool.ads("Schedd", projection=("Name", "HTCMESOS_TASK_ID"))
    assert [s["HTCMESOS_TASK_ID"] for s in schedds] == [pool.one(Role.SUBMITTER).task_id]
    for ex in pool.confirmed(Role.EXECUTOR):
        ad = pool.startd_of(ex.task_id)
        assert ad is not None and ad["HTCMESOS_SITE"] == ex.site
        # the private site's startd is reached through the central manager's CCB
        assert ("CCBID" in ad["MyAddress"]) is (ex.site == "campus"), ad


def test_only_the_master_holds_the_key_and_nothing_leaks(pool: RealPool):
    master, sub = pool.one(Role.MASTER), pool.one(Role.SUBMITTER)
    ex = pool.one(Role.EXECUTOR, "campus")
    assert not pool.key_file.exists()        # the framework read it once, then it was gone
    assert pool.sh(master.task_id, "stat -c '%a' /etc/condor/passwords.d/POOL").strip() == "600"
    assert pool.sh(master.task_id, "cat /etc/condor/passwords.d/POOL").encode() == KEY
    assert pool.sh(sub.task_id, "ls -A /etc/condor/passwords.d").strip() == ""
    # executors hold only the key the framework signs its drains with, derived one way
    # from the pool key (framework/condor/tokens.py admin_key)
    assert pool.sh(ex.task_id, "ls -A /etc/condor/passwords.d").split() == ["HTCMESOS_EXECUTORS"]
    derived = pool.sh(ex.task_id, "cat /etc/condor/passwords.d/HTCMESOS_EXECUTORS").encode()
    assert derived == admin_key(KEY) and KEY.strip() not in derived
    for rec, identity, scope in [(sub, "submitter", "ADVERTISE_SCHEDD"),
                                 (ex, "executor", "ADVERTISE_STARTD")]:
        names = pool.sh(rec.task_id, "ls /etc/condor/tokens.d").split()
        assert names == [identity]
        token = pool.sh(rec.task_id, f"cat /etc/condor/tokens.d/{identity}").strip()
        header, payload = decode(token)
        assert payload["sub"] == f"{identity}@{pool.spec.pool.trust_domain}"
        assert scope in payload["scope"] and "DAEMON" not in payload["scope"].split("/")
    for rec in (master, sub, ex):
        container = pool.container(rec.task_id)
        # the fetched copies left the sandbox; nothing secret in env, config or logs
        assert pool.sh(rec.task_id, "ls -A $MESOS_SANDBOX").split().count(
            "htcmesos-credentials") == 0
        env = "\n".join(container.attrs["Config"]["Env"])
        logs = container.logs()
        assert KEY.strip().decode() not in env and KEY.strip() not in logs
        assert "eyJ" not in env and b"eyJ" not in logs


def test_jobs_of_an_ordinary_user_run_at_both_sites(pool: RealPool, host: SubmitHost):
    clusters = {site: host.submit(site, 1, 2, command="sleep 1; id -un; hostname")
                for site in ("dc", "campus")}
    for site, cluster in clusters.items():
        jobs = wait_job(host, cluster, lambda js: all(j.status == "completed" for j in js),
                        90, f"jobs at {site}")
        hostnames = {pool.hostname(r.task_id) for r in pool.confirmed(Role.EXECUTOR, site)}
        for job in jobs:
            user, where = host.output(job).split()
            assert user == "nobody" and where in hostnames, (site, user, where, hostnames)
    owners = host.run("condor_history -af Owner").split()
    assert set(owners) == {"submituser"}


def test_untrusted_daemons_never_join(extra: RealPool):
    """A startd with a garbage token, with a token of another pool's key, or with one of
    ours limited to READ never appears in the collector; a legitimate one at the same
    moment does (positive control)."""
    trust = extra.spec.pool.trust_domain
    now = time.time()
    tokens = {
        "garbage": b"this is not a token\n",
        "foreign": mint_role_token(b"another pool's key\n", trust, Role.EXECUTOR, now).encode(),
        "readonly": mint_token(KEY, f"executor@{trust}", trust, ("READ",), now).encode(),
        "good": mint_role_token(KEY, trust, Role.EXECUTOR, now).encode(),
    }
    config = extra.config(Role.EXECUTOR, "dc")
    ids = {}
    for name, token in tokens.items():
        ids[name] = f"intruder-{name}-{uuid.uuid4().hex[:6]}"
        extra.extra_container("dc", Role.EXECUTOR, ids[name], config,
                             {"tokens/executor": token})
    assert wait_for(lambda: extra.startd_of(ids["good"]) is not None, 60, interval_s=0.5), \
        "the positive control never appeared"
    # the intruders tried (their collector updates failed) and stayed out
    for name in ("garbage", "foreign", "readonly"):
        container = next(c for c in extra.extra if ids[name] in str(c.attrs["Config"]["Env"]))
        assert wait_for(lambda: container.exec_run(
            ["grep", "-q", "Collector update failed", "/var/log/condor/StartLog"])[0] == 0,
            60, interval_s=0.5), name
        assert extra.startd_of(ids[name]) is None, name


def test_a_client_outside_the_pool_cannot_advertise_submit_or_reconfigure(extra: RealPool):
    """From a container on the pool's network: with no credential of the pool, or with a
    token of another pool, nothing is accepted; an executor's own token authenticates
    but its scope grants no administration, and the schedd (which holds no key) takes no
    remote token at all: only its local users submit."""
    trust = extra.spec.pool.trust_domain
    schedd = extra.ads("Schedd", projection=("MyAddress",))[0]["MyAddress"]
    cm = next(a["MyAddress"] for a in extra.ads("Master", projection=("MyAddress",))
              if f"<{extra.spec.master_address}:" in a["MyAddress"])
    ad = ('MyType = "Machine"\nName = "slot1@outsider"\nMachine = "outsider"\n'
          'HTCMESOS_TASK_ID = "outsider-ad"\n')
    advertise = (f"printf '%s' '{ad}' > /tmp/ad; "
                 f"condor_advertise -pool '{extra.collector_address}' UPDATE_STARTD_AD /tmp/ad; "
                 "printf '\\nadvertise=%s\\n' $?; ")
    rest = ("printf 'executable=/bin/true\\nqueue\\n' > /tmp/j.sub; "
            f"condor_submit -addr '{schedd}' /tmp/j.sub; printf '\\nsubmit=%s\\n' $?; "
            f"condor_reconfig -addr '{cm}'; printf '\\nreconfig=%s\\n' $?; "
            f"condor_off -addr '{cm}'; printf '\\noff=%s\\n' $?")
    refused = {"submit": "1", "reconfig": "1", "off": "1"}
    cases = {"no credential": (b"not a token\n", True),
             "another pool's token": (mint_role_token(b"other key\n", trust, Role.EXECUTOR,
                                                      time.time()).encode(), True),
             # advertising a startd is what an executor's token is for
             "an executor's token": (mint_role_token(KEY, trust, Role.EXECUTOR,
                                                     time.time()).encode(), False)}
    for case, (token, try_advertise) in cases.items():
        outsider = extra.extra_container("dc", Role.EXECUTOR, f"outsider-{uuid.uuid4().hex[:6]}",
                                        "use ROLE : Execute\n", {"tokens/executor": token})
        # anonymous READ stays open (condor_status works), so the tools find the daemons
        code, out = outsider.exec_run(
            ["sh", "-c", (advertise if try_advertise else "") + rest],
            environment={"_CONDOR_SEC_CLIENT_AUTHENTICATION": "OPTIONAL",
                         "_CONDOR_SEC_TOKEN_DIRECTORY": "/etc/condor/tokens.d"})
        text = out.decode("utf-8", "replace")
        results = dict(line.split("=", 1) for line in text.splitlines()
                       if line.split("=")[0] in ("advertise", "submit", "reconfig", "off"))
        assert results == ({"advertise": "1", **refused} if try_advertise else refused), \
            (case, text)
        assert "Failed to authenticate" in text or "DENIED" in text, (case, text)
    assert extra.startd_of("outsider-ad") is None
    assert extra.submit_host().run("condor_q -allusers -af Owner").split() == []
    assert len(extra.ads("Master")) >= 1 + sum(DESIRED.values())   # nobody was turned off


def test_private_site_needs_ccb(extra: RealPool, host: SubmitHost):
    """Nothing can connect into the campus network, so a campus startd without CCB is
    seen (it connects out to advertise) but never claimed: its job stays idle. The
    campus executor with CCB runs jobs (test above)."""
    dc, campus = extra.one(Role.EXECUTOR, "dc"), extra.one(Role.EXECUTOR, "campus")
    probe = "import socket,sys; socket.create_connection((sys.argv[1], 9618), 3); print('open')"
    assert "open" in extra.sh(campus.task_id, f"python3 -c \"{probe}\" {extra.spec.master_address}")
    blocked = extra.container(dc.task_id).exec_run(["python3", "-c", probe, campus.ip])
    assert blocked.exit_code != 0, "the private site accepted an inbound connection"

    task_id = f"noccb-{uuid.uuid4().hex[:6]}"
    config = extra.config(Role.EXECUTOR, "campus", campus_private=False)   # no CCB
    assert "CCB_ADDRESS =\n" in config
    trust = extra.spec.pool.trust_domain
    extra.extra_container("campus", Role.EXECUTOR, task_id, config,
                         {"tokens/executor": mint_role_token(KEY, trust, Role.EXECUTOR,
                                                             time.time()).encode()})
    assert wait_for(lambda: extra.startd_of(task_id) is not None, 60, interval_s=0.5)
    assert "CCBID" not in extra.startd_of(task_id)["MyAddress"]
    noccb = extra.startd_of(task_id)["Machine"]
    cluster = host.submit(None, 1, 1, requirements=f'TARGET.HTCMESOS_TASK_ID == "{task_id}"')
    # matched by the negotiator, but every claim fails: the schedd cannot connect in
    failures = f"grep -c 'Failed to send REQUEST_CLAIM to startd slot1@{noccb}' " \
               "/var/log/condor/SchedLog || true"
    sub = extra.one(Role.SUBMITTER).task_id
    assert wait_for(lambda: int(extra.sh(sub, failures).strip() or 0) >= 2, 120,
                    interval_s=1.0), extra.sh(sub, "tail -5 /var/log/condor/SchedLog")
    status, starts = job_attrs(host, cluster, "JobStatus NumJobStarts")[0]
    assert status == "1" and starts in ("0", "undefined"), (status, starts)
    host.run(f"condor_rm {cluster}", check=False)


def test_killed_executor_vacates_its_job_which_runs_elsewhere(pool: RealPool, host: SubmitHost):
    cluster = host.submit("dc", 6, 1, command="sleep 6; hostname")
    (job,) = wait_job(host, cluster, lambda js: js[0].status == "running", 60, "job running")
    hostname = job.host.split("@", 1)[1]
    victim = next(r for r in pool.confirmed(Role.EXECUTOR, "dc")
                  if pool.hostname(r.task_id) == hostname)
    assert pool.run.fw.kill(victim.task_id)      # a Mesos KILL with the role's grace period
    pool.run.wait(lambda: any(r.task_id == victim.task_id and r.state == "TASK_KILLED"
                              for r in pool.run.records()), 60, "executor killed")
    (job,) = wait_job(host, cluster, lambda js: js[0].status == "completed", 120,
                      "job completed after the kill")
    starts = int(job_attrs(host, cluster, "NumJobStarts")[0][0])
    assert starts >= 2                          # vacated, then run again ...
    assert host.output(job).strip() != hostname   # ... on another executor
    pool.run.wait(lambda: len(pool.confirmed(Role.EXECUTOR, "dc")) == DESIRED["dc"], 90,
                  "the killed executor replaced")


def test_agent_loss_takes_an_executor_whose_job_runs_on_the_replacement(
        pool: RealPool, host: SubmitHost):
    before = pool.one(Role.EXECUTOR, "campus")
    cluster = host.submit("campus", 4, 1, command="sleep 4; hostname")
    wait_job(host, cluster, lambda js: js[0].status == "running", 60, "job running")
    pool.run.cluster.lose_agent(before.agent_id)
    after = pool.run.wait(lambda: next((r for r in pool.confirmed(Role.EXECUTOR, "campus")
                                        if r.task_id != before.task_id), None), 120,
                          "replacement executor")
    assert after.agent_id != before.agent_id
    (job,) = wait_job(host, cluster, lambda js: js[0].status == "completed",
                      JOB_LEASE_S + 120, "job completed on the replacement")
    assert host.output(job).strip() == pool.hostname(after.task_id)


def test_replaced_master_is_found_at_its_address_without_restarting_anyone(
        pool: RealPool, host: SubmitHost):
    old = pool.one(Role.MASTER)
    others = {r.task_id: pool.container(r.task_id).attrs["State"]["StartedAt"]
              for r in pool.confirmed(Role.SUBMITTER) + pool.confirmed(Role.EXECUTOR)}
    pool.container(old.task_id).kill()           # the central manager dies
    pool.run.wait(lambda: any(r.task_id == old.task_id and r.state in (
        TaskState.FAILED.value, TaskState.FINISHED.value) for r in pool.run.records()),
        60, "old master ended")
    cluster = host.submit("dc", 1, 1, command="hostname")   # queued while there is none
    new = pool.run.wait(lambda: next((r for r in pool.confirmed(Role.MASTER)
                                      if r.task_id != old.task_id), None), 120, "new master")
    assert new.ip == old.ip == pool.spec.master_address
    # the schedd and every startd find the new collector by themselves
    executors = [t for t in others if t.split(".")[1] == "executor"]
    assert wait_for(lambda: len(pool.ads("Schedd")) == 1
                    and all(pool.startd_of(t) is not None for t in executors), 60,
                    interval_s=0.5), (executors, pool.ads("Startd", projection=(
                        "Name", "HTCMESOS_TASK_ID")))
    wait_job(host, cluster, lambda js: js[0].status == "completed", 90,
             "job queued during the master's absence")
    for task_id, started in others.items():                 # nobody was restarted
        assert pool.container(task_id).attrs["State"]["StartedAt"] == started
