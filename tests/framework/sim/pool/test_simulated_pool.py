"""The production elastic loop on the seeded simulated pool: exact figures."""
from __future__ import annotations

import dataclasses
import statistics
from pathlib import Path

import pytest

from framework.planner import Code
from framework.sim.pool import simulate
from framework.sim.pool.run import simulate_races
from framework.sim.pool.workloads import (TraceError, bursty, diurnal, read_history,
                                          read_swf, steady)
from framework.spec import parse_spec

DATA = Path(__file__).resolve().parents[3] / "data"

TWO_SITES_TEXT = """
pool: {name: p, trust_domain: p.example, signing_key_file: k, negotiator_interval: 10}
sites:
  - {name: dc, calico: {network: n1, cidr: 10.1.0.0/16}, executors: {min: 0, max: 50}}
  - {name: campus, private: true, calico: {network: n2, cidr: 10.2.0.0/16},
     executors: {min: 0, max: 30}}
roles:
  master: {image: m, cpus: 1, mem: 512}
  submitter: {image: s, cpus: 1, mem: 512}
  executor: {image: e, cpus: 4, mem: 16384}
autoscaling: {min_executors: 0, max_executors: 80, max_launches_per_tick: 20,
              idle_before_scale_in: 60, scale_up_cooldown: 30, scale_down_cooldown: 60,
              tick: 10}
backend: {type: sim}
"""
TWO_SITES = parse_spec(TWO_SITES_TEXT)



def test_waves_grow_and_shrink_the_pool_exactly():
    jobs = bursty(7, waves=3, per_wave=200, gap_s=1800, runtime_s=300,
                  sites=("dc", "campus"), site_share=0.3)
    result = simulate(TWO_SITES, jobs, act_delay_s=2.0)
    m = result.metrics
    assert (result.done, len(jobs)) == (600, 600)
    assert m.killed_running == 0
    # the negotiator ranks slots as HTCondor does (fewest free cores first, at any site the
    # job allows; one match per slot and cycle, the schedd fills the leftovers): 2 more
    # launches than first fit in launch order with the first site first
    assert (m.launched, m.drains, m.killed_executors, m.peak_executors) == (210, 210, 210, 75)
    # no job has been queued since each wave was matched: an executor whose last job ends is
    # drained at once, not after idle_before_scale_in (60 s), so the pool is empty 60 s sooner
    assert (result.ticks, round(result.end)) == (555, 5542)
    assert round(statistics.mean(m.extra_waits), 1) == 22.7
    assert result.codes["SCALE_UP"] == 16 and result.codes["SITE_MAX"] == 10
    # every job pinned to a site ran there
    assert all(j.site in (None, j.executor.split(".")[2]) for j in result.jobs)
    # idle core-time by cause adds up; fragmentation (free cores beside running jobs) leads;
    # "empty" is what the quiet queue leaves: a tick's wait for the next decision (it was
    # 56,236 core-s when every executor sat idle for idle_before_scale_in)
    assert {k: round(v) for k, v in m.idle_by_cause.items()} == {
        "boot": 4200, "unmatched": 2687, "empty": 7036, "draining": 8400, "fragmented": 161498}
    assert round(sum(m.idle_by_cause.values())) == round(m.idle_core_s) == 183821
    # demand visible → launch decision: whole ticks held back by max_launches_per_tick (20)
    # and the sites' executors.max, plus plan()'s CPU time (well under a second)
    lat = result.latency
    assert (len(lat.samples), lat.without_launch, len(lat.waiting)) == (242, 0, 0)
    assert sorted({round(x) for x in lat.samples}) == [0, 10, 20, 30]
    assert round(lat.percentile(0.5)) == 10 and round(lat.percentile(0.99)) == 30
    assert max(result.plan_cpu_s) < 1.0


def test_claims_racing_drains_never_kill_a_running_job():
    """Drains are applied one negotiation cycle after the snapshot they were decided on,
    so jobs keep landing on startds just chosen for removal: the startd refuses those
    drains (its check: no slot claimed), the job runs on (the full 100,000 scale-in
    events run in bench/bench_elastic.py)."""
    result = simulate_races(20000)
    m = result.metrics
    assert result.codes["DRAIN"] == 3497 == m.drains + m.claims_during_drain
    assert (m.drains, m.claims_during_drain, m.drains_cancelled) == (2273, 1224, 0)
    assert m.killed_running == 0 and result.done == len(result.jobs) == 9773
    assert m.killed_executors == 2273 == result.codes["DRAINED"]


