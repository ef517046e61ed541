"""The reconciler alone: what it asks for, and when (pure: records in, calls out)."""
from __future__ import annotations

from framework.autoscaler.lifecycle import Phase
from framework.backends.mesos.needs import TaskRecord
from framework.backends.mesos.parts import Options
from framework.backends.mesos.reconcile import Reconciler
from framework.model import Role


def records(per_agent: int = 3, agents: int = 2) -> list[TaskRecord]:
    return [TaskRecord(f"p.executor.dc.a{a}t{t}", Role.EXECUTOR, "dc", Phase.RUNNING, 0.0,
                       f"agent{a}") for a in range(agents) for t in range(per_agent)]


def asked(calls: list[tuple]) -> list[tuple[str, str | None]]:
    """(task id, agent id) of every explicit entry, in order."""
    return [(e["task_id"]["value"], (e.get("agent_id") or {}).get("value"))
            for name, body in calls for e in body]


def test_retries_probe_one_task_per_agent_and_an_answer_asks_for_the_rest_once():
    rec = Reconciler(Options(reconcile_first_retry_s=1.0, reconcile_retry_s=4.0))
    first = rec.start(records(), now=0.0)
    assert len(asked(first)) == 6 and first[-1] == ("reconcileTasks", [])   # + implicit
    assert rec.due(0.5) == []
    probes = asked(rec.due(1.0))
    assert probes == [("p.executor.dc.a0t0", "agent0"), ("p.executor.dc.a1t0", "agent1")]
    # agent1 is back: its probe answered → the rest of its tasks asked at once, once
    assert asked(rec.answered("p.executor.dc.a1t0", 1.2)) == [
        ("p.executor.dc.a1t1", "agent1"), ("p.executor.dc.a1t2", "agent1")]
    assert rec.answered("p.executor.dc.a1t1", 1.3) == []          # not again this round
    assert rec.answered("p.executor.dc.a1t2", 1.3) == []
    assert set(rec.pending) == {"p.executor.dc.a0t0", "p.executor.dc.a0t1",
                                "p.executor.dc.a0t2"}
    # the answers reset the back-off (the round due at 2 s stays): agent0's probe again
    assert rec.due(1.9) == [] and asked(rec.due(2.0)) == [("p.executor.dc.a0t0", "agent0")]
    assert rec.due(2.9) == [] and rec.due(3.0)            # then 1 s later: reset to 1 s
    assert rec.describe(3.0).startswith("3 task(s) unanswered")


def test_back_off_doubles_to_its_cap_without_answers():
    rec = Reconciler(Options(reconcile_first_retry_s=1.0, reconcile_retry_s=4.0))
    rec.start(records(1, 1), now=0.0)
    times = [t / 10 for t in range(0, 200) if rec.due(t / 10)]
    assert times == [1.0, 2.0, 4.0, 8.0, 12.0, 16.0]


def test_without_per_agent_probes_every_task_is_asked_every_time():
    rec = Reconciler(Options(reconcile_first_retry_s=1.0, reconcile_per_agent=False))
    rec.start(records(), now=0.0)
    assert len(asked(rec.due(1.0))) == 6
    assert rec.answered("p.executor.dc.a1t0", 1.2) == []


def test_tasks_whose_agent_is_unknown_are_all_asked():
    rec = Reconciler(Options(reconcile_first_retry_s=1.0))
    recs = [TaskRecord(f"p.executor.dc.t{i}", Role.EXECUTOR, "dc", Phase.STARTING, 0.0)
            for i in range(3)]
    rec.start(recs, now=0.0)
    assert len(asked(rec.due(1.0))) == 3
