"""One negotiation cycle of the simulated pool, as HTCondor's negotiator and schedd do it.

Modelled on src/condor_negotiator.V6/matchmaker.cpp (HTCondor 23.9 and later) with the
configuration htcmesos renders (framework/condor/config.py) and HTCondor's defaults:

- the schedd sends its idle jobs as resource requests: a run of consecutive jobs (queue
  order, oldest first) of one autocluster (cores, memory, site) is one request with a
  count (USE_RESOURCE_REQUEST_COUNTS);
- among the partitionable slots a job fits (site, cores, memory), the negotiator takes the
  best by the default ``NEGOTIATOR_PRE_JOB_RANK = (10000000 * My.Rank) + (1000000 *
  (RemoteOwner =?= UNDEFINED)) - (100000 * Cpus) - Memory``: Rank and RemoteOwner are the
  same for every executor's slot, and a partitionable slot's ``Cpus``/``Memory`` are what
  is left unclaimed, so the slot with the fewest free cores (then least free memory) wins;
  ties keep the collector's order (here: launch order);
- a matched partitionable slot leaves the cycle's list of offers (no ``WantAdRevaluate``);
- ``NEGOTIATOR_DEPTH_FIRST = True``: after a match the negotiator sets ``schedd_will_match
  = jobsInSlot(request, offer)`` (the offer's free cores / requested cores, free memory /
  requested memory, the smaller) and counts that many of the request's jobs as handed out
  (ResourceRequestList::getRequest: ``resource_request_offers += skip_jobs``): those jobs
  are left for the slot's leftovers instead of being matched to other slots; HTCondor's
  default (False) hands out one job per match, so a request spreads over as many slots;
- the schedd claims each matched slot's leftovers (``CLAIM_PARTITIONABLE_LEFTOVERS``,
  default True) with its idle jobs that got no match, highest priority first
  (qmgmt.cpp FindRunnableJob: here queue order), until nothing more fits.

Units: cores and MiB.
"""
from __future__ import annotations

import math
from typing import Callable, Iterable

from ...planner.packing import takes
from .model import Job, SimExecutor

_EPS = 1e-9


def jobs_in_slot(job: Job, ex: SimExecutor) -> int:
    """HTCondor's ``jobsInSlot``: how many jobs like ``job`` the slot's free part holds."""
    by_cpu = math.floor((ex.free_cpus + _EPS) / job.cpus) if job.cpus > _EPS else 1 << 30
    by_mem = math.floor((ex.free_memory + _EPS) / job.memory) if job.memory > _EPS else 1 << 30
    return max(0, min(by_cpu, by_mem))


def _fits(job: Job, ex: SimExecutor) -> bool:
    """The job fits the slot's free part, at a site it allows; an executor sized to jobs
    takes only jobs of its size (the START expression framework/condor/config.py gives
    it)."""
    if ex.exact and not takes((ex.cpus, ex.memory), job.cpus, job.memory):
        return False
    return (ex.free_cpus + _EPS >= job.cpus and ex.free_memory + _EPS >= job.memory
            and (job.site is None or job.site == ex.site))


def _rank(ex: SimExecutor) -> float:
    """NEGOTIATOR_PRE_JOB_RANK's part that differs between our slots (higher is better)."""
    return -(100000 * ex.free_cpus) - ex.free_memory


def negotiate(idle: dict[int, Job], offers: Iterable[SimExecutor], depth_first: bool,
              match: Callable[[Job, SimExecutor], None]) -> int:
    """Match ``idle`` jobs (queue order; ``match`` removes a job from it) to ``offers``
    (partitionable slots that take claims, in collector order); the number matched."""
    slots = [ex for ex in offers if ex.free_cpus > _EPS and ex.free_memory > _EPS]
    if not slots or not idle:
        return 0
    queue = list(idle.values())
    hopeless: set[tuple] = set()                 # autoclusters no slot left can take
    matched: list[SimExecutor] = []
    count, i = 0, 0
    while i < len(queue) and slots:              # the negotiator, request by request
        cluster = (queue[i].cpus, queue[i].memory, queue[i].site)
        end = i
        while end < len(queue) and (queue[end].cpus, queue[end].memory,
                                    queue[end].site) == cluster:
            end += 1
        k = i
        while k < end and cluster not in hopeless and slots:
            job, best = queue[k], None
            for ex in slots:
                if _fits(job, ex) and (best is None or _rank(ex) > _rank(best)):
                    best = ex
            if best is None:
                hopeless.add(cluster)
                break
            handed = jobs_in_slot(job, best) if depth_first else 1
            slots.remove(best)
            matched.append(best)
            match(job, best)
            count += 1
            k += max(1, handed)
        i = end
    for ex in matched:                           # the schedd: leftovers of its matches
        for job in list(idle.values()):
            if ex.free_cpus <= _EPS or ex.free_memory <= _EPS:
                break
            if _fits(job, ex):
                match(job, ex)
                count += 1
    return count