def test_an_unreachable_collector_scales_nothing_in_and_the_loop_recovers():
    jobs = bursty(11, waves=1, per_wave=40, gap_s=1, runtime_s=60)
    result = simulate(TWO_SITES, jobs, outages=((300, 420),), keep_decisions=True)
    during = [d for d in result.decisions if 300 <= d.at < 420]
    assert during and all(not d.fresh and not d.drain and not d.kill for d in during)
    assert any(Code.STALE in d.codes() or Code.AD_MISSING in d.codes() for d in during)
    after = [d for d in result.decisions if d.at >= 420]
    assert after[0].fresh and any(d.kill for d in after)          # recovered, then shrank
    assert result.done == 40 and result.metrics.killed_running == 0


def test_generators_are_seeded():
    assert steady(5, 3600, 0.1) == steady(5, 3600, 0.1)
    assert steady(5, 3600, 0.1) != steady(6, 3600, 0.1)
    day = diurnal(5, 86400, 0.01, peak_at_s=14 * 3600)
    by_hour = [sum(1 for j in day if h * 3600 <= j.submit < (h + 1) * 3600) for h in range(24)]
    assert by_hour[14] > 3 * by_hour[2]                           # the afternoon peak
    wave = bursty(5, 2, 10, 100, sites=("a",), site_share=1.0)
    assert len(wave) == 20 and {j.site for j in wave} == {"a"}
    assert all(j.submit < 1 or 100 <= j.submit < 101 for j in wave)


def test_condor_history_export_is_replayed():
    jobs = read_history(DATA / "history.json")
    assert [(j.submit, j.runtime, j.cpus, j.memory, j.site) for j in jobs] == [
        (0.0, 300.0, 1.0, 2048.0, "campus"), (0.0, 60.0, 2.0, 4096.0, None),
        (60.0, 1200.5, 4.0, 8192.0, None)]                        # the removed job is not


def test_swf_trace_is_replayed():
    jobs = read_swf(DATA / "sample.swf")
    assert [(j.submit, j.runtime, j.cpus, j.memory) for j in jobs] == [
        (0.0, 3600.0, 4.0, 4096.0), (60.0, 120.0, 2.0, 1024.0), (90.0, 600.0, 8.0, 1024.0)]


@pytest.mark.parametrize("text, reader, words", [
    ("{}", read_history, "expected a JSON list"),
    ("not json", read_history, "not a condor_history -json export"),
    ('[{"RemoteWallClockTime": 5}]', read_history, "job ad 0: KeyError"),
    ("1 2 3\n", read_swf, ":1: 3 fields"),
    ("1 x 0 10 1 -1 -1 1 60 -1 1\n", read_swf, ":1: could not convert"),
])
def test_bad_traces_are_named(tmp_path, text, reader, words):
    trace = tmp_path / "trace"
    trace.write_text(text)
    with pytest.raises(TraceError, match=words):
        reader(trace)


SIZED = parse_spec(TWO_SITES_TEXT.replace("max: 50}", "max: 200}").replace(
    "max: 30}", "max: 120}").replace("max_executors: 80, max_launches_per_tick: 20",
                                     "max_executors: 320, max_launches_per_tick: 80").replace(
    "tick: 10}", "tick: 10, executor_size: jobs}"))



def test_executors_sized_to_jobs_leave_no_core_idle_beside_a_running_job():
    """executor_size: jobs — one executor per job, of its size, taking only jobs of its
    size: no fragmentation; what idles is the fixed cost of start, negotiation and drain."""
    jobs = bursty(7, waves=3, per_wave=200, gap_s=1800, runtime_s=300,
                  sites=("dc", "campus"), site_share=0.3)
    result = simulate(SIZED, jobs, act_delay_s=2.0)
    m = result.metrics
    assert (result.done, m.killed_running) == (600, 0)
    assert (m.launched, m.drains, m.killed_executors, m.peak_executors) == (597, 597, 597, 200)
    assert (result.ticks, round(result.end)) == (555, 5542)
    assert {k: round(v) for k, v in m.idle_by_cause.items()} == {
        "boot": 4335, "unmatched": 2854, "empty": 10952, "draining": 8670, "fragmented": 0}
    assert (round(m.idle_core_s), round(m.busy_core_s)) == (26811, 236859)
    assert round(statistics.mean(m.extra_waits), 1) == 17.9
    assert all(j.site in (None, j.executor.split(".")[2]) for j in result.jobs)
    # the same jobs, limits and policy on executors of the role's size (4 cores)
    slot = simulate(dataclasses.replace(SIZED, autoscaling=dataclasses.replace(
        SIZED.autoscaling, executor_size="slot")), bursty(
        7, waves=3, per_wave=200, gap_s=1800, runtime_s=300, sites=("dc", "campus"),
        site_share=0.3), act_delay_s=2.0).metrics
    assert slot.killed_running == 0 and slot.busy_core_s == pytest.approx(m.busy_core_s)
    assert slot.idle_by_cause["fragmented"] > 4 * m.idle_core_s
