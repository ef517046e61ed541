"""App → Mesos TaskInfo (Docker containerizer) and constraint matching against offers.

The TaskInfo has the shape :mod:`framework.backends.mesos.tasks` builds and the emulated
master and the Docker runner accept, as Marathon's ``tasks/TaskBuilder.scala`` makes it
for a Docker app on a container network (``network: USER`` + ``network_infos``).

Secrets: Marathon ships no secrets plugin; without one, an app's ``{"secret": ...}``
environment variables reach the task as nothing at all. This emulator plays a plugin
instead: the source ``htcondor/p1/master`` is the file ``secrets_dir/htcondor/p1/master``,
sent as a Mesos SECRET variable of type VALUE. A missing file fails the launch
(:class:`SecretMissing`, reported as TASK_FAILED naming the source).
"""
from __future__ import annotations

import base64
import re
from collections import Counter
from pathlib import Path
from typing import Any, Iterable

from ...mesos.protocol import Resources


class SecretMissing(Exception):
    """A secret's source has no file in the secrets directory."""


def _labels(values: dict[str, str]) -> dict[str, Any]:
    return {"labels": [{"key": k, "value": v} for k, v in values.items()]}


def resolve_secret(secrets_dir: Path | None, source: str) -> str:
    """The value of secret ``source`` (a store path) from ``secrets_dir``."""
    if secrets_dir is None:
        raise SecretMissing(f"Secret '{source}' not found: the emulator has no secrets store")
    path = (secrets_dir / source.lstrip("/")).resolve()
    root = secrets_dir.resolve()
    if root not in path.parents or not path.is_file():
        raise SecretMissing(f"Secret '{source}' not found in the secrets store")
    return path.read_text()


def environment(app: dict[str, Any], task_id: str, secrets_dir: Path | None) -> list[dict[str, Any]]:
    variables: list[dict[str, Any]] = []
    for name, value in app["env"].items():
        if isinstance(value, str):
            variables.append({"name": name, "type": "VALUE", "value": value})
            continue
        source = app["secrets"][value["secret"]]["source"]
        data = resolve_secret(secrets_dir, source)
        variables.append({"name": name, "type": "SECRET",
                          "secret": {"type": "VALUE",
                                     "value": {"data": base64.b64encode(data.encode()).decode()}}})
    # Marathon's own task environment (tasks/TaskBuilder.scala, EnvironmentHelper)
    variables += [{"name": "MARATHON_APP_ID", "type": "VALUE", "value": app["id"]},
                  {"name": "MARATHON_APP_VERSION", "type": "VALUE", "value": app["version"]},
                  {"name": "MESOS_TASK_ID", "type": "VALUE", "value": task_id}]
    return variables


def health_check(app: dict[str, Any]) -> dict[str, Any] | None:
    """The app's Mesos health check as ``HealthCheckInfo`` (``health/MesosHealthCheck.scala``)."""
    for h in app["healthChecks"]:
        if not h["protocol"].startswith("MESOS_"):
            continue
        port = h.get("port")
        if port is None:
            mappings = (app.get("container") or {}).get("portMappings") or []
            index = h.get("portIndex", 0)
            port = mappings[index]["containerPort"] if index < len(mappings) else 0
        info: dict[str, Any] = {
            "delay_seconds": float(h["delaySeconds"]),
            "interval_seconds": float(h["intervalSeconds"]),
            "timeout_seconds": float(h["timeoutSeconds"]),
            "consecutive_failures": h["maxConsecutiveFailures"],
            "grace_period_seconds": float(h["gracePeriodSeconds"]),
        }
        if h["protocol"] == "MESOS_TCP":
            info.update(type="TCP", tcp={"port": port})
        else:
            http = {"port": port, "path": h.get("path", "/")}
            if h["protocol"] == "MESOS_HTTPS":
                http["scheme"] = "https"
            info.update(type="HTTP", http=http)
        return info
    return None


