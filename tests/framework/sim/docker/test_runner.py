"""DockerTaskRunner against the real engine (fixture ``docker_engine``) and the tiny image.

Every task mounts the host's /usr read-only (the tiny image has nothing but symlinks), so
its ``python3`` and ``sh`` are the host's.
"""
from __future__ import annotations

import ipaddress
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import docker.errors
import pytest

from tests.services import free_docker_cidr
from tests.waiting import wait_for

from framework.mesos.protocol import TaskState
from framework.sim.docker.runner import (LAUNCH_FAILED, OWNER_LABEL, RUNNER_LABEL,
                                         TASK_LABEL, DockerTaskRunner)
from framework.sim.images import HOST_USR_VOLUME
from framework.sim.runner import AgentInfo, StatusSink, TaskReport

pytestmark = pytest.mark.docker

WAIT_S = 30.0

HEALTH_SERVER = """
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == '/health' else 404)
        self.end_headers()
        self.wfile.write(b'ok')
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(('', 5000), H).serve_forever()
"""


class RecordingSink(StatusSink):
    """Records every report; tests wait for one matching a condition, with a deadline."""

    def __init__(self) -> None:
        self.reports: list[tuple[str, TaskReport]] = []
        self._cond = threading.Condition()

    def report(self, agent_id: str, report: TaskReport) -> None:
        with self._cond:
            self.reports.append((agent_id, report))
            self._cond.notify_all()

    def of(self, task_id: str) -> list[TaskReport]:
        with self._cond:
            return [r for _, r in self.reports if r.task_id == task_id]

    def states(self, task_id: str) -> list[TaskState]:
        return [r.state for r in self.of(task_id)]

    def wait_for(self, task_id: str, match: TaskState | Callable[[TaskReport], bool],
                 timeout_s: float = WAIT_S) -> TaskReport:
        test = (lambda r: r.state == match) if isinstance(match, TaskState) else match
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                for _, rep in self.reports:
                    if rep.task_id == task_id and test(rep):
                        return rep
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no matching report for {task_id} within {timeout_s} s;"
                                         f" got {[(r.state.name, r.message, r.healthy) for r in self.of(task_id)]}")
                self._cond.wait(left)


def wait_until(condition: Callable[[], bool], timeout_s: float = WAIT_S) -> None:
    wait_for(condition, timeout_s)


def free_cidr(client) -> str:
    return free_docker_cidr(client, 213)


@pytest.fixture
def network(docker_engine) -> tuple[str, str]:
    """A unique Mesos network name and a free CIDR for it (the Docker network is removed)."""
    name, cidr = f"htcm-test-{uuid.uuid4().hex[:8]}", free_cidr(docker_engine)
    yield name, cidr
    try:
        docker_engine.networks.get(name).remove()
    except docker.errors.NotFound:
        pass


@pytest.fixture
def agent(network) -> AgentInfo:
    return AgentInfo("agent-a1", "localhost", "site-a", {network[0]: network[1]})


@pytest.fixture
def runner(docker_engine):
    run = DockerTaskRunner(docker_engine, poll_s=0.1)
    yield run
    run.close()
    left = docker_engine.containers.list(all=True, filters={"label": f"{RUNNER_LABEL}={run.runner_id}"})
    assert left == [], "close() must remove every container it started"


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


def task_info(image: str, network: str, *, task_id: str | None = None, shell: bool = False,
              value: str | None = None, arguments: list[str] | None = None,
              env: dict[str, str] | None = None, volumes: list[dict[str, str]] = (),
              parameters: list[dict[str, str]] = (), health: dict[str, Any] | None = None,
              labels: dict[str, str] | None = None) -> dict[str, Any]:
    command: dict[str, Any] = {"shell": shell}
    if value is not None:
        command["value"] = value
    if arguments is not None:
        command["arguments"] = arguments
    if env:
        command["environment"] = {"variables": [{"name": k, "value": v} for k, v in env.items()]}
    info: dict[str, Any] = {
        "name": "t", "task_id": {"value": task_id or f"task-{uuid.uuid4().hex[:8]}"},
        "agent_id": {"value": "agent-a1"},
        "resources": [{"name": "cpus", "type": "SCALAR", "scalar": {"value": 0.1}},
                      {"name": "mem", "type": "SCALAR", "scalar": {"value": 128}}],
        "command": command,
        "container": {"type": "DOCKER",
                      "docker": {"image": image, "network": "USER", "parameters": list(parameters)},
                      "network_infos": [{"name": network}],
                      "volumes": [HOST_USR_VOLUME, *volumes]},
        "labels": {"labels": [{"key": k, "value": v} for k, v in (labels or {}).items()]},
    }
    if health:
        info["health_check"] = health
    return info


