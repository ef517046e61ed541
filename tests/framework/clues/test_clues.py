"""CLUES drives htcmesos: virtual nodes, the LRMS view, the API and the command line as
CLUES' command-line power manager runs it (``cluesplugins/commandline.py``: ``/bin/sh -c``,
stdin closed, own session, killed after TIMEOUT_COMMANDS = 10 s, exit 0 = success, stdout
without a space taken as the node's real name)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from framework.api.server import ApiServer
from framework.clues.nodes import NodeTable, node_names
from framework.clues.view import lrms_jobs, lrms_nodes
from framework.elastic import ElasticLoop
from framework.monitor.snapshot import JobShape
from framework.planner import TaskState
from framework.sim.pool import Job, SimPool, Timings
from framework.spec import parse_spec
from tests.framework.planner.test_planner import ex, snap, startd

ROOT = Path(__file__).resolve().parents[3]
SPEC_TEXT = """
pool: {name: p, trust_domain: p.example, signing_key_file: k, negotiator_interval: 5}
sites:
  - {name: dc, calico: {network: n1, cidr: 10.1.0.0/16}, executors: {min: 0, max: 10}}
  - {name: campus, private: true, calico: {network: n2, cidr: 10.2.0.0/16},
     executors: {min: 0, max: 2}}
roles:
  master: {image: m, cpus: 1, mem: 512}
  submitter: {image: s, cpus: 1, mem: 512}
  executor: {image: e, cpus: 4, mem: 8192}
autoscaling: {driver: %s, idle_before_scale_in: 10, tick: 5}
api: {listen: "127.0.0.1:0"}
backend: {type: sim}
"""
SPEC = parse_spec(SPEC_TEXT % "clues")
GIB = 1 << 30


def clues_command(cmdline: str) -> subprocess.CompletedProcess:
    """Run a power command the way CLUES' commandline plugin does."""
    return subprocess.run(["/bin/sh", "-c", cmdline], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, start_new_session=True, timeout=10,
                          cwd=ROOT)


HTCMESOS = f"{sys.executable} -m framework.cli"


class CommandlinePowerManager:
    """CLUES' command-line power manager, written from grycap/clues
    ``cluesplugins/commandline.py`` (2.3.0): a node absent from the hosts file (``IP NAME``
    lines) is never powered; ``%%a`` / ``%%h`` in the command become its IP and name; on
    exit 0 an output that is one space-free word is taken as the node's real name."""

    def __init__(self, powon: str, powoff: str, hosts: str) -> None:
        self.powon, self.powoff = powon, powoff
        self.ips = {name: ip for ip, name in (line.split() for line in hosts.splitlines()
                                              if line.strip())}

    def power_on(self, node: str) -> tuple[bool, str | None]:
        return self._run(self.powon, node)

    def power_off(self, node: str) -> tuple[bool, str | None]:
        return self._run(self.powoff, node)

    def _run(self, template: str, node: str) -> tuple[bool, str | None]:
        if node not in self.ips:
            return False, None
        done = clues_command(template.replace("%%a", self.ips[node]).replace("%%h", node))
        if done.returncode != 0:
            return False, None
        out = done.stdout
        return True, (out if len(out.split(" ")) == 1 else node)


@pytest.fixture
def pool_api():
    """A SimPool run by the loop with CLUES driving, its API on a free loopback port."""
    jobs = [Job(1, 100.0, 60.0, 2, 1024, "campus")]
    pool = SimPool(["dc", "campus"], (4.0, 8192.0), jobs,
                   Timings(boot_s=10, claim_s=1, negotiation_s=5))
    loop = ElasticLoop(SPEC, pool, pool, pool)
    server = ApiServer("127.0.0.1:0", loop).start()
    yield pool, loop, server
    server.stop()


def run_until(loop: ElasticLoop, start: float, condition, limit_s: float = 600) -> float:
    now = start
    while now <= start + limit_s:
        loop.tick(now)
        if condition():
            return now
        now += 5
    raise AssertionError(f"not reached in {limit_s} simulated s: {loop.last}")