def build_task_info(app: dict[str, Any], task_id: str, agent_id: str,
                    secrets_dir: Path | None, role: str = "*") -> dict[str, Any]:
    """The TaskInfo of one instance of ``app`` on ``agent_id`` (SecretMissing)."""
    if "cmd" in app:
        command: dict[str, Any] = {"shell": True, "value": app["cmd"]}
    elif app.get("args"):
        command = {"shell": False, "arguments": list(app["args"])}
    else:
        command = {"shell": False}   # the image's entrypoint
    command["environment"] = {"variables": environment(app, task_id, secrets_dir)}
    resources = Resources(app["cpus"], app["mem"], app["disk"]).to_list()
    if role != "*":
        for res in resources:
            res["allocation_info"] = {"role": role}
    info: dict[str, Any] = {
        "name": app["id"].rsplit("/", 1)[-1],
        "task_id": {"value": task_id},
        "agent_id": {"value": agent_id},
        "resources": resources,
        "command": command,
        "labels": _labels(app["labels"]),
    }
    container = app.get("container")
    if container is not None and container.get("type") == "DOCKER":
        docker = container["docker"]
        nets = [n for n in app["networks"] if n["mode"] == "container"]
        info["container"] = {
            "type": "DOCKER",
            "docker": {"image": docker["image"],
                       "network": "USER" if nets else
                       ("BRIDGE" if app["networks"][0]["mode"] == "container/bridge" else "HOST"),
                       "privileged": docker["privileged"],
                       "force_pull_image": docker["forcePullImage"],
                       "parameters": [dict(p) for p in docker["parameters"]]},
            "network_infos": [{"name": n["name"], "labels": _labels(n.get("labels", {}))}
                              for n in nets],
            "volumes": [{"container_path": v["containerPath"], "host_path": v["hostPath"],
                         "mode": v["mode"]} for v in container["volumes"] if "hostPath" in v],
        }
    check = health_check(app)
    if check is not None:
        info["health_check"] = check
    if "taskKillGracePeriodSeconds" in app:
        info["kill_policy"] = {"grace_period": {
            "nanoseconds": int(app["taskKillGracePeriodSeconds"] * 1e9)}}
    return info


# -- offers ----------------------------------------------------------------------------------

def offer_scalars(offer: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = Counter()
    for res in offer.get("resources", ()):
        if res.get("type", "SCALAR") == "SCALAR" and "scalar" in res:
            out[res["name"]] += float(res["scalar"]["value"])
    return out


def field_value(offer: dict[str, Any], name: str) -> str | None:
    """The value of constraint field ``name`` for ``offer``: ``hostname``, ``@hostname``,
    ``@region`` / ``@zone`` (its fault domain, Marathon 1.5+) or an agent attribute."""
    if name in ("hostname", "@hostname"):
        return offer.get("hostname")
    domain = (offer.get("domain") or {}).get("fault_domain") or {}
    if name == "@region":
        return (domain.get("region") or {}).get("name")
    if name == "@zone":
        return (domain.get("zone") or {}).get("name")
    for attr in offer.get("attributes", ()):
        if attr.get("name") == name:
            if "text" in attr:
                return attr["text"]["value"]
            if "scalar" in attr:
                return f"{float(attr['scalar']['value']):g}"
            if "ranges" in attr:
                return ",".join(f"[{r['begin']}-{r['end']}]" for r in attr["ranges"]["range"])
            if "set" in attr:
                return ",".join(attr["set"].get("item", []))
    return None


def constraints_met(constraints: Iterable[list[str]], offer: dict[str, Any],
                    placed: list[dict[str, Any]]) -> bool:
    """Does ``offer`` satisfy every constraint, given the offers (or agents) the app's
    live tasks were ``placed`` on (``mesosphere/mesos/Constraints.scala``)?"""
    for c in constraints:
        name, op = c[0], c[1]
        want = c[2] if len(c) > 2 else None
        have = field_value(offer, name)
        others = [field_value(p, name) for p in placed]
        if op == "CLUSTER":
            if have is None or have != want:
                return False
        elif op == "LIKE":
            if have is None or not re.fullmatch(want or "", have):
                return False
        elif op == "UNLIKE":
            if have is not None and re.fullmatch(want or "", have):
                return False
        elif op == "UNIQUE":
            if have is None or have in others:
                return False
        elif op == "MAX_PER":
            if have is None or others.count(have) >= int(want or 0):
                return False
        elif op == "GROUP_BY":
            # approximate: place on a value no more used than any other value seen so far
            if have is None:
                return False
            counts = Counter(o for o in others if o is not None)
            if counts and counts[have] > min(counts.values()):
                return False
    return True