def container_of(client, task_id: str):
    found = client.containers.list(all=True, filters={"label": f"{TASK_LABEL}={task_id}"})
    return found[0] if found else None


def test_http_server_on_user_network_runs_and_gets_healthy(docker_engine, tiny_image, network,
                                                          agent, runner, sink):
    name, cidr = network
    info = task_info(tiny_image, name, arguments=["python3", "-c", HEALTH_SERVER],
                     labels={"role": "master"},
                     health={"type": "HTTP", "http": {"port": 5000, "path": "/health"},
                             "delay_seconds": 0, "interval_seconds": 0.3, "timeout_seconds": 2,
                             "grace_period_seconds": 20, "consecutive_failures": 3})
    task_id = info["task_id"]["value"]
    begin = time.monotonic()
    runner.launch(agent, info, sink)

    running = sink.wait_for(task_id, TaskState.RUNNING)
    to_running = time.monotonic() - begin
    assert running.ip_address and ipaddress.ip_address(running.ip_address) in ipaddress.ip_network(cidr)
    healthy = sink.wait_for(task_id, lambda r: r.healthy is True)
    to_healthy = time.monotonic() - begin
    assert healthy.state == TaskState.RUNNING
    assert sink.states(task_id)[:2] == [TaskState.STARTING, TaskState.RUNNING]
    assert all(a == agent.agent_id for a, _ in sink.reports)

    net = docker_engine.networks.get(name)
    assert net.attrs["IPAM"]["Config"][0]["Subnet"] == cidr
    labels = container_of(docker_engine, task_id).labels
    assert labels["role"] == "master" and labels[OWNER_LABEL] == "1"
    print(f"launch→RUNNING {to_running:.2f} s, →healthy {to_healthy:.2f} s")


def test_environment_volumes_and_parameters_reach_the_container(tiny_image, network, agent,
                                                               runner, sink, tmp_path: Path):
    out, src = tmp_path / "out", tmp_path / "in"
    out.mkdir()
    src.mkdir()
    (src / "file.txt").write_text("from-the-host\n")
    script = ('echo "$GREETING|$FROM_PARAM|$MESOS_TASK_ID" > /out/env.txt; '
              "cat /in/file.txt > /out/in.txt; cat /in2/file.txt >> /out/in.txt; "
              "ulimit -n > /out/nofile.txt; grep CapEff /proc/self/status > /out/cap.txt; "
              "touch /in/readonly 2> /out/ro.txt || echo refused >> /out/ro.txt")
    info = task_info(tiny_image, network[0], shell=True, value=script,
                     env={"GREETING": "hello world"},
                     volumes=[{"container_path": "/out", "host_path": str(out), "mode": "RW"},
                              {"container_path": "/in", "host_path": str(src), "mode": "RO"}],
                     parameters=[{"key": "env", "value": "FROM_PARAM=p1"},
                                 {"key": "volume", "value": f"{src}:/in2:ro"},
                                 {"key": "label", "value": "extra=yes"},
                                 {"key": "ulimit", "value": "nofile=1234:2345"},
                                 {"key": "cap-add", "value": "NET_ADMIN"}])
    task_id = info["task_id"]["value"]
    runner.launch(agent, info, sink)
    done = sink.wait_for(task_id, lambda r: r.state.terminal)
    assert done.state == TaskState.FINISHED, done.message
    assert (out / "env.txt").read_text() == f"hello world|p1|{task_id}\n"
    assert (out / "in.txt").read_text() == "from-the-host\nfrom-the-host\n"
    assert (out / "nofile.txt").read_text().strip() == "1234"
    cap_eff = int((out / "cap.txt").read_text().split()[1], 16)
    assert cap_eff & (1 << 12), "NET_ADMIN (bit 12) must be effective"
    assert "refused" in (out / "ro.txt").read_text()