def node_state(loop: ElasticLoop, name: str) -> str:
    return next(n["state"] for n in loop.view.nodes if n["name"] == name)


def test_clues_powers_a_node_on_and_off_through_the_command_line(pool_api, tmp_path):
    pool, loop, server = pool_api
    url = f"--url {server.url}"
    # before the first tick there is no view: the LRMS plugin gets an error, not a guess
    nodes = clues_command(f"{HTCMESOS} clues-nodes {url}")
    assert nodes.returncode == 1 and "no view yet" in nodes.stderr
    loop.tick(0.0)
    view = json.loads(clues_command(f"{HTCMESOS} clues-nodes {url}").stdout)
    assert [n["name"] for n in view] == [*node_names(SPEC, "dc"), "campus-1", "campus-2"]
    assert {n["state"] for n in view} == {"OFF"}
    assert view[0] == {"name": "dc-01", "state": "OFF", "slots_count": 4, "slots_free": 4,
                       "memory_total": 8 * GIB, "memory_free": 8 * GIB,
                       "keywords": {"hostname": "dc-01", "HTCMESOS_SITE": "dc"}}

    spec = tmp_path / "pool.yaml"
    spec.write_text(SPEC_TEXT % "clues")
    hosts = clues_command(f"{HTCMESOS} clues-nodes --hosts --spec {spec}").stdout
    clues = CommandlinePowerManager(f"{HTCMESOS} poweron %%h {url}",
                                    f"{HTCMESOS} poweroff %%h {url}", hosts)
    assert clues.power_on("campus-2") == (True, "campus-2")   # its own name: a sentence
    assert clues.power_on("campus-9") == (False, None)        # not in the hosts file
    done = clues_command(f"{HTCMESOS} poweron campus-2 {url}")
    assert done.stdout.startswith("power-on of campus-2 requested")
    t = run_until(loop, 5.0, lambda: node_state(loop, "campus-2") == "IDLE")
    assert [e.site for e in pool.executors()] == ["campus"]
    assert node_state(loop, "campus-1") == "OFF"

    # the job pinned to campus arrives at 100 s and runs there: USED, a power-off keeps it
    t = run_until(loop, t + 5, lambda: node_state(loop, "campus-2") == "USED")
    assert clues.power_off("campus-2") == (True, "campus-2")
    loop.tick(t + 5)
    assert "NODE_USED" in {r.code.value for r in loop.last.reasons}
    t = run_until(loop, t + 10, lambda: node_state(loop, "campus-2") == "IDLE")
    jobs = json.loads(clues_command(f"{HTCMESOS} clues-jobs {url}").stdout)
    assert jobs == []

    assert clues.power_off("campus-2") == (True, "campus-2")
    run_until(loop, t + 5, lambda: not pool.executors())
    assert node_state(loop, "campus-2") == "OFF"
    assert pool.metrics.killed_running == 0 and pool.metrics.killed_executors == 1


def test_bad_power_requests_get_clear_errors(pool_api, tmp_path):
    _, loop, server = pool_api
    url = f"--url {server.url}"
    loop.tick(0.0)
    bad = clues_command(f"{HTCMESOS} poweron campus-3 {url}")
    assert bad.returncode == 2
    assert "'campus-3' is not a node of pool p: its nodes are dc-01 … dc-10, campus-1 … " \
           "campus-2" in bad.stderr
    spec = tmp_path / "pool.yaml"
    spec.write_text(SPEC_TEXT % "clues")
    local = clues_command(f"{HTCMESOS} poweroff nosuch --spec {spec} {url}")
    assert local.returncode == 2 and "'nosuch' is not a node" in local.stderr
    gone = clues_command(f"{HTCMESOS} poweron dc-01 --url http://127.0.0.1:9")
    assert gone.returncode == 1 and "does not answer" in gone.stderr
    hosts = clues_command(f"{HTCMESOS} clues-nodes --hosts --spec {spec}")
    assert hosts.stdout.splitlines()[:2] == ["0.0.0.0 dc-01", "0.0.0.0 dc-02"]
    assert len(hosts.stdout.splitlines()) == 12


