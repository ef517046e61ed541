"""The actuator: a drain the startd refuses (a claim raced the decision) is forgotten
quietly and decided again; other failures are errors; nothing else is held up."""
from __future__ import annotations

import logging

import pytest

from framework.actuator import Actuator, Backend, PoolControl
from framework.actuator.condor import CondorControl
from framework.condor.workerclient import CondorError
from framework.errors import DrainRefused
from framework.monitor.snapshot import StartdInfo
from framework.planner import Decision, Drain, PlannerState


def startd(task: str) -> StartdInfo:
    return StartdInfo(f"slot1@{task}", task, "dc", 1.0, 256.0, 1.0, 256.0, 0, False, 0.0,
                      0.0, f"<10.0.0.1:9618?name={task}>")


class Pool(Backend, PoolControl):
    def __init__(self) -> None:
        self.desired: dict = {}
        self.drained: list[str] = []

    def executors(self):
        return []

    def set_desired(self, site, count, sizes=None):
        self.desired[site] = (count, sizes)

    def kill(self, task_id):
        return True

    def drain(self, s: StartdInfo) -> str:
        if s.task_id == "claimed":
            raise DrainRefused(f"{s.name} refused to drain")
        if s.task_id == "gone":
            raise RuntimeError("connection refused")
        self.drained.append(s.task_id)
        return "req-1"

    def cancel_drain(self, drain: Drain) -> None:
        pass


def test_a_refused_drain_is_forgotten_without_an_error(caplog):
    pool = Pool()
    ads = [startd("claimed"), startd("gone"), startd("idle")]
    state = PlannerState(drains={s.task_id: Drain(s.task_id, s.name, 5.0) for s in ads})
    decision = Decision(5.0, {"dc": 3}, {"dc": 0}, drain=tuple(ads), state=state,
                        sizes={"dc": {(1.0, 256.0): 3}})
    with caplog.at_level(logging.INFO, logger="framework.actuator.actuator"):
        applied = Actuator(pool, pool).apply(decision)
    assert applied.refused == ("claimed",)
    assert [d.task_id for d in applied.drained] == ["idle"] == pool.drained
    assert applied.errors == ("drain of slot1@gone: connection refused",)
    assert set(applied.state.drains) == {"idle"}
    assert applied.state.drains["idle"].request_id == "req-1"
    assert pool.desired == {"dc": (3, {(1.0, 256.0): 3})}
    assert any(r.levelno == logging.INFO and "refused to drain" in r.getMessage()
               for r in caplog.records)


class Worker:
    def __init__(self, error: str | None) -> None:
        self.error = error

    def call(self, request):
        if self.error:
            raise CondorError(f"drain: {self.error}")
        return {"ok": True, "request": "7"}


def test_the_startd_saying_no_is_a_refusal_and_anything_else_an_error():
    with pytest.raises(DrainRefused, match="slot1@a refused to drain"):
        CondorControl(Worker("Startd failed to start draining jobs.")).drain(startd("a"))
    with pytest.raises(CondorError, match="no answer within the deadline"):
        CondorControl(Worker("no answer within the deadline (5 s)")).drain(startd("a"))
    assert CondorControl(Worker(None)).drain(startd("a")) == "7"


class Refusing(Pool):
    """A backend whose batch removal is refused (Marathon: an app held by a deployment)."""

    def __init__(self) -> None:
        super().__init__()
        self.refuse = True

    def kill_many(self, task_ids):
        if self.refuse:
            raise RuntimeError("deferred: held by a deployment")
        return list(task_ids), []


def test_a_kill_that_fails_keeps_its_drain_for_the_next_tick():
    pool = Refusing()
    actuator = Actuator(pool, pool)
    ad = startd("idle")
    drained = actuator.apply(Decision(1.0, {"dc": 1}, {"dc": 0}, drain=(ad,), state=PlannerState(
        drains={"idle": Drain("idle", ad.name, 1.0)})))
    assert set(drained.state.drains) == {"idle"}
    # the planner drops the drain when it decides the kill; the kill is refused
    failed = actuator.apply(Decision(2.0, {"dc": 0}, {"dc": 0}, kill=("idle",),
                                     state=PlannerState(drains={})))
    assert failed.killed == () and "deferred" in failed.errors[0]
    assert failed.state.drains == drained.state.drains        # followed again
    pool.refuse = False
    done = actuator.apply(Decision(3.0, {"dc": 0}, {"dc": 0}, kill=("idle",),
                                   state=PlannerState(drains={})))
    assert done.killed == ("idle",) and done.state.drains == {}


