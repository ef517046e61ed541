"""Fixtures for the Marathon emulator tests: an EmulatedMarathon on the emulated master
(two sites, simulated tasks; see tests/framework/sim/conftest.py) and small helpers."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from framework.sim.marathon import EmulatedMarathon
from framework.sim.mesos.master import EmulatedMaster
from tests.waiting import wait_for


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    root = tmp_path / "secrets"
    (root / "htcondor" / "p1").mkdir(parents=True)
    (root / "htcondor" / "p1" / "master").write_text('{"passwords/POOL": "cG9vbA=="}')
    return root


@pytest.fixture
def marathon(master: EmulatedMaster, secrets_dir: Path) -> Iterator[EmulatedMarathon]:
    m = EmulatedMarathon(master.url, secrets_dir=secrets_dir, deployment_poll_s=0.05).start()
    yield m
    m.stop()


def docker_app(app_id: str, instances: int = 1, site: str = "dc", **extra: Any) -> dict[str, Any]:
    """An app shaped like the pool's role apps (Calico network, MESOS_HTTP check)."""
    app: dict[str, Any] = {
        "id": app_id, "instances": instances, "cpus": 0.5, "mem": 256,
        "container": {"type": "DOCKER", "docker": {"image": "htcmesos/role:1"},
                      "portMappings": [{"containerPort": 5000, "name": "health", "protocol": "tcp"}]},
        "networks": [{"mode": "container", "name": f"calico-{site}"}],
        "constraints": [["site", "CLUSTER", site]],
        "healthChecks": [{"protocol": "MESOS_HTTP", "path": "/health", "portIndex": 0,
                          "gracePeriodSeconds": 5, "intervalSeconds": 1, "timeoutSeconds": 1,
                          "maxConsecutiveFailures": 3}],
        "upgradeStrategy": {"minimumHealthCapacity": 1, "maximumOverCapacity": 0.5},
        "backoffSeconds": 1, "backoffFactor": 1.15, "maxLaunchDelaySeconds": 300,
    }
    app.update(extra)
    return app


def deployed(m: EmulatedMarathon, timeout: float = 15.0) -> None:
    """Wait until no deployment is left."""
    wait_for(lambda: requests.get(m.url + "/v2/deployments").json() == [], timeout,
             "deployments to finish")


def healthy_tasks(m: EmulatedMarathon, app_id: str) -> list[dict[str, Any]]:
    return [t for t in m.tasks(app_id) if t["state"] == "TASK_RUNNING"
            and any(r["alive"] for r in t.get("healthCheckResults", []))]
