"""Connection brokers (HTCondor CCB servers) for the private sites' executors, planned.

Pure: :func:`plan_brokers` turns a validated spec into a :class:`BrokerPlan`; the config
renderer, the backends and ``htcmesos plan`` read it. Facts it follows (htcondor/htcondor
``docs/admin-manual/networking.rst``, ``src/ccb/ccb_listener.cpp``; docs/calico-notes.md §5):

- every process behind CCB keeps one TCP connection to its broker: on an executor its
  condor_master, its startd and one starter per running job;
- any collector is a CCB server (``ENABLE_CCB_SERVER`` defaults to true); a daemon lists
  its broker(s) in ``CCB_ADDRESS``, so a pool may split its daemons between brokers;
- the manual's worked example gives the collector twice as many file descriptors as
  registrations, and says a server handles CCB "for a pool containing a few thousand
  slots": hence ``network.brokers.registrations_per_broker`` (default 5000).

Broker 0 is the central manager's collector (as before this plan existed); brokers 1 … n-1
are collector-only tasks at the master's site, at the addresses following the master's
in that site's Calico pool. With one broker nothing changes for an existing pool.
"""
from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass

from ..errors import BrokerPlanError
from ..model import Role
from ..spec import ClusterSpec

#: HTCondor's built-in default for the collector; sizing never goes below it.
DEFAULT_COLLECTOR_FDS = 10240
#: Registrations an executor can bring: its condor_master and its startd (plus its jobs).
PER_EXECUTOR = 2
#: The submitter's condor_master and schedd (counted on the central manager, as before).
SUBMITTER_REGISTRATIONS = 2
#: TCP connections the central collector holds per machine for its updates (≈ 3·N,
#: docs/calico-notes.md §5); counted once its CCB work is shared with other brokers.
UPDATE_FDS_PER_EXECUTOR = 3


@dataclass(frozen=True)
class Broker:
    """One CCB server: ``index`` 0 is the central manager's collector."""

    index: int
    address: str
    registrations: int      # most CCB registrations planned for it
    file_descriptors: int   # its COLLECTOR_MAX_FILE_DESCRIPTORS (and open-file limit)

    @property
    def name(self) -> str:
        return "central manager" if self.index == 0 else f"broker {self.index}"


@dataclass(frozen=True)
class SiteNeeds:
    """A site's part of the plan."""

    name: str
    private: bool
    executors_max: int
    registrations: int           # its executors' CCB registrations at most (0: public)
    nat_address: str | None      # TCP_FORWARDING_HOST of its daemons
    marathon_broker: int | None  # Marathon mode: the one broker its executor app uses


@dataclass(frozen=True)
class BrokerPlan:
    brokers: tuple[Broker, ...]
    sites: tuple[SiteNeeds, ...]
    registrations: int           # all CCB registrations planned (private executors, submitter)
    jobs_per_executor: int
    registrations_per_broker: int
    forced: bool                 # network.brokers.count gave the number

    @property
    def count(self) -> int:
        return len(self.brokers)

    @property
    def extra(self) -> tuple[Broker, ...]:
        """The collector-only broker tasks (none when the central manager is the only one)."""
        return self.brokers[1:]

    @property
    def collector_file_descriptors(self) -> int:
        return self.brokers[0].file_descriptors

    def broker(self, index: int) -> Broker:
        if not 0 <= index < len(self.brokers):
            raise BrokerPlanError(f"broker {index} is not planned: the pool has "
                                  f"{len(self.brokers)} (0 … {len(self.brokers) - 1})")
        return self.brokers[index]

    def site(self, name: str) -> SiteNeeds:
        return next(s for s in self.sites if s.name == name)


def private_registrations(spec: ClusterSpec) -> int:
    """CCB registrations of the private sites' executors at most: their maxima (capped by
    the pool's ``max_executors``) × (1 master + 1 startd + ``jobs_per_executor``)."""
    jobs = spec.roles[Role.EXECUTOR].jobs_per_executor
    executors = min(sum(s.executors_max for s in spec.sites if s.private),
                    spec.autoscaling.max_executors)
    return executors * (PER_EXECUTOR + jobs)


def all_registrations(spec: ClusterSpec) -> int:
    """Every executor as if behind CCB, and the submitter: the central manager's figure
    when it is the pool's only broker (what htcmesos sized before brokers were planned;
    a site turned private needs no new sizing)."""
    jobs = spec.roles[Role.EXECUTOR].jobs_per_executor
    return spec.executors_max * (PER_EXECUTOR + jobs) + SUBMITTER_REGISTRATIONS


def broker_count(spec: ClusterSpec) -> int:
    """``network.brokers.count``, else ⌈private registrations / registrations_per_broker⌉,
    at least 1."""
    b = spec.network.brokers
    if b.count is not None:
        return max(1, b.count)
    return max(1, math.ceil(private_registrations(spec) / b.registrations_per_broker))