def test_failing_command_is_failed_with_exit_code_and_log(tiny_image, network, agent, runner, sink):
    info = task_info(tiny_image, network[0], shell=True, value="echo boom-marker >&2; exit 3")
    runner.launch(agent, info, sink)
    failed = sink.wait_for(info["task_id"]["value"], lambda r: r.state.terminal)
    assert failed.state == TaskState.FAILED
    assert "status 3" in failed.message and "boom-marker" in failed.message


def test_kill_reports_killing_then_killed_and_removes_the_container(docker_engine, tiny_image,
                                                                   network, agent, runner, sink):
    info = task_info(tiny_image, network[0], arguments=["python3", "-c", "import time; time.sleep(600)"])
    task_id = info["task_id"]["value"]
    runner.launch(agent, info, sink)
    sink.wait_for(task_id, TaskState.RUNNING)
    assert container_of(docker_engine, task_id) is not None
    begin = time.monotonic()
    runner.kill(agent, task_id, 1.0, sink)
    assert time.monotonic() - begin < 0.5, "kill() must return at once"
    sink.wait_for(task_id, TaskState.KILLED)
    assert sink.states(task_id) == [TaskState.STARTING, TaskState.RUNNING,
                                    TaskState.KILLING, TaskState.KILLED]
    assert container_of(docker_engine, task_id) is None


def test_kill_right_after_launch_is_killed_without_running(docker_engine, tiny_image, network,
                                                           agent, runner, sink):
    info = task_info(tiny_image, network[0], arguments=["python3", "-c", "import time; time.sleep(600)"])
    task_id = info["task_id"]["value"]
    runner.launch(agent, info, sink)
    runner.kill(agent, task_id, 0.0, sink)
    killed = sink.wait_for(task_id, lambda r: r.state.terminal)
    assert killed.state == TaskState.KILLED
    assert TaskState.KILLING in sink.states(task_id)
    wait_until(lambda: container_of(docker_engine, task_id) is None, 10)


def test_missing_image_fails_the_task_without_exception(network, agent, runner, sink):
    info = task_info("htcmesos-test/no-such-image:0", network[0], arguments=["true"])
    runner.launch(agent, info, sink)          # must not raise
    failed = sink.wait_for(info["task_id"]["value"], lambda r: r.state.terminal)
    assert failed.state == TaskState.FAILED and failed.reason == LAUNCH_FAILED
    assert "no-such-image" in failed.message


def test_unknown_docker_parameter_fails_the_task_naming_it(tiny_image, network, agent, runner, sink):
    info = task_info(tiny_image, network[0], arguments=["true"],
                     parameters=[{"key": "frobnicate", "value": "1"}])
    runner.launch(agent, info, sink)
    failed = sink.wait_for(info["task_id"]["value"], lambda r: r.state.terminal)
    assert failed.state == TaskState.FAILED and "frobnicate" in failed.message


def test_failing_command_health_check_reports_unhealthy_then_kills(tiny_image, network, agent,
                                                                  runner, sink):
    info = task_info(tiny_image, network[0], arguments=["python3", "-c", "import time; time.sleep(600)"],
                     health={"type": "COMMAND", "command": {"shell": True, "value": "test -e /tmp/ok"},
                             "delay_seconds": 0, "interval_seconds": 0.2, "timeout_seconds": 5,
                             "grace_period_seconds": 0, "consecutive_failures": 2})
    info["kill_policy"] = {"grace_period": {"nanoseconds": 0}}
    task_id = info["task_id"]["value"]
    runner.launch(agent, info, sink)
    unhealthy = sink.wait_for(task_id, lambda r: r.healthy is False)
    assert unhealthy.state == TaskState.RUNNING and "status 1" in unhealthy.message
    killed = sink.wait_for(task_id, TaskState.KILLED)
    assert killed.healthy is False
    assert sink.states(task_id)[-2:] == [TaskState.KILLING, TaskState.KILLED]


def test_lose_agent_removes_containers_silently(docker_engine, tiny_image, network, agent,
                                                runner, sink):
    info = task_info(tiny_image, network[0], arguments=["python3", "-c", "import time; time.sleep(600)"])
    task_id = info["task_id"]["value"]
    runner.launch(agent, info, sink)
    sink.wait_for(task_id, TaskState.RUNNING)
    runner.lose_agent(agent)
    wait_until(lambda: container_of(docker_engine, task_id) is None, 15)
    assert sink.states(task_id) == [TaskState.STARTING, TaskState.RUNNING]