def test_the_api_refuses_power_requests_when_htcmesos_sizes_the_pool(tmp_path):
    spec = parse_spec(SPEC_TEXT % "htcmesos")
    pool = SimPool(["dc", "campus"], (4.0, 8192.0), [], Timings())
    loop = ElasticLoop(spec, pool, pool, pool)
    server = ApiServer("127.0.0.1:0", loop).start()
    try:
        loop.tick(0.0)
        r = requests.post(f"{server.url}/v1/clues/nodes/dc-01/poweron", timeout=5)
        assert r.status_code == 409 and "autoscaling.driver: clues" in r.json()["error"]
        assert requests.get(f"{server.url}/v1/clues/nodes", timeout=5).status_code == 200
    finally:
        server.stop()


def test_the_api_speaks_http_strictly_and_checks_its_token(pool_api):
    pool, loop, _ = pool_api
    server = ApiServer("127.0.0.1:0", loop, token="s3cret").start()
    try:
        loop.tick(0.0)
        base = server.url
        r = requests.get(f"{base}/v1/clues/nodes", timeout=5)
        assert r.status_code == 401 and r.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = {"Authorization": "Bearer nope"}
        assert requests.get(f"{base}/v1/clues/nodes", headers=wrong, timeout=5).status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        assert requests.get(f"{base}/v1/clues/jobs", headers=auth, timeout=5).json() == []
        r = requests.get(f"{base}/v1/clues/nodes/dc-01/poweron", headers=auth, timeout=5)
        assert r.status_code == 405 and r.headers["Allow"] == "POST"
        r = requests.delete(f"{base}/v1/clues/nodes", headers=auth, timeout=5)
        assert r.status_code == 405 and r.headers["Allow"] == "GET"
        r = requests.get(f"{base}/v2/nodes", headers=auth, timeout=5)
        assert r.status_code == 404 and "no such resource: /v2/nodes" in r.json()["error"]
        r = requests.post(f"{base}/v1/clues/nodes/dc-01/poweron", headers=auth,
                          data=b"x" * (65 * 1024), timeout=5)
        assert r.status_code == 413
        token = Path(os.environ.get("TMPDIR", "/tmp")) / f"tok-{os.getpid()}"
        token.write_text("s3cret\n")
        try:
            ok = clues_command(f"{HTCMESOS} poweron dc-01 --url {base} --token-file {token}")
            no = clues_command(f"{HTCMESOS} poweron dc-01 --url {base}")
        finally:
            token.unlink()
        assert ok.returncode == 0 and no.returncode == 1 and "HTTP 401" in no.stderr
    finally:
        server.stop()


def test_view_states_follow_executors_ads_and_data_freshness():
    table = NodeTable({"t1": "dc-01", "t2": "dc-02", "t3": "dc-03", "t4": "dc-04",
                       "t5": "campus-1"})
    execs = [ex("t1"), ex("t2"), ex("t3", state=TaskState.STARTING), ex("t4"),
             ex("t5", "campus", TaskState.KILLING)]
    fresh = snap(startd("t1"), startd("t2", claims=3))
    states = {n["name"]: n for n in lrms_nodes(SPEC, fresh, execs, table)}
    assert {k: v["state"] for k, v in states.items() if v["state"] != "OFF"} == {
        "dc-01": "IDLE", "dc-02": "USED", "dc-04": "UNKNOWN"}   # running, its ad missing
    assert states["dc-03"]["state"] == "OFF" and states["campus-1"]["state"] == "OFF"
    assert states["dc-02"]["slots_free"] == 1 and states["dc-02"]["memory_free"] == 5 * GIB
    assert states["dc-02"]["keywords"]["task_id"] == "t2"
    stale = snap(startd("t1"), startd("t2", claims=3), fresh=False)
    assert {n["state"] for n in lrms_nodes(SPEC, stale, execs[:2], table)} == {"UNKNOWN", "OFF"}