def broker_addresses(spec: ClusterSpec, count: int) -> list[str]:
    """The master's address, then the ``count - 1`` addresses after it in its site's pool;
    a clear error if they leave the pool or hit its network / broadcast address."""
    site = spec.master_site
    if spec.master_dynamic:
        # a dynamic master (docs/discovery.md) has no fixed address to count from, and an
        # address IPAM may give it cannot be promised to a broker
        if count > 1:
            raise BrokerPlanError(
                f"{count} brokers need fixed addresses after the master's, and "
                f"roles.master.address is dynamic: give the master a fixed address, or "
                f"network.brokers.count: 1")
        return [spec.master_address]
    master = ipaddress.ip_address(spec.master_address)
    # counting upwards the first address that does not fit is the broadcast address: found
    # at once (a mistyped count must not walk millions of addresses)
    room = int(site.cidr.broadcast_address) - 1 - int(master)
    if count - 1 > room:
        ip = master + max(room + 1, 0)
        raise BrokerPlanError(
            f"{count} brokers need {count - 1} address(es) after the master's "
            f"{master} in site {site.name}'s pool {site.cidr}; {ip} is "
            + ("its broadcast address" if ip == site.cidr.broadcast_address
               else "outside it")
            + ": give roles.master.address lower in the pool, a larger pool, or fewer "
              "brokers (network.brokers.count)")
    return [str(master + i) for i in range(count)]


def _fds(registrations: int, updates: int = 0) -> int:
    return max(2 * registrations + updates, DEFAULT_COLLECTOR_FDS)


def _shares(total: int, n: int) -> list[int]:
    """``total`` split over ``n`` as evenly as whole numbers go (larger shares first)."""
    base, rest = divmod(total, n)
    return [base + (1 if i < rest else 0) for i in range(n)]


def _marathon_brokers(spec: ClusterSpec, n: int) -> dict[str, int]:
    """Marathon mode runs one app per site, all its instances alike: a private site's
    executors use one broker. Sites go, largest first, to the least loaded broker."""
    jobs = spec.roles[Role.EXECUTOR].jobs_per_executor
    load = [0] * n
    out = {}
    for site in sorted((s for s in spec.sites if s.private),
                       key=lambda s: (-s.executors_max, s.name)):
        best = min(range(n), key=lambda i: (load[i], i))
        out[site.name] = best
        load[best] += site.executors_max * (PER_EXECUTOR + jobs)
    return out


def plan_brokers(spec: ClusterSpec) -> BrokerPlan:
    """The pool's brokers, their sizes and the sites' parts (raises BrokerPlanError)."""
    b = spec.network.brokers
    jobs = spec.roles[Role.EXECUTOR].jobs_per_executor
    n = broker_count(spec)
    addresses = broker_addresses(spec, n)
    private = private_registrations(spec)
    if n == 1:
        regs = [all_registrations(spec)]
        fds = [_fds(regs[0])]
    else:
        regs = _shares(private, n)
        regs[0] += SUBMITTER_REGISTRATIONS
        # the central collector keeps only its share of registrations, but every
        # executor's update connections: counted explicitly
        fds = [_fds(regs[0], UPDATE_FDS_PER_EXECUTOR * spec.executors_max)]
        fds += [_fds(r) for r in regs[1:]]
    brokers = tuple(Broker(i, addresses[i], regs[i], fds[i]) for i in range(n))
    marathon = _marathon_brokers(spec, n)
    sites = tuple(SiteNeeds(
        s.name, s.private, s.executors_max,
        min(s.executors_max, spec.autoscaling.max_executors) * (PER_EXECUTOR + jobs)
        if s.private else 0,
        s.nat_address, marathon.get(s.name)) for s in spec.sites)
    return BrokerPlan(brokers, sites, private + SUBMITTER_REGISTRATIONS, jobs,
                      b.registrations_per_broker, b.count is not None)


def least_loaded(assigned: dict[int, int], count: int) -> int:
    """Framework mode: the broker with the fewest executors assigned now (lowest index on
    a tie), chosen when an executor of a private site is launched; ``assigned``: broker
    index → active executors using it."""
    return min(range(count), key=lambda i: (assigned.get(i, 0), i))


def describe(plan: BrokerPlan) -> list[str]:
    """The plan as text lines (``htcmesos plan``; ``render-config`` prints them as comments)."""
    how = "network.brokers.count" if plan.forced else \
        f"ceil({plan.registrations - SUBMITTER_REGISTRATIONS} private registrations / " \
        f"{plan.registrations_per_broker} per broker)"
    lines = [f"brokers: {plan.count} ({how}); each executor: 1 master + 1 startd + "
             f"{plan.jobs_per_executor} job(s) registered"]
    for br in plan.brokers:
        lines.append(f"  broker {br.index:<3} {br.address:<15} {br.name:<16} "
                     f"registrations <= {br.registrations:<6} file descriptors {br.file_descriptors}")
    lines.append(f"collector file descriptors: {plan.collector_file_descriptors}")
    spread = "each launch goes to the broker with the fewest executors (framework mode)" \
        if plan.count > 1 else "all to the central manager"
    for s in plan.sites:
        if s.private:
            mode = f"; Marathon mode: broker {s.marathon_broker}" if plan.count > 1 else ""
            lines.append(f"site {s.name}: private, <= {s.executors_max} executors, "
                         f"<= {s.registrations} registrations: {spread}{mode}")
        else:
            lines.append(f"site {s.name}: public, no CCB")
        if s.nat_address:
            lines.append(f"  TCP_FORWARDING_HOST = {s.nat_address} (daemons at {s.name} "
                         f"are reached through that NAT)")
    return lines
