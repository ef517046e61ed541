"""The real demo's figures: peak executors, idle core-time (exact sums), the summary."""
from __future__ import annotations

from collections import Counter

from framework.autoscaler.lifecycle import Phase
from framework.backends.mesos.needs import TaskRecord
from framework.demo_summary import Usage, executors_by_site, summary_lines
from framework.model import Role


def test_executors_holding_resources_count_until_they_end():
    records = [TaskRecord(f"t{n}", Role.EXECUTOR, site, phase, 0.0)
               for n, (site, phase) in enumerate([("dc", Phase.LAUNCHING), ("dc", Phase.RUNNING),
                                                  ("dc", Phase.KILLING), ("dc", Phase.ENDED),
                                                  ("campus", Phase.STARTING)])]
    records.append(TaskRecord("m", Role.MASTER, "dc", Phase.RUNNING, 0.0))
    assert executors_by_site(records) == Counter({"dc": 3, "campus": 1})


def test_idle_core_time_is_a_left_riemann_sum_of_provisioned_minus_used_cores():
    usage = Usage(cores_per_executor=2)
    usage.sample(0.0, Counter(), Counter())                          # empty pool
    usage.sample(10.0, Counter({"dc": 2}), Counter())                # 4 cores, booting
    usage.sample(20.0, Counter({"dc": 2, "campus": 1}), Counter({"dc": 3, "campus": 5}))
    usage.sample(30.0, Counter(), Counter())                         # shrunk
    # 10 s × 4 cores idle, then 10 s × 6 cores of which 3 (dc) + 2 (campus: capped) used
    assert usage.provisioned_s == 100.0 and usage.used_s == 50.0
    assert usage.idle_fraction() == 0.5
    assert usage.peak == Counter({"dc": 2, "campus": 1}) and usage.peak_total == 3
    assert Usage(2).idle_fraction() is None


def test_summary_lines_give_every_figure_and_say_whether_the_pool_shrank():
    usage = Usage(2)
    usage.sample(0.0, Counter({"dc": 1, "campus": 1}), Counter({"dc": 1}))
    usage.sample(10.0, Counter(), Counter())
    lines = summary_lines({"dc": 2, "campus": 2}, {"dc": 2, "campus": 1},
                          {"1.0": 4.0, "1.1": 9.0, "2.0": 5.0}, usage, 61.25,
                          {"dc": 0, "campus": 0})
    assert lines == [
        "jobs done: 3 of 4",
        "  jobs completed at site campus: 1 of 2",
        "  jobs completed at site dc: 2 of 2",
        "queue wait (QDate → JobStartDate, 3 jobs): mean 6.0 s, max 9 s",
        "peak executors: campus 1, dc 1, total 2",
        "idle core-time: 75% of 40 provisioned executor core-seconds (10 used by running jobs)",
        "pool shrank back to the minimum (campus 0, dc 0 executors) at t+61.2s",
    ]
    assert summary_lines({"dc": 1}, {}, {}, Usage(2), None, {"dc": 0})[-4:] == [
        "queue wait: not known (the demo stopped early, or no job started)",
        "peak executors: dc 0, total 0",
        "idle core-time: no executor was provisioned",
        "pool did NOT shrink back to the minimum (dc 0 executors)"]