def test_agent_without_the_network_fails_the_task(tiny_image, runner, sink):
    bare = AgentInfo("agent-b1", "localhost", "site-b", {})
    info = task_info(tiny_image, f"htcm-absent-{uuid.uuid4().hex[:6]}", arguments=["true"])
    runner.launch(bare, info, sink)
    failed = sink.wait_for(info["task_id"]["value"], lambda r: r.state.terminal)
    assert failed.state == TaskState.FAILED and "htcm-absent" in failed.message


def test_quick_exit_zero_is_finished(tiny_image, network, agent, runner, sink):
    info = task_info(tiny_image, network[0], arguments=["python3", "-c", "print(42)"])
    runner.launch(agent, info, sink)
    done = sink.wait_for(info["task_id"]["value"], lambda r: r.state.terminal)
    assert done.state == TaskState.FINISHED, done.message
    assert sink.states(info["task_id"]["value"])[0] == TaskState.STARTING


def test_same_network_name_with_another_cidr_gets_its_own_bridge(docker_engine, tiny_image,
                                                                  network, agent, runner, sink):
    name, cidr_a = network
    cidr_b = free_cidr_excluding(docker_engine, cidr_a)
    agent_b = AgentInfo("agent-b1", "localhost", "site-b", {name: cidr_b})
    sleeper = ["python3", "-c", "import time; time.sleep(600)"]
    info_a = task_info(tiny_image, name, arguments=sleeper)
    info_b = task_info(tiny_image, name, arguments=sleeper)
    runner.launch(agent, info_a, sink)
    runner.launch(agent_b, info_b, sink)
    ip_a = sink.wait_for(info_a["task_id"]["value"], TaskState.RUNNING).ip_address
    ip_b = sink.wait_for(info_b["task_id"]["value"], TaskState.RUNNING).ip_address
    assert ipaddress.ip_address(ip_a) in ipaddress.ip_network(cidr_a)
    assert ipaddress.ip_address(ip_b) in ipaddress.ip_network(cidr_b)
    runner.close()
    for net in (name, f"{name}-{cidr_b.replace('/', '_')}"):
        with pytest.raises(docker.errors.NotFound):
            docker_engine.networks.get(net)


def free_cidr_excluding(client, taken: str) -> str:
    for _ in range(50):
        cidr = free_cidr(client)
        if not ipaddress.ip_network(cidr).overlaps(ipaddress.ip_network(taken)):
            return cidr
    pytest.fail("no second free /24")


def test_network_removed_meanwhile_is_made_again(docker_engine, tiny_image, network, agent,
                                                 runner, sink):
    first = task_info(tiny_image, network[0], arguments=["python3", "-c", "print(1)"])
    runner.launch(agent, first, sink)
    assert sink.wait_for(first["task_id"]["value"], lambda r: r.state.terminal).state == TaskState.FINISHED
    docker_engine.networks.get(network[0]).remove()        # as another runner's close() may
    second = task_info(tiny_image, network[0], arguments=["python3", "-c", "print(2)"])
    runner.launch(agent, second, sink)
    done = sink.wait_for(second["task_id"]["value"], lambda r: r.state.terminal)
    assert done.state == TaskState.FINISHED, done.message


def test_network_a_foreign_container_uses_is_kept_and_named_then_removed_once_free(
        docker_engine, tiny_image, network, agent):
    from framework.sim.docker.objects import NetworkPool
    pool = NetworkPool(docker_engine, f"r-{uuid.uuid4().hex[:8]}")
    name = pool.get(agent, network[0])
    foreign = docker_engine.containers.run(tiny_image, ["python3", "-c", "import time; time.sleep(60)"],
                                           network=name, detach=True,
                                           volumes={"/usr": {"bind": "/usr", "mode": "ro"}})
    try:
        assert pool.remove_created(deadline_s=0.5) == [name]        # not ours to cut off
        docker_engine.networks.get(name)
    finally:
        foreign.remove(force=True)
    assert pool.remove_created(deadline_s=10) == []
    with pytest.raises(docker.errors.NotFound):
        docker_engine.networks.get(name)


