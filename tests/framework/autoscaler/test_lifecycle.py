"""The task lifecycle table, as a matrix of cases."""
from __future__ import annotations

import pytest

from framework.autoscaler.lifecycle import TRANSITIONS, Action, Phase, step
from framework.mesos.protocol import TaskState as S

P = Phase
FAILURES = [S.FAILED, S.ERROR, S.LOST, S.DROPPED, S.GONE, S.GONE_BY_OPERATOR,
            S.FINISHED, S.KILLED, S.UNKNOWN]


def test_every_phase_has_every_state():
    assert set(TRANSITIONS) == set(Phase)
    for row in TRANSITIONS.values():
        assert set(row) == set(S)


@pytest.mark.parametrize("phase,state,expected", [
    (P.LAUNCHING, S.STAGING, (P.STARTING, Action.NONE)),
    (P.LAUNCHING, S.STARTING, (P.STARTING, Action.NONE)),
    (P.LAUNCHING, S.RUNNING, (P.RUNNING, Action.NONE)),
    (P.STARTING, S.RUNNING, (P.RUNNING, Action.NONE)),
    (P.RUNNING, S.STARTING, (P.RUNNING, Action.NONE)),   # late update never goes back
    (P.RUNNING, S.STAGING, (P.RUNNING, Action.NONE)),
    # killed by someone else (Mesos, after failed health checks): its end is a failure
    (P.RUNNING, S.KILLING, (P.RUNNING, Action.NONE)),
    (P.STARTING, S.KILLING, (P.STARTING, Action.NONE)),
    (P.KILLING, S.RUNNING, (P.KILLING, Action.NONE)),
    (P.KILLING, S.KILLED, (P.ENDED, Action.GONE)),
    (P.KILLING, S.FINISHED, (P.ENDED, Action.GONE)),
    (P.KILLING, S.LOST, (P.ENDED, Action.GONE)),
    (P.ENDED, S.RUNNING, (P.ENDED, Action.KILL)),          # a zombie we replaced
    (P.ENDED, S.STARTING, (P.ENDED, Action.KILL)),
    (P.ENDED, S.KILLED, (P.ENDED, Action.NONE)),
    (P.ENDED, S.LOST, (P.ENDED, Action.NONE)),
    # behind a partition (PARTITION_AWARE): it may run on, and may come back
    (P.RUNNING, S.UNREACHABLE, (P.UNREACHABLE, Action.NONE)),
    (P.LAUNCHING, S.UNREACHABLE, (P.UNREACHABLE, Action.NONE)),
    (P.UNREACHABLE, S.UNREACHABLE, (P.UNREACHABLE, Action.NONE)),
    (P.UNREACHABLE, S.RUNNING, (P.RUNNING, Action.RETURNED)),
    (P.UNREACHABLE, S.STARTING, (P.STARTING, Action.RETURNED)),
    (P.UNREACHABLE, S.KILLING, (P.RUNNING, Action.RETURNED)),   # Mesos kills it: a failure
    (P.UNREACHABLE, S.FAILED, (P.ENDED, Action.GONE)),           # no back-off for it
    (P.UNREACHABLE, S.GONE, (P.ENDED, Action.GONE)),
    (P.UNREACHABLE, S.UNKNOWN, (P.ENDED, Action.GONE)),
    (P.KILLING, S.UNREACHABLE, (P.KILLING, Action.NONE)),        # the kill is asked again
    (P.ENDED, S.UNREACHABLE, (P.ENDED, Action.NONE)),
])
def test_transitions(phase, state, expected):
    got = step(phase, state)
    assert (got.phase, got.action) == expected


def test_a_kill_we_did_not_ask_for_ends_in_a_failure():
    phase = step(P.RUNNING, S.KILLING).phase
    assert step(phase, S.KILLED).action is Action.FAILED


@pytest.mark.parametrize("phase", [P.LAUNCHING, P.STARTING, P.RUNNING])
@pytest.mark.parametrize("state", FAILURES)
def test_unexpected_end_is_a_failure(phase, state):
    assert (step(phase, state).phase, step(phase, state).action) == (P.ENDED, Action.FAILED)


def test_active_phases():
    assert [p for p in Phase if p.active] == [P.LAUNCHING, P.STARTING, P.RUNNING]
    assert not P.UNREACHABLE.active          # not counted while away: replaced if wanted
