"""Sites as iptables'd Docker networks: private sites accept no connection from outside.

Calico routes between sites' pools; Docker isolates bridge networks from each other. To
make the emulated sites look like real ones, one chain per runner (``HTCM-<runner id>``,
jumped to from Docker's ``DOCKER-USER``, which FORWARD evaluates before Docker's own
isolation rules) says, for the runner's site bridges:

1. replies (conntrack ESTABLISHED, RELATED) into a site bridge pass;
2. a new connection into a **private** site's bridge from any other interface is rejected
   (ICMP port unreachable: it fails at once, as at a site firewall that rejects, not
   after a connect timeout); within the site, and from the agent's own host, traffic
   still flows;
3. any other traffic between two site bridges passes (public ↔ public, private → public).

The host itself (the agents' health checks, the fetcher) is not subject to FORWARD.
Needs root and ``iptables`` (the same backend Docker uses); errors name the command.
"""
from __future__ import annotations

import shutil
import subprocess
import threading

from .translate import LaunchError

PARENT = "DOCKER-USER"


class SiteFirewall:
    """The FORWARD rules between one runner's site bridges (thread-safe)."""

    def __init__(self, runner_id: str, iptables: str | None = None) -> None:
        self.chain = f"HTCM-{runner_id}"[:28]
        self._iptables = iptables or shutil.which("iptables") or "iptables"
        self._lock = threading.Lock()
        self._bridges: dict[str, bool] = {}     # bridge interface → private
        self._installed = False

    def add(self, bridge: str, private: bool) -> None:
        """Put ``bridge`` under the rules (idempotent); rewrite the chain if it changed."""
        with self._lock:
            if self._bridges.get(bridge) == private:
                return
            self._bridges[bridge] = private
            self._write()

    def rules(self) -> list[list[str]]:
        """The chain's rules, in order (arguments after ``-A <chain>``)."""
        rules = [["-o", b, "-m", "conntrack", "--ctstate", "RELATED,ESTABLISHED", "-j", "ACCEPT"]
                 for b in sorted(self._bridges)]
        rules += [["!", "-i", b, "-o", b, "-j", "REJECT"]
                  for b, private in sorted(self._bridges.items()) if private]
        rules += [["-i", a, "-o", b, "-j", "ACCEPT"]
                  for a in sorted(self._bridges) for b in sorted(self._bridges) if a != b]
        return rules + [["-j", "RETURN"]]

    def close(self) -> None:
        """Remove the jump and the chain (nothing if never installed)."""
        with self._lock:
            if self._installed:
                _drop_chain(self._iptables, self.chain)
                self._installed = False

    def _write(self) -> None:
        if not self._installed:
            if self._run("-N", PARENT, check=False) not in (0, 1):  # Docker makes it
                raise LaunchError(f"cannot create the iptables chain {PARENT}")
            self._run("-N", self.chain, check=False)
            self._installed = True            # from here on close() removes what there is
            self._run("-I", PARENT, "1", "-j", self.chain)
        self._run("-F", self.chain)
        for rule in self.rules():
            self._run("-A", self.chain, *rule)

    def _run(self, *args: str, check: bool = True) -> int:
        argv = [self._iptables, "-w", *args]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise LaunchError(f"site firewall: {' '.join(argv)}: {exc}") from None
        if check and proc.returncode != 0:
            raise LaunchError(f"site firewall: {' '.join(argv)} failed: "
                              f"{proc.stderr.strip() or proc.returncode}")
        return proc.returncode


def remove_chains(runner_id: str | None = None, iptables: str | None = None) -> int:
    """Remove the chains of one runner (or, without ``runner_id``, of every runner, e.g.
    after a crash); the number removed."""
    binary = iptables or shutil.which("iptables") or "iptables"
    try:
        listing = subprocess.run([binary, "-w", "-S", PARENT], capture_output=True, text=True,
                                 timeout=30).stdout
    except (OSError, subprocess.TimeoutExpired):
        return 0
    prefix = f"HTCM-{runner_id}"[:28] if runner_id else "HTCM-"
    chains = {line.split()[-1] for line in listing.splitlines()
              if line.startswith(f"-A {PARENT} -j {prefix}")}
    for chain in chains:
        _drop_chain(binary, chain)
    return len(chains)


def _drop_chain(binary: str, chain: str) -> None:
    """Unhook ``chain`` from :data:`PARENT`, empty and delete it (errors ignored)."""
    for args in (("-D", PARENT, "-j", chain), ("-F", chain), ("-X", chain)):
        try:
            subprocess.run([binary, "-w", *args], capture_output=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            pass
