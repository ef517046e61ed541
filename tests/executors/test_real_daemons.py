"""Rendered configs met by real HTCondor daemons outside the framework: an IPv6 central
manager address, which the executor must bracket (``[fd00::2]:9618?sock=collector``) and a
real startd must resolve. (The whole pool, IPv4, runs in tests/test_real_pool.py.)"""
from __future__ import annotations

import base64
import random
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from framework.condor.config import render_config
from framework.condor.tokens import mint_role_token
from framework.model import Role
from framework.spec import parse_spec
from tests.services import free_docker_cidr, wait_for

pytestmark = pytest.mark.docker

KEY = b"ipv6 test pool key\n"


def start(client: Any, images: dict, network: str, spec, role: Role, name: str,
          files: dict[str, bytes], sandbox: Path, ipv6: str | None = None) -> Any:
    """A role container holding ``files`` as if the Mesos fetcher had put them there."""
    for rel, data in files.items():
        path = sandbox / "htcmesos-credentials" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    config = render_config(spec, role, "dc")
    container = client.containers.create(
        images[role], name=name, detach=True, network=network,
        environment={"HTCMESOS_CONDOR_CONFIG_B64": base64.b64encode(config.encode()).decode(),
                     "HTCMESOS_TASK_ID": name, "MESOS_SANDBOX": "/mnt/mesos/sandbox",
                     "HTCMESOS_MASTER_ADDRESS": spec.master_address},
        volumes={str(sandbox): {"bind": "/mnt/mesos/sandbox", "mode": "rw"}},
        networking_config={network: client.api.create_endpoint_config(ipv6_address=ipv6)})
    container.start()
    return container


def test_ipv6_master_address_is_resolved_by_a_real_startd(docker_engine, role_images, tmp_path):
    tag = uuid.uuid4().hex[:6]
    v6 = f"fd00:{random.randrange(0x100, 0xffff):x}:{random.randrange(0x100, 0xffff):x}::/64"
    network = docker_engine.networks.create(
        f"htcm-v6-{tag}", driver="bridge", enable_ipv6=True, ipam={"Config": [
            {"Subnet": v6}, {"Subnet": free_docker_cidr(docker_engine, 233)}]},
        labels={"htcmesos.test-extra": "1"})
    spec = parse_spec(textwrap.dedent(f"""\
        pool: {{name: v6, trust_domain: v6.test, signing_key_file: key, update_interval: 2}}
        sites:
          - {{name: dc, calico: {{network: {network.name}, cidr: "{v6}"}}}}
        roles:
          master: {{image: m, cpus: 1, mem: 512}}
          submitter: {{image: s, cpus: 1, mem: 512}}
          executor: {{image: e, cpus: 1, mem: 512}}
        backend: {{type: sim}}
        """), "v6.yaml", tmp_path)
    assert ":" in spec.master_address
    assert f"COLLECTOR_HOST = [{spec.master_address}]:9618?sock=collector" in \
        render_config(spec, Role.EXECUTOR, "dc")
    containers = []
    try:
        containers.append(start(docker_engine, role_images, network.name, spec, Role.MASTER,
                                f"v6-master-{tag}", {"passwords/POOL": KEY}, tmp_path / "m",
                                spec.master_address))
        token = mint_role_token(KEY, "v6.test", Role.EXECUTOR, time.time()).encode()
        containers.append(start(docker_engine, role_images, network.name, spec,
                                Role.EXECUTOR, f"v6-ex-{tag}", {"tokens/executor": token},
                                tmp_path / "e"))
        master, executor = containers
        seen: list = []

        def registered() -> bool:
            code, out = master.exec_run(["condor_status", "-af", "HTCMESOS_TASK_ID", "MyAddress"])
            seen[:] = [out.decode()]
            return code == 0 and executor.name in out.decode()

        assert wait_for(registered, 60, interval_s=0.5), seen
        assert "[fd00-" in seen[0]                      # the startd has an IPv6 address too
        code, out = executor.exec_run(["python3", "-m", "htcmesos_role.probe"])
        assert code == 0 and f"[{spec.master_address}]:9618" in out.decode(), out
    finally:
        for container in containers:
            container.remove(force=True)
        network.remove()
