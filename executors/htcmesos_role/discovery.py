"""Follow the central manager where the framework publishes it (docs/discovery.md).

``HTCMESOS_DISCOVERY`` names the source:

- ``zk://h1:2181,h2:2181/path``: the znode holds ``{"address", "collector", "task_id",
  "published_at"}`` (framework/discovery/zookeeper.py), read with :mod:`.zkread`;
- ``consul+http://host:8500/<service>``: ``GET /v1/health/service/<service>?passing``
  (the masters whose checks pass; the newest ``Meta.published_at`` wins; its
  ``Service.Address``, else its node's address).

Every ``min(2 s, update interval / 4)`` it reads the source; when the address differs from
the one in force it writes ``/etc/condor/config.d/60-htcmesos-discovery.conf``
(``CONDOR_HOST`` and ``COLLECTOR_HOST``, read after the role's ``50-htcmesos.conf``, so it
wins; ``CCB_ADDRESS = $(COLLECTOR_HOST)`` of private executors follows by itself: their
startd keeps its own CCB registration, outside the shared port server, and re-registers
on the reconfig — framework/condor/config.py ``_follow_ccb``) and the
address to ``/run/htcmesos/central-manager`` (the health check asks there), then runs
``condor_reconfig``. A source that cannot be read changes nothing: the daemons keep the
address they have. The entrypoint calls :func:`initial_sync` before ``condor_master``
starts (no reconfig needed then) and starts ``python3 -m htcmesos_role.discovery`` as a
detached child.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Callable, Mapping, Optional, Tuple

from .paths import Paths, paths_from_env
from .pool import COLLECTOR_PORT
from .zkread import ZkReadError, ZooKeeperReader

ENV_DISCOVERY = "HTCMESOS_DISCOVERY"
ENV_MASTER_ADDRESS = "HTCMESOS_MASTER_ADDRESS"
#: a rendered address that only discovery can replace (roles.master.address: dynamic)
PLACEHOLDER_SUFFIX = ".invalid"
RECONFIG = ["condor_reconfig"]
MAX_POLL_S = 2.0

Log = Callable[[str], None]


class DiscoveryReadError(Exception):
    """The source could not be read now (the caller keeps the address it has)."""


def log(message: str) -> None:
    sys.stderr.write("htcmesos-discovery: %s\n" % message)
    sys.stderr.flush()


def poll_interval(env: Mapping[str, str]) -> float:
    """``min(2 s, HTCMESOS_UPDATE_INTERVAL / 4)``, at least 0.25 s."""
    try:
        update = float(env.get("HTCMESOS_UPDATE_INTERVAL") or 8.0)
    except ValueError:
        update = 8.0
    return max(0.25, min(MAX_POLL_S, update / 4.0))


class ZooKeeperSource:
    def __init__(self, url: str, timeout_s: float = 3.0) -> None:
        hosts, _, path = url[len("zk://"):].partition("/")
        if not hosts or not path:
            raise ValueError("%s must be zk://host:port[,host:port]/path, got %r"
                             % (ENV_DISCOVERY, url))
        self.path = "/" + path.strip("/")
        self.reader = ZooKeeperReader(hosts, timeout_s)

    def read(self) -> Optional[str]:
        try:
            data = self.reader.get(self.path)
        except ZkReadError as exc:
            raise DiscoveryReadError(str(exc)) from None
        if not data:
            return None
        try:
            return str(json.loads(data.decode("utf-8"))["address"])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            raise DiscoveryReadError("znode %s holds no central-manager record" % self.path)

    def close(self) -> None:
        self.reader.close()


class ConsulSource:
    def __init__(self, url: str, timeout_s: float = 3.0) -> None:
        base, _, service = url[len("consul+"):].rstrip("/").rpartition("/")
        if not base.startswith(("http://", "https://")) or "/" in base[8:] or not service:
            raise ValueError("%s must be consul+http://host:8500/<service>, got %r"
                             % (ENV_DISCOVERY, url))
        self.url = "%s/v1/health/service/%s?passing" % (base, urllib.parse.quote(service))
        self.timeout_s = timeout_s
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def read(self) -> Optional[str]:
        try:
            with self.opener.open(self.url, timeout=self.timeout_s) as resp:
                entries = json.loads(resp.read().decode("utf-8"))
        except (OSError, ValueError, urllib.error.URLError) as exc:
            raise DiscoveryReadError("%s: %s" % (self.url, exc)) from None
        best, best_at = None, float("-inf")
        for entry in entries if isinstance(entries, list) else []:
            svc, node = entry.get("Service") or {}, entry.get("Node") or {}
            address = svc.get("Address") or node.get("Address")
            try:
                at = float((svc.get("Meta") or {}).get("published_at") or 0.0)
            except ValueError:
                at = 0.0
            if address and at >= best_at:
                best, best_at = str(address), at
        return best

    def close(self) -> None:
        pass


def source_for(url: str):
    if url.startswith("zk://"):
        return ZooKeeperSource(url)
    if url.startswith("consul+"):
        return ConsulSource(url)
    raise ValueError("%s must start with zk:// or consul+http(s)://, got %r" % (ENV_DISCOVERY, url))


def collector_host(address: str) -> str:
    host = "[%s]" % address if ":" in address else address
    return "%s:%d?sock=collector" % (host, COLLECTOR_PORT)


def write_override(paths: Paths, address: str, source: str) -> None:
    """The config file and the address file, each replaced atomically."""
    text = ("# Written by htcmesos_role.discovery from %s; the central manager moved here.\n"
            "# Read after 50-htcmesos.conf, so these win over the rendered address.\n"
            "CONDOR_HOST = %s\nCOLLECTOR_HOST = %s\n" % (source, address, collector_host(address)))
    for target, body in ((paths.discovery_config_file, text),
                         (paths.central_manager_file, address + "\n")):
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name("." + target.name + ".tmp")
        tmp.write_text(body, encoding="utf-8")
        os.chmod(str(tmp), 0o644)
        os.replace(str(tmp), str(target))


def in_force(paths: Paths, env: Mapping[str, str]) -> str:
    """The address the daemons use: the last one written, else the rendered one."""
    try:
        return paths.central_manager_file.read_text().strip() or env.get(ENV_MASTER_ADDRESS, "")
    except OSError:
        return env.get(ENV_MASTER_ADDRESS, "")


def initial_sync(env: Mapping[str, str], paths: Paths, say: Log = log,
                 sleep: Callable[[float], None] = time.sleep) -> Optional[str]:
    """Before the daemons start: the published address, if any. A rendered placeholder
    (``*.invalid``) means only discovery knows the address: wait up to 60 s for it."""
    url = env.get(ENV_DISCOVERY, "").strip()
    if not url:
        return None
    source = source_for(url)
    must = env.get(ENV_MASTER_ADDRESS, "").endswith(PLACEHOLDER_SUFFIX)
    deadline = time.monotonic() + (60.0 if must else 3.0)
    try:
        while True:
            try:
                address = source.read()
            except DiscoveryReadError as exc:
                address = None
                say("not read yet: %s" % exc)
            if address:
                write_override(paths, address, url)
                say("central manager at %s (from %s)" % (address, url))
                return address
            if time.monotonic() >= deadline:
                if must:
                    raise RuntimeError("no central manager published at %s within 60 s" % url)
                return None
            sleep(1.0)
    finally:
        source.close()


def follow_once(source, paths: Paths, env: Mapping[str, str], url: str,
                reconfig: Callable[[], bool], say: Log = log) -> Tuple[Optional[str], bool]:
    """One poll: (the new address if it changed, whether condor_reconfig succeeded)."""
    try:
        address = source.read()
    except DiscoveryReadError as exc:
        say("cannot read %s: %s (keeping %s)" % (url, exc, in_force(paths, env) or "-"))
        return None, True
    if not address or address == in_force(paths, env):
        return None, True
    write_override(paths, address, url)
    ok = reconfig()
    say("central manager moved to %s; condor_reconfig %s" % (address, "done" if ok else "failed"))
    return address, ok


def condor_reconfig(say: Log = log) -> bool:
    try:
        proc = subprocess.run(RECONFIG, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        say("condor_reconfig: %s" % exc)
        return False
    if proc.returncode != 0:
        say("condor_reconfig exit %d: %s"
            % (proc.returncode, (proc.stderr or proc.stdout).strip()[:300]))
    return proc.returncode == 0


def without_repeats(say: Log) -> Log:
    """``say``, dropping a message equal to the one said just before (a source that
    stays unreachable is said once, not every poll)."""
    last = [None]

    def said(message: str) -> None:
        if message != last[0]:
            last[0] = message
            say(message)
    return said


def main(env: Optional[Mapping[str, str]] = None) -> int:
    env = dict(os.environ if env is None else env)
    url = env.get(ENV_DISCOVERY, "").strip()
    try:
        source = source_for(url)
    except ValueError as exc:
        log("error: %s" % exc)
        return 2
    paths = paths_from_env(env)
    interval = poll_interval(env)
    log("following %s every %.2g s" % (url, interval))
    pending = False
    say = without_repeats(log)
    while True:
        changed, ok = follow_once(source, paths, env, url, condor_reconfig, say)
        if changed is None and pending:
            ok = condor_reconfig()              # one that failed earlier: again
        pending = not ok
        time.sleep(interval)

if __name__ == "__main__":
    sys.exit(main())
