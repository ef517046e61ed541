"""The simulated negotiator against HTCondor's rules, and the rendered central manager
config it stands for (read back with HTCondor's own parser)."""
from __future__ import annotations

from framework.condor.config import render_config
from framework.model import Role
from framework.sim.pool.model import Job, SimExecutor
from framework.sim.pool.negotiator import jobs_in_slot, negotiate
from tests.condor_parse import condor_params
from tests.framework.sim.pool.test_simulated_pool import TWO_SITES


def slot(name: str, free: float, site: str = "dc", memory: float = 16384.0) -> SimExecutor:
    ex = SimExecutor(name, site, 4.0, memory, 0.0, booted=True)
    ex.used_cpus = 4.0 - free
    ex.used_memory = 1024.0 * (4.0 - free)
    return ex


def cycle(jobs: list[Job], slots: list[SimExecutor], depth_first: bool) -> dict[int, str]:
    idle = {j.id: j for j in jobs}

    def match(job: Job, ex: SimExecutor) -> None:
        del idle[job.id]
        job.executor = ex.task_id
        ex.used_cpus += job.cpus
        ex.used_memory += job.memory

    negotiate(idle, slots, depth_first, match)
    return {j.id: j.executor for j in jobs if j.executor}


def test_the_slot_with_the_fewest_free_cores_wins():
    slots = [slot("a", 4), slot("b", 1), slot("c", 2)]
    assert cycle([Job(1, 0, 60, cpus=2, memory=1024)], slots, True) == {1: "c"}
    assert cycle([Job(2, 0, 60)], [slot("a", 4), slot("b", 1)], True) == {2: "b"}


def test_depth_first_fills_one_executor_and_leaves_the_others_empty():
    jobs = lambda: [Job(i, 0, 60) for i in (1, 2, 3)]           # noqa: E731 - one autocluster
    slots = [slot("busy", 2), slot("empty1", 4), slot("empty2", 4)]
    # the busy one takes jobsInSlot = 2 jobs, the third goes to the first empty one
    assert cycle(jobs(), slots, True) == {1: "busy", 2: "busy", 3: "empty1"}
    assert slots[2].used_cpus == 0
    # HTCondor's default (depth-first off): one match per slot and cycle, the schedd fills
    # leftovers only with jobs the negotiator did not match: the jobs spread out
    slots = [slot("busy", 2), slot("empty1", 4), slot("empty2", 4)]
    assert cycle(jobs(), slots, False) == {1: "busy", 2: "empty1", 3: "empty2"}


def test_the_schedd_fills_leftovers_with_jobs_that_got_no_match():
    for depth_first in (False, True):
        slots = [slot("a", 4)]
        jobs = [Job(1, 0, 60, cpus=2, memory=2048), Job(2, 0, 60), Job(3, 0, 60)]
        assert cycle(jobs, slots, depth_first) == {1: "a", 2: "a", 3: "a"}


def test_depth_first_keeps_a_request_on_one_slot_across_other_requests():
    # three 1-core jobs, then a 4-core one; slots with 3, 4 and 4 free cores
    jobs = lambda: [Job(1, 0, 60, 1), Job(2, 0, 60, 1), Job(3, 0, 60, 1),   # noqa: E731
                    Job(4, 0, 60, 4, 4096)]
    slots = [slot("three", 3), slot("four1", 4), slot("four2", 4)]
    assert cycle(jobs(), slots, True) == {1: "three", 2: "three", 3: "three", 4: "four1"}
    slots = [slot("three", 3), slot("four1", 4), slot("four2", 4)]
    # HTCondor's default spreads the request: job 3 takes the second empty slot, and the
    # 4-core job finds none this cycle
    assert cycle(jobs(), slots, False) == {1: "three", 2: "four1", 3: "four2"}


def test_jobs_in_slot_is_bounded_by_memory_and_sites_are_kept():
    assert jobs_in_slot(Job(1, 0, 60, memory=6000), slot("a", 4)) == 2
    slots = [slot("dc1", 1), slot("campus1", 4, site="campus")]
    jobs = [Job(1, 0, 60, site="campus"), Job(2, 0, 60, site="campus")]
    assert cycle(jobs, slots, True) == {1: "campus1", 2: "campus1"}


def test_the_rendered_central_manager_negotiates_as_modelled():
    text = render_config(TWO_SITES, Role.MASTER, master_address="10.1.0.2")
    p = condor_params(text, ["NEGOTIATOR_DEPTH_FIRST", "NEGOTIATOR_PRE_JOB_RANK",
                             "CLAIM_PARTITIONABLE_LEFTOVERS"])
    assert str(p["NEGOTIATOR_DEPTH_FIRST"]).lower() == "true"
    # HTCondor's default rank, the one the model ranks slots by; the schedd claims leftovers
    assert "(100000 * Cpus) - Memory" in p["NEGOTIATOR_PRE_JOB_RANK"]
    assert str(p["CLAIM_PARTITIONABLE_LEFTOVERS"]).lower() == "true"
