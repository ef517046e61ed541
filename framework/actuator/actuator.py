"""The only code that changes the pool: it carries out the planner's Decision.

Two small interfaces say what it may touch: the :class:`Backend` that runs executor tasks
(the Mesos framework, the simulated pool, …) and :class:`PoolControl`, HTCondor's side
(drains; the operator's drains let running jobs finish). Order within a tick: cancel
drains, kill drained tasks, start drains, then the desired counts (so a kill is never
undone by a relaunch). A failing call is logged and survived: a drain that could not
start is forgotten and decided again next tick; a kill or a cancel that failed keeps its
drain in the planner's memory (the startd still drains), so the next tick decides it
again.
"""
from __future__ import annotations

import abc
import dataclasses
import logging
from typing import Callable, Mapping

from ..backends.views import TaskView
from ..errors import DrainRefused
from ..monitor.snapshot import StartdInfo
from ..planner.decision import Decision, Drain, Executor, PlannerState, Size

log = logging.getLogger(__name__)


class Backend(abc.ABC):
    """What runs the executor tasks."""

    @abc.abstractmethod
    def executors(self) -> list[Executor]:
        """The executor tasks that are not over."""

    @abc.abstractmethod
    def set_desired(self, site: str, count: int,
                    sizes: Mapping[Size, int] | None = None) -> None:
        """Keep ``count`` executors at ``site`` (more are launched; none is killed);
        ``sizes``: of them, how many of each (cpus, memory MiB); the rest, and all when
        None, the executor role's size."""

    @abc.abstractmethod
    def kill(self, task_id: str) -> bool:
        """End one executor task; False if it is unknown or over."""

    def kill_many(self, task_ids: list[str]) -> tuple[list[str], list[str]]:
        """End these executor tasks (one tick's drained ones): the ids ended, and what
        failed. One call per task by default; a backend with a batch call (Marathon's
        ``tasks/delete?scale=true``) ends them all at once."""
        killed, errors = [], []
        for task_id in task_ids:
            try:
                if self.kill(task_id) is not False:
                    killed.append(task_id)
            except Exception as exc:  # noqa: BLE001 - the others are still ended
                errors.append(f"kill {task_id}: {exc}")
        return killed, errors

    def held_sites(self) -> dict[str, str]:
        """Sites that take no launch now (a black hole, a back-off) → why; none by default."""
        return {}

    def tasks(self) -> list[TaskView]:
        """Every task of the pool (all roles) as the operators' views show it; none by
        default. Called once a tick by the elastic loop's thread."""
        return []


def missing_by_size(have: Mapping[Size | None, int], count: int,
                    sizes: Mapping[Size, int]) -> list[tuple[Size | None, int]]:
    """What :meth:`Backend.set_desired` launches: for executors alive by size (``have``;
    None: the role's size), the ones missing of each size in ``sizes``, largest first,
    then of the role's size (``None``) to reach ``count``."""
    out = [(size, n - have.get(size, 0))
           for size, n in sorted(sizes.items(), key=lambda kv: (-kv[0][0], -kv[0][1]))]
    others = sum(n for size, n in have.items() if size not in sizes)
    out.append((None, count - sum(sizes.values()) - others))
    return [(size, n) for size, n in out if n > 0]


class PoolControl(abc.ABC):
    """What the actuator asks of HTCondor."""

    @abc.abstractmethod
    def drain(self, startd: StartdInfo) -> str:
        """Start a graceful drain (no new claims; running jobs finish); its request id.
        Raises on failure."""

    @abc.abstractmethod
    def cancel_drain(self, drain: Drain) -> None:
        """Cancel a drain (the startd takes claims again). Raises on failure."""

    def operator_drain(self, startd: StartdInfo) -> str:
        """Start the operator's drain: no new claims, running jobs finish however long
        they take, whatever claims the startd holds; its request id. By default an
        ordinary drain (refused while a claim holds a slot: the planner asks again)."""
        return self.drain(startd)




@dataclasses.dataclass(frozen=True)
class Applied:
    """What the actuator did with a Decision: the planner state to keep, and failures."""

    state: PlannerState
    drained: tuple[StartdInfo, ...] = ()
    killed: tuple[str, ...] = ()
    cancelled: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()     # task ids whose startd refused the drain (a claim)
    unsized: tuple[str, ...] = ()     # sites whose desired count the backend did not take


class Actuator:
    """Applies decisions to a backend and a pool; ``before_kill`` is told of each kill
    before it is made (hooks)."""

    def __init__(self, backend: Backend, control: PoolControl,
                 before_kill: Callable[[str], None] | None = None) -> None:
        self.backend, self.control, self.before_kill = backend, control, before_kill
        self._drains: dict[str, Drain] = {}     # the drains after the last tick

    def apply(self, decision: Decision) -> Applied:
        drains = dict(decision.state.drains)
        errors: list[str] = []
        cancelled = []
        for drain in decision.cancel:
            try:
                self.control.cancel_drain(drain)
                cancelled.append(drain.task_id)
            except Exception as exc:  # noqa: BLE001 - logged and survived
                errors.append(f"cancel drain of {drain.startd}: {exc}")
                drains[drain.task_id] = drain     # still draining: decided again next tick
        killed: list[str] = []
        if decision.kill:
            for task_id in decision.kill:
                if self.before_kill is not None:
                    self._call(errors, f"before kill {task_id}", self.before_kill, task_id)
            try:
                killed, failed = self.backend.kill_many(list(decision.kill))
                errors.extend(failed)
            except Exception as exc:  # noqa: BLE001 - logged and survived
                errors.append(f"kill {', '.join(decision.kill)}: {exc}")
            for task_id in decision.kill:      # not ended: its drain is followed again
                if task_id not in killed and task_id in self._drains:
                    drains[task_id] = self._drains[task_id]
        drained = []
        refused = []
        for startd in decision.drain:
            record = drains.get(startd.task_id)
            start = self.control.operator_drain if record is not None and record.operator \
                else self.control.drain
            try:
                request = start(startd)
            except DrainRefused as exc:   # a claim raced the decision: the job runs on
                drains.pop(startd.task_id, None)
                refused.append(startd.task_id)
                log.info("actuator: %s", exc)
                continue
            except Exception as exc:  # noqa: BLE001 - forget it; decided again next tick
                drains.pop(startd.task_id, None)
                errors.append(f"drain of {startd.name}: {exc}")
                continue
            drains[startd.task_id] = dataclasses.replace(drains[startd.task_id],
                                                         request_id=request or "")
            drained.append(startd)
        unsized = [site for site, count in decision.desired.items()
                   if not self._call(errors, f"desired {site}={count}", self.backend.set_desired,
                                     site, count, decision.sizes.get(site))]
        for error in errors:
            log.warning("actuator: %s", error)
        self._drains = drains
        return Applied(dataclasses.replace(decision.state, drains=drains), tuple(drained),
                       tuple(killed), tuple(cancelled), tuple(errors), tuple(refused),
                       tuple(unsized))

    @staticmethod
    def _call(errors: list[str], what: str, fn: Callable, *args: object) -> bool:
        try:
            result = fn(*args)
        except Exception as exc:  # noqa: BLE001 - logged and survived
            errors.append(f"{what}: {exc}")
            return False
        return result is not False