def test_jobs_view_lists_idle_shapes_with_their_site_constraint():
    jobs = lrms_jobs(SPEC, snap(jobs=(JobShape(1, 2048, None, 7), JobShape(3, 1024, "campus", 2))))
    assert jobs == [
        {"id": "idle/*/1c/2048MiB", "state": "PENDING", "cpus": 1, "memory": 2 * GIB,
         "nodes": [], "taskcount": 7, "maxtaskspernode": 4, "requests": []},
        {"id": "idle/campus/3c/1024MiB", "state": "PENDING", "cpus": 3, "memory": GIB,
         "nodes": [], "taskcount": 2, "maxtaskspernode": 1,
         "requests": ['HTCMESOS_SITE == "campus"']}]


def test_api_and_driver_in_the_spec(tmp_path):
    from framework.errors import SpecError
    bad = SPEC_TEXT.replace('api: {listen: "127.0.0.1:0"}', 'api: {listen: "0.0.0.0:8642"}')
    with pytest.raises(SpecError, match=r"api.listen: '0.0.0.0:8642' is reachable from other "
                                        r"hosts: set api.token_file"):
        parse_spec(bad % "clues")
    with pytest.raises(SpecError, match=r"autoscaling.driver: must be one of htcmesos, clues"):
        parse_spec(SPEC_TEXT % "cobald")
    off = SPEC_TEXT.replace("autoscaling: {", "autoscaling: {enabled: false, ")
    with pytest.raises(SpecError, match=r"driver: clues needs enabled: true"):
        parse_spec(off % "clues")
    none = parse_spec((SPEC_TEXT % "clues").replace('"127.0.0.1:0"', '""'))
    assert none.api.listen == ""
    assert parse_spec(SPEC_TEXT % "clues").api.url.startswith("http://127.0.0.1:")


def test_jobs_view_counts_memory_and_leaves_out_jobs_no_executor_holds():
    jobs = lrms_jobs(SPEC, snap(jobs=(JobShape(1, 6000, "dc", 3), JobShape(8, 1024, None, 1),
                                      JobShape(1, 9000, None, 1))))
    assert [(j["id"], j["maxtaskspernode"]) for j in jobs] == [("idle/dc/1c/6000MiB", 1)]


def test_the_api_is_strict_about_methods_lengths_and_tokens(pool_api, tmp_path):
    from dashboards.auth import TokenBook
    from framework.errors import HtcmesosError
    pool, loop, _ = pool_api
    server = ApiServer("127.0.0.1:0", loop, token="s3cret").start()
    try:
        base, auth = server.url, {"Authorization": "bearer s3cret"}   # scheme: any case
        r = requests.post(f"{base}/v1/clues/nodes/dc-01/poweron", headers=auth, timeout=5)
        assert r.status_code == 503 and "first tick" in r.json()["error"]   # nothing queued
        loop.tick(0.0)
        assert requests.head(f"{base}/v1/clues/nodes", headers=auth, timeout=5).status_code == 200
        r = requests.patch(f"{base}/v1/clues/nodes", headers=auth, timeout=5)
        assert r.status_code == 405 and r.json()["error"].startswith("PATCH")
        r = requests.post(f"{base}/v1/clues/nodes/dc-01/poweron",
                          headers={**auth, "Content-Length": "-1"}, timeout=5)
        assert r.status_code == 400
    finally:
        server.stop()
    for content, words in [(b"\xff\xfe", "line 1: bytes that are not ASCII"),
                           (b"# who token\nthree word line", "line 2: a line is TOKEN or NAME "
                                                             "TOKEN, this one has 3 words"),
                           (b"", "holds no token")]:
        (tmp_path / "tok").write_bytes(content)
        with pytest.raises(HtcmesosError, match=words):
            TokenBook.read(tmp_path / "tok")
    bad = clues_command(f"{HTCMESOS} poweron dc-01 --url http://127.0.0.1:9 "
                        f"--token-file {tmp_path / 'tok'}")
    assert bad.returncode == 1 and "holds no token" in bad.stderr \
        and "Traceback" not in bad.stderr