def test_network_with_an_endpoint_of_this_runner_is_disconnected_and_removed(
        docker_engine, tiny_image, network, agent):
    from framework.sim.docker.objects import NetworkPool
    runner_id = f"r-{uuid.uuid4().hex[:8]}"
    pool = NetworkPool(docker_engine, runner_id)
    name = pool.get(agent, network[0])
    ours = docker_engine.containers.run(tiny_image, ["python3", "-c", "import time; time.sleep(60)"],
                                        network=name, detach=True, labels={RUNNER_LABEL: runner_id},
                                        volumes={"/usr": {"bind": "/usr", "mode": "ro"}})
    try:
        assert pool.remove_created(deadline_s=10) == []
        with pytest.raises(docker.errors.NotFound):
            docker_engine.networks.get(name)
    finally:
        ours.remove(force=True)


# -- the fetcher, fixed addresses, private sites ------------------------------------------

def test_fetcher_puts_uris_into_the_sandbox_before_the_container_starts(
        tiny_image, network, agent, runner, sink, tmp_path: Path):
    from framework.backends.fetchserver import CredentialServer
    server = CredentialServer("127.0.0.1:0", None, time.monotonic).start()
    try:
        uris = server.offer("t", {"tokens/executor": b"a token\n"})
        out = tmp_path / "out"
        out.mkdir()
        info = task_info(tiny_image, network[0], shell=True,
                         value="cat $MESOS_SANDBOX/htcmesos-credentials/tokens/executor > /out/t",
                         volumes=[{"container_path": "/out", "host_path": str(out), "mode": "RW"}])
        info["command"]["uris"] = uris
        task_id = info["task_id"]["value"]
        runner.launch(agent, info, sink)
        sink.wait_for(task_id, TaskState.FINISHED)
        assert (out / "t").read_text() == "a token\n"
        assert server.pending() == 0 and server.served == 1        # fetched once
    finally:
        server.stop()


def test_fetch_failure_fails_the_task_before_it_starts(tiny_image, network, agent, runner,
                                                       sink):
    from framework.backends.fetchserver import CredentialServer
    server = CredentialServer("127.0.0.1:0", None, time.monotonic).start()
    try:
        (uri,) = server.offer("t", {"tokens/executor": b"x"})
        server.revoke("t")                                           # the URL now answers 404
        info = task_info(tiny_image, network[0], arguments=["true"])
        info["command"]["uris"] = [uri]
        task_id = info["task_id"]["value"]
        runner.launch(agent, info, sink)
        failed = sink.wait_for(task_id, TaskState.FAILED)
        assert sink.states(task_id) == [TaskState.FAILED]          # never STARTING
        assert failed.reason == LAUNCH_FAILED and "Failed to fetch all URIs" in failed.message
        stderr = runner.sandbox_root / agent.agent_id / task_id / "stderr"
        assert "received HTTP return code 404" in stderr.read_text()
    finally:
        server.stop()


def test_fixed_addresses_come_from_the_lower_half_automatic_ones_from_the_upper(
        tiny_image, network, agent, runner, sink):
    name, cidr = network
    net = ipaddress.ip_network(cidr)
    fixed = str(net.network_address + 2)
    one = task_info(tiny_image, name, arguments=["sleep", "60"],
                    parameters=[{"key": "ip", "value": fixed}])
    auto = task_info(tiny_image, name, arguments=["sleep", "60"])
    clash = task_info(tiny_image, name, arguments=["sleep", "60"],
                      parameters=[{"key": "ip", "value": fixed}])
    for info in (one, auto):
        runner.launch(agent, info, sink)
    assert sink.wait_for(one["task_id"]["value"], TaskState.RUNNING).ip_address == fixed
    ip = ipaddress.ip_address(sink.wait_for(auto["task_id"]["value"], TaskState.RUNNING).ip_address)
    assert ip in list(net.subnets(prefixlen_diff=1))[1]
    runner.launch(agent, clash, sink)                # a second task at the same address
    failed = sink.wait_for(clash["task_id"]["value"], TaskState.FAILED)
    assert "already in use" in failed.message.lower() or "address" in failed.message.lower()


