"""Validation rules of the spec's ``backend`` block (Mesos, Marathon, the emulated cluster)."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .spec import BackendSpec, MarathonBackendSpec, MesosBackendSpec, SimBackendSpec
from .specchecks import Checker, spec_file as _file

LISTEN = r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}"
MESOS_URL = r"(zk://[^/\s]+(,[^/\s]+)*/\S+|https?://[^\s,]+(,https?://[^\s,]+)*)"


def _state_location(m: dict, q: tuple, c: Checker, base_dir: Path) -> str:
    """Default: a node next to the masters' in their ZooKeeper, else a file by the spec."""
    if "state" in m:
        text = c.string(m, "state", q, describe="zk://host:2181/path or a file path")
        if text.startswith("zk://") and not re.fullmatch(r"zk://[^/\s]+/\S+", text):
            c.problem(q + ("state",), f"'{text}' needs hosts and a path: zk://host:2181/path")
        return text if text.startswith("zk://") else str(_file(text, base_dir))
    master = str(m.get("master", ""))
    name = str(m.get("framework_name", "htcmesos"))
    if master.startswith("zk://"):
        return master.split("/", 3)[0] + "//" + master[5:].split("/", 1)[0] + f"/htcmesos/{name}"
    return str(base_dir / f".htcmesos-{name}.state.json")


#: a secret store path: segments of letters, digits, '_', '.', '-' joined by '/'
SECRETS_PREFIX = r"[A-Za-z0-9_-][A-Za-z0-9_.-]*(/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*"


def backend_spec(value: Any, c: Checker, base_dir: Path, pool_name: str = "") -> BackendSpec:
    p = ("backend",)
    d = c.mapping(value, p, ["type", "mesos", "marathon", "sim"], required=["type"])
    kind = c.choice(d, "type", p, ["mesos", "marathon", "sim"])
    if kind in ("mesos", "marathon") and kind not in d and d.get("type") == kind:
        c.problem(p, f"type is {kind} but there is no '{kind}' block")
    mesos = marathon = None
    if "mesos" in d:
        q = p + ("mesos",)
        m = c.mapping(d["mesos"], q, ["master", "framework_name", "role", "principal",
                                      "secret_file", "failover_timeout", "user", "state",
                                      "credential_server", "replace_unreachable"],
                      required=["master"])
        secret = m.get("secret_file")
        principal = c.string(m, "principal", q, None) if "principal" in m else None
        if secret is not None and principal is None:
            c.problem(q, "secret_file needs a principal")
        cq = q + ("credential_server",)
        cs = c.mapping(m.get("credential_server"), cq, ["listen", "url", "tls_cert_file",
                                                          "tls_key_file"])
        if ("tls_cert_file" in cs) != ("tls_key_file" in cs):
            c.problem(cq, "tls_cert_file and tls_key_file go together")
        rq = q + ("replace_unreachable",)
        ru = c.mapping(m.get("replace_unreachable"), rq, ["master", "submitter"])
        mesos = MesosBackendSpec(
            master=c.string(m, "master", q, pattern=MESOS_URL,
                            describe="zk://host:2181[,host:2181]/mesos or http://host:5050"),
            framework_name=c.string(m, "framework_name", q, "htcmesos"),
            role=c.string(m, "role", q, "*"),
            principal=principal,
            secret_file=_file(c.string(m, "secret_file", q), base_dir) if secret is not None
            else None,
            failover_timeout_s=c.number(m, "failover_timeout", q, 7 * 24 * 3600, positive=True,
                                        unit="seconds"),
            user=c.string(m, "user", q, "root"),
            state=_state_location(m, q, c, base_dir),
            credential_listen=c.string(cs, "listen", cq, "0.0.0.0:0", pattern=LISTEN,
                                       describe="HOST:PORT, e.g. 0.0.0.0:5052"),
            credential_url=c.string(cs, "url", cq, None, pattern=r"https?://[^\s/]+/?",
                                    describe="http(s)://host:port that agents reach")
            if "url" in cs else None,
            credential_tls=(_file(c.string(cs, "tls_cert_file", cq), base_dir),
                            _file(c.string(cs, "tls_key_file", cq), base_dir))
            if "tls_cert_file" in cs and "tls_key_file" in cs else None,
            replace_unreachable_master_s=_after_or_never(c, ru, "master", rq, None),
            replace_unreachable_submitter_s=_after_or_never(c, ru, "submitter", rq, None))
    if "marathon" in d:
        q = p + ("marathon",)
        m = c.mapping(d["marathon"], q, ["url", "group", "credentials_file", "secrets_prefix"],
                      required=["url"])
        cred = m.get("credentials_file")
        marathon = MarathonBackendSpec(
            url=c.string(m, "url", q, pattern=r"https?://\S+", describe="http(s)://host:8080"),
            group=c.string(m, "group", q, "/htcondor", pattern=r"(/[a-z0-9][a-z0-9.-]*)+",
                           describe="a Marathon group path like /htcondor"),
            credentials_file=_file(c.string(m, "credentials_file", q), base_dir)
            if cred is not None else None,
            secrets_prefix=c.string(m, "secrets_prefix", q, f"htcondor/{pool_name or 'pool'}",
                                    pattern=SECRETS_PREFIX,
                                    describe="a secret store path like htcondor/p1 (segments "
                                             "of letters, digits, '_', '.', '-' joined by "
                                             "'/', no leading or trailing '/')"))
    q = p + ("sim",)
    s = c.mapping(d.get("sim"), q, ["seed", "agents_per_site"])
    sim = SimBackendSpec(seed=c.integer(s, "seed", q, 1),
                         agents_per_site=c.integer(s, "agents_per_site", q, 3, minimum=1))
    return BackendSpec(kind, mesos, marathon, sim)


def _after_or_never(c: Any, data: dict, key: str, path: tuple, default: float | None
                    ) -> float | None:
    """Seconds (> 0) or the word ``never`` (None)."""
    if data.get(key) == "never":
        return None
    if key not in data:
        return default
    return c.number(data, key, path, default, positive=True, unit="seconds, or never")
