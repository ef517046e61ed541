"""Deployment logic, pure: what to kill and how many to launch for one app, when an app is
ready, and the order of a deployment's steps.

Rolling replacement follows upstream ``deployment/impl/TaskReplaceActor.scala`` with
``state/UpgradeStrategy.scala``: with ``N`` instances, ``minHealthy = ceil(N * minimumHealthCapacity)``
and ``maxCapacity = floor(N * (1 + maximumOverCapacity))`` (one more when both are equal, so
an upgrade with ``{1, 0}`` can progress). Old tasks above ``minHealthy`` go at once; after
that one old task goes each time a new one is healthy, so old tasks kept are
``max(0, minHealthy - newHealthy)``; new tasks start while the total stays within
``maxCapacity``. Scaling (``instances`` only) starts or kills the difference
(``killSelection``, ``deployment/impl/ScalingProposition.scala``).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol


class TaskView(Protocol):
    id: str
    config_version: str
    state: str
    healthy: bool | None
    killing: bool
    staged_at: float


@dataclass
class AppPlan:
    """What one app needs now."""

    kill: list[str] = field(default_factory=list)
    launch: int = 0


def has_mesos_check(spec: dict[str, Any]) -> bool:
    return any(h["protocol"].startswith("MESOS_") for h in spec.get("healthChecks", ()))


def is_healthy(spec: dict[str, Any], task: TaskView) -> bool:
    """Running, and healthy when the app has a Mesos health check. Marathon-side checks
    (HTTP, TCP, COMMAND) are not run by the emulator: their tasks count as healthy once
    running (their results show ``alive`` unknown)."""
    if task.state != "TASK_RUNNING" or task.killing:
        return False
    return task.healthy is True if has_mesos_check(spec) else True


def capacities(spec: dict[str, Any]) -> tuple[int, int]:
    """(minHealthy, maxCapacity) of ``spec``'s upgrade strategy."""
    n = spec["instances"]
    strategy = spec["upgradeStrategy"]
    min_healthy = math.ceil(n * strategy["minimumHealthCapacity"] - 1e-9)
    max_capacity = math.floor(n * (1 + strategy["maximumOverCapacity"]) + 1e-9)
    if min_healthy == max_capacity and n > 0:
        max_capacity += 1
    return min_healthy, max_capacity


def plan_app(spec: dict[str, Any], config_version: str, tasks: Iterable[TaskView]) -> AppPlan:
    """Kills and launches for an app whose current config is ``config_version``."""
    tasks = list(tasks)
    live = [t for t in tasks if not t.killing]
    old = [t for t in live if t.config_version != config_version]
    new = [t for t in live if t.config_version == config_version]
    n = spec["instances"]
    plan = AppPlan()
    old_alive = sum(1 for t in tasks if t.config_version != config_version)
    if old_alive:
        min_healthy, max_capacity = capacities(spec)
        new_healthy = sum(1 for t in new if is_healthy(spec, t))
        keep = max(0, min_healthy - new_healthy)
        # unhealthy and not yet running ones go first, then the youngest
        victims = sorted(old, key=lambda t: (is_healthy(spec, t), -t.staged_at))
        plan.kill = [t.id for t in victims[:max(0, len(old) - keep)]]
        # old tasks being killed still hold their capacity (and a fixed address) until
        # Mesos reports them gone: TaskReplaceActor counts them until they are terminal
        plan.launch = max(0, min(n - len(new), max_capacity - old_alive - len(new)))
    else:
        plan.launch = max(0, n - len(new))
    if len(new) > n:
        plan.kill += [t.id for t in _by_kill_selection(spec, new)[:len(new) - n]]
    return plan


def _by_kill_selection(spec: dict[str, Any], tasks: list[TaskView]) -> list[TaskView]:
    """Unhealthy and staging first, then by ``killSelection``."""
    youngest = spec.get("killSelection", "YOUNGEST_FIRST") == "YOUNGEST_FIRST"
    return sorted(tasks, key=lambda t: (is_healthy(spec, t),
                                        -t.staged_at if youngest else t.staged_at))


#: Who goes first when ``instances`` is lowered (``ScalingProposition.scala``): lower
#: weights first; an instance that has no task yet (Scheduled) weighs most, so Marathon
#: kills running tasks before it drops a scheduled instance.
_DECOMMISSION_WEIGHT = {"TASK_UNREACHABLE": 1, "TASK_STAGING": 2, "TASK_STARTING": 3,
                        "TASK_RUNNING": 4}


def decommission_order(spec: dict[str, Any], tasks: list[TaskView]) -> list[TaskView]:
    """Live tasks in the order Marathon decommissions them when ``instances`` is lowered:
    unreachable, staging, starting, running; within a state by ``killSelection``
    (``ScalingProposition.sortByConditionAndDate``)."""
    youngest = spec.get("killSelection", "YOUNGEST_FIRST") == "YOUNGEST_FIRST"
    return sorted(tasks, key=lambda t: (_DECOMMISSION_WEIGHT.get(t.state, 5),
                                        -t.staged_at if youngest else t.staged_at))


def app_ready(spec: dict[str, Any], config_version: str, tasks: Iterable[TaskView]) -> bool:
    """Deployment goal reached: exactly ``instances`` tasks, all of the current config,
    running and (with a Mesos health check) healthy, nothing else alive."""
    tasks = list(tasks)
    return len(tasks) == spec["instances"] and all(
        t.config_version == config_version and is_healthy(spec, t) for t in tasks)


def healthy_count(spec: dict[str, Any], tasks: Iterable[TaskView]) -> int:
    return sum(1 for t in tasks if is_healthy(spec, t))


def order_steps(actions: dict[str, str], deps: dict[str, list[str]]) -> list[list[tuple[str, str]]]:
    """Steps of ``actions`` (app id → action): apps after the apps they depend on for
    start/restart/scale, before them for stop (``deployment/DeploymentPlan.scala``)."""
    starting = {a for a, act in actions.items() if act != "StopApplication"}
    stopping = {a for a, act in actions.items() if act == "StopApplication"}
    levels_up = _levels(starting, deps)
    levels_down = _levels(stopping, deps)
    steps: list[list[tuple[str, str]]] = []
    if stopping:
        depth = max(levels_down.values())
        for level in range(depth, -1, -1):   # dependents first
            steps.append([("StopApplication", a) for a in sorted(stopping) if levels_down[a] == level])
    if starting:
        for level in range(max(levels_up.values()) + 1):
            steps.append([(actions[a], a) for a in sorted(starting) if levels_up[a] == level])
    return [s for s in steps if s]


def _levels(apps: set[str], deps: dict[str, list[str]]) -> dict[str, int]:
    """Longest chain of dependencies (within ``apps``) below each app; cycles cut."""
    memo: dict[str, int] = {}

    def level(app: str, seen: frozenset[str]) -> int:
        if app in memo:
            return memo[app]
        below = [d for d in deps.get(app, ()) if d in apps and d not in seen]
        value = 1 + max((level(d, seen | {app}) for d in below), default=-1)
        memo[app] = value
        return value

    return {a: level(a, frozenset()) for a in apps}
