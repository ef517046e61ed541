"""``autoscaling.executor_size: jobs``: an executor per idle job, of its size; and the quiet
queue rule of scale-in (both sizes)."""
from __future__ import annotations

import dataclasses

import pytest

from framework.errors import SpecError
from framework.monitor.snapshot import JobShape, StartdInfo
from framework.planner import Code, Executor, PlannerState, TaskState, plan
from framework.planner.packing import job_size, takes
from framework.spec import parse_spec
from tests.framework.planner.test_planner import NOW, SPEC, SPEC_TEXT, ex, job, snap, startd

SIZED = parse_spec(SPEC_TEXT.replace("scale_down_cooldown: 100}",
                                     "scale_down_cooldown: 100, executor_size: jobs}"))


def sized(task: str, cpus: float, mem: float, site: str = "dc",
          state: TaskState = TaskState.RUNNING) -> Executor:
    return Executor(task, site, state, NOW - 300, cpus, mem)


def ad(task: str, cpus: float, mem: float, claims: int = 0, idle_for: float = 0.0,
       site: str = "dc") -> StartdInfo:
    return StartdInfo(f"slot1@{task}", task, site, cpus, mem, 0.0 if claims else cpus,
                      0.0 if claims else mem, claims, False, NOW,
                      None if claims else NOW - idle_for)


def test_job_size_rounds_to_whole_cores_and_256_mib_within_the_slot():
    slot = (4.0, 8192.0)
    assert job_size(JobShape(1, 64, None, 1), slot) == (1.0, 256.0)
    assert job_size(JobShape(1.5, 1025, None, 1), slot) == (2.0, 1280.0)
    assert job_size(JobShape(4, 8192, None, 1), slot) == (4.0, 8192.0)
    # what the executor's START takes: its own bucket, nothing smaller or bigger
    assert takes((2.0, 1280.0), 1.5, 1025) and takes((2.0, 1280.0), 2, 1280)
    assert not takes((2.0, 1280.0), 1, 1280) and not takes((2.0, 1280.0), 2, 1024)
    assert not takes((2.0, 1280.0), 3, 1280)


def test_each_idle_job_gets_an_executor_of_its_size():
    d = plan(snap(jobs=(job(2, "dc"), job(1, "dc", cpus=2, mem=3000), job(1, "campus"))),
             [], SIZED, PlannerState(), NOW)
    assert d.launches == {"dc": 3, "campus": 1}
    assert d.sizes == {"dc": {(1.0, 1024.0): 2, (2.0, 3072.0): 1},
                       "campus": {(1.0, 1024.0): 1}}
    # the same queue with the slot size packs the three dc jobs into one 4-core executor
    assert plan(snap(jobs=(job(2, "dc"), job(1, "dc", cpus=2, mem=3000))), [], SPEC,
                PlannerState(), NOW).launches == {"dc": 1, "campus": 0}


def test_the_launch_limit_keeps_the_largest_sizes_first():
    d = plan(snap(jobs=(job(5, "dc"), job(1, "dc", cpus=4, mem=8192))), [], SIZED,
             PlannerState(), NOW)
    assert d.launches == {"dc": 4, "campus": 0} and Code.LAUNCH_LIMIT in d.codes()
    assert d.sizes["dc"] == {(1.0, 1024.0): 3, (4.0, 8192.0): 1}


def test_an_empty_executor_of_the_size_is_used_and_others_are_not():
    execs = [sized("a", 1, 1024), sized("b", 2, 2048, state=TaskState.STARTING),
             sized("c", 1, 1024)]
    ads = (ad("a", 1, 1024), ad("c", 1, 1024, claims=1))
    # a (empty, 1 core) takes one 1-core job; b (starting, 2 cores) takes no 1-core job;
    # c is busy: two more 1-core executors
    d = plan(snap(*ads, jobs=(job(3, "dc"),)), execs, SIZED, PlannerState(), NOW)
    assert d.launches == {"dc": 2, "campus": 0}
    assert d.sizes["dc"] == {(1.0, 1024.0): 4, (2.0, 2048.0): 1}
    assert d.desired == {"dc": 5, "campus": 0}
    # the 2-core job the starting executor b was launched for is covered by it
    d = plan(snap(*ads, jobs=(job(1, "dc", cpus=2, mem=2048),)), execs, SIZED,
             PlannerState(), NOW)
    assert d.launches == {"dc": 0, "campus": 0} and Code.COVERED in d.codes()


def test_executors_of_the_role_size_still_take_any_job_and_are_the_rest_of_desired():
    execs = [ex("m")]                       # the site's minimum, of the role's size
    d = plan(snap(startd("m", claims=1), jobs=(job(4, "dc"),)), execs, SIZED,
             PlannerState(), NOW)
    assert d.launches == {"dc": 1, "campus": 0}          # 3 fit m's free cores
    assert d.sizes["dc"] == {(1.0, 1024.0): 1} and d.desired["dc"] == 2


def test_an_idle_executor_at_a_quiet_site_is_drained_at_once():
    execs = [ex("a"), ex("b")]
    s = snap(startd("a", claims=1), startd("b", idle_for=10))
    # jobs were queued for dc until 30 s ago: b is kept for the idle time (60 s)
    d = plan(s, execs, SPEC, PlannerState(last_demand={"dc": NOW - 30}), NOW)
    assert not d.drain and d.state.last_demand["dc"] == NOW - 30
    # no job queued for dc for 60 s: the wait for one is over, b goes now
    d = plan(s, execs, SPEC, PlannerState(last_demand={"dc": NOW - 60}), NOW)
    assert [x.task_id for x in d.drain] == ["b"]
    assert any(r.code is Code.DRAIN and "no job queued for dc for 60 s" in r.detail
               for r in d.reasons)
    # a loop that has just started knows nothing of the queue before: it waits
    d = plan(s, execs, SPEC, PlannerState(), NOW)
    assert not d.drain and d.state.last_demand == {"dc": NOW, "campus": NOW}
    # a job queued that dc could run keeps the site busy
    d = plan(snap(startd("a", claims=1), startd("b", idle_for=10), jobs=(job(1),)), execs,
             SPEC, PlannerState(last_demand={"dc": NOW - 600}), NOW)
    assert d.state.last_demand["dc"] == NOW and not d.drain
    # a stale snapshot tells nothing of the queue: the time stands
    stale = dataclasses.replace(s, fresh=False, error="collector unreachable")
    d = plan(stale, execs, SPEC, PlannerState(last_demand={"dc": NOW - 600}), NOW)
    assert d.state.last_demand["dc"] == NOW - 600 and not d.drain


def test_executor_size_jobs_with_clues_in_charge_is_refused():
    text = SPEC_TEXT.replace("scale_down_cooldown: 100}",
                             "scale_down_cooldown: 100, executor_size: jobs, driver: clues}")
    with pytest.raises(SpecError, match="executor_size: jobs needs driver: htcmesos"):
        parse_spec(text)
    with pytest.raises(SpecError, match="executor_size.*must be one of slot, jobs"):
        parse_spec(SPEC_TEXT.replace("scale_down_cooldown: 100}",
                                     "scale_down_cooldown: 100, executor_size: tiny}"))