def test_private_site_network_takes_no_inbound_connection(docker_engine, tiny_image, runner,
                                                          sink):
    from framework.sim.docker.firewall import PARENT
    import subprocess
    pub, priv = (f"htcm-fw-{x}-{uuid.uuid4().hex[:6]}" for x in ("pub", "priv"))
    public = AgentInfo("pub-1", "localhost", "dc", {pub: free_docker_cidr(docker_engine, 214)})
    private = AgentInfo("priv-1", "localhost", "campus",
                        {priv: free_docker_cidr(docker_engine, 215)}, private=True)
    server = "import http.server as h; h.ThreadingHTTPServer(('', 5000), h.BaseHTTPRequestHandler).serve_forever()"
    probe = ("import socket, sys\ntry:\n    socket.create_connection((sys.argv[1], 5000), 3)"
             "\n    print('open')\nexcept OSError as e:\n    print('closed', e)")
    infos = {}
    try:
        for who, agent_, net in (("pub", public, pub), ("priv", private, priv)):
            infos[who] = task_info(tiny_image, net, arguments=["python3", "-c", server])
            runner.launch(agent_, infos[who], sink)
        ips = {who: sink.wait_for(info["task_id"]["value"], TaskState.RUNNING).ip_address
               for who, info in infos.items()}

        def connect(frm: str, to: str) -> str:
            container = container_of(docker_engine, infos[frm]["task_id"]["value"])
            return container.exec_run(["python3", "-c", probe, ips[to]])[1].decode()

        assert connect("priv", "pub").startswith("open")        # out of the private site
        assert connect("pub", "priv").startswith("closed")      # never into it
        assert "refused" in connect("pub", "priv").lower() or "unreachable" in \
            connect("pub", "priv").lower()                      # rejected, not a timeout
        chain = runner.firewall.chain
        rules = subprocess.run(["iptables", "-S", PARENT], capture_output=True, text=True).stdout
        assert f"-j {chain}" in rules
    finally:
        runner.close()
        for net in (pub, priv):
            try:
                docker_engine.networks.get(net).remove()
            except docker.errors.NotFound:
                pass
    rules = subprocess.run(["iptables", "-S", PARENT], capture_output=True, text=True).stdout
    assert chain not in rules                                   # removed on close


def _answers(ip: str) -> bool:
    import http.client
    conn = http.client.HTTPConnection(ip, 5000, timeout=1)
    try:
        conn.request("GET", "/health")
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def test_a_partitioned_agents_task_runs_on_cut_off_and_keeps_its_address(
        docker_engine, tiny_image, network, agent, runner, sink):
    """A partition takes the task off the network (nobody reaches it) without freeing its
    address (a second task asking for it still fails), pauses the health checks (no
    unhealthy report while cut off); healed, it answers at its address again."""
    name, cidr = network
    fixed = str(ipaddress.ip_network(cidr).network_address + 2)
    info = task_info(tiny_image, name, arguments=["python3", "-c", HEALTH_SERVER],
                     parameters=[{"key": "ip", "value": fixed}],
                     health={"type": "HTTP", "http": {"port": 5000, "path": "/health"},
                             "delay_seconds": 0, "interval_seconds": 0.2, "timeout_seconds": 1,
                             "grace_period_seconds": 20, "consecutive_failures": 2})
    task_id = info["task_id"]["value"]
    runner.launch(agent, info, sink)
    sink.wait_for(task_id, lambda r: r.healthy is True)
    assert wait_for(lambda: _answers(fixed), WAIT_S)
    runner.partition(agent, True)
    wait_until(lambda: not _answers(fixed))
    container = container_of(docker_engine, task_id)
    container.reload()
    assert container.status == "running"
    clash = task_info(tiny_image, name, arguments=["sleep", "60"],
                      parameters=[{"key": "ip", "value": fixed}])
    runner.launch(agent, clash, sink)               # the address is still taken
    assert "already in use" in sink.wait_for(clash["task_id"]["value"],
                                             TaskState.FAILED).message.lower()
    runner.partition(agent, False)
    assert wait_for(lambda: _answers(fixed), WAIT_S)
    assert not any(r.healthy is False for r in sink.of(task_id))   # never unhealthy
    assert TaskState.KILLED not in sink.states(task_id)