class OperatorPool(Pool):
    def __init__(self) -> None:
        super().__init__()
        self.operator: list[str] = []

    def operator_drain(self, s: StartdInfo) -> str:
        self.operator.append(s.task_id)
        return "op-1"


def test_the_operators_drains_go_to_operator_drain_the_others_to_drain():
    pool = OperatorPool()
    ads = [startd("busy"), startd("idle")]
    state = PlannerState(drains={"busy": Drain("busy", "slot1@busy", 5.0, operator=True),
                                 "idle": Drain("idle", "slot1@idle", 5.0)})
    applied = Actuator(pool, pool).apply(Decision(5.0, {"dc": 2}, {"dc": 0}, drain=tuple(ads),
                                                  state=state))
    assert pool.operator == ["busy"] and pool.drained == ["idle"]
    assert applied.state.drains["busy"] == Drain("busy", "slot1@busy", 5.0, "op-1", True)
    assert applied.state.drains["idle"].request_id == "req-1"


def test_a_pool_control_without_operator_drains_drains_as_usual():
    pool = Pool()                       # no operator_drain: the default, an ordinary drain
    state = PlannerState(drains={"claimed": Drain("claimed", "slot1@claimed", 5.0,
                                                  operator=True)})
    applied = Actuator(pool, pool).apply(Decision(5.0, {"dc": 1}, {"dc": 0},
                                                  drain=(startd("claimed"),), state=state))
    assert applied.refused == ("claimed",) and not applied.state.drains   # asked again later


class Recorder:
    def __init__(self) -> None:
        self.requests: list[dict] = []

    def call(self, request):
        self.requests.append(request)
        return {"ok": True, "request": "9"}


def test_the_worker_is_asked_for_an_operator_drain_by_a_flag():
    worker = Recorder()
    control = CondorControl(worker)
    assert control.drain(startd("a")) == "9" and control.operator_drain(startd("b")) == "9"
    assert worker.requests == [
        {"op": "drain", "name": "slot1@a", "address": "<10.0.0.1:9618?name=a>"},
        {"op": "drain", "name": "slot1@b", "address": "<10.0.0.1:9618?name=b>",
         "operator": True}]


class FakeStartd:
    def __init__(self, calls: list) -> None:
        self.calls = calls

    def drainJobs(self, **kwargs):          # noqa: N802 - the bindings' name
        self.calls.append(kwargs)
        return 3


class FakeBindings:
    """What worker.drain uses of htcondor2: Startd(ad) and DrainType."""

    class DrainType:
        Graceful = "graceful"

    def __init__(self) -> None:
        self.calls: list = []

    def Startd(self, ad):                   # noqa: N802
        return FakeStartd(self.calls)


def test_the_worker_drains_operator_drains_without_the_check_and_with_the_reason():
    from framework.condor import worker
    bindings = FakeBindings()
    assert worker.drain(bindings, {"name": "slot1@a", "address": "<a>"}) == {"request": "3"}
    assert worker.drain(bindings, {"name": "slot1@a", "address": "<a>", "operator": True}) == \
        {"request": "3"}
    assert bindings.calls == [{"drain_type": "graceful", "check_expr": worker.DRAIN_CHECK},
                              {"drain_type": "graceful", "reason": "htcmesos-operator"}]


class Unreachable(Pool):
    """A pool whose startds cannot be reached to cancel a drain, nor its backend to size."""

    def cancel_drain(self, drain: Drain) -> None:
        raise RuntimeError(f"{drain.startd}: connection refused")

    def set_desired(self, site, count, sizes=None):
        if site == "campus":
            raise RuntimeError("backend down")
        super().set_desired(site, count, sizes)


def test_a_cancel_that_fails_keeps_its_drain_and_a_failed_size_is_said():
    """The drain is still on in the startd: forgetting it would leave the executor
    draining for good (never used, never removed); kept, the planner decides it again."""
    pool = Unreachable()
    drain = Drain("a", "slot1@a", 1.0, "r1", operator=True)
    applied = Actuator(pool, pool).apply(Decision(2.0, {"dc": 1, "campus": 2}, {"dc": 0},
                                                  cancel=(drain,), state=PlannerState()))
    assert applied.cancelled == () and applied.state.drains == {"a": drain}
    assert applied.errors == ("cancel drain of slot1@a: slot1@a: connection refused",
                              "desired campus=2: backend down")
    assert applied.unsized == ("campus",) and pool.desired == {"dc": (1, None)}
