"""Framework mode as the elastic loop's backend: its executor tasks, desired counts, kills,
and every task for the operators' views."""
from __future__ import annotations

from typing import Mapping

from ...actuator import Backend
from ...autoscaler.lifecycle import Phase
from ...model import Role
from ...planner import Executor, TaskState
from ..views import TaskView, mesos_task_link, mesos_ui
from .framework import MesosFramework


class MesosBackend(Backend):
    """The executors of a :class:`MesosFramework` (thread-safe through its lock)."""

    def __init__(self, framework: MesosFramework) -> None:
        self.fw = framework

    def executors(self) -> list[Executor]:
        out = []
        for rec in self.fw.snapshot_records():
            if rec.role is not Role.EXECUTOR or rec.phase in (Phase.ENDED, Phase.UNREACHABLE):
                continue            # (an unreachable one counts again when it returns)
            state = (TaskState.KILLING if rec.phase is Phase.KILLING else
                     TaskState.RUNNING if rec.confirmed else TaskState.STARTING)
            out.append(Executor(rec.task_id, rec.site, state, rec.launched_at,
                                *(rec.size or (0.0, 0.0))))
        return out

    def set_desired(self, site: str, count: int,
                    sizes: Mapping[tuple[float, float], int] | None = None) -> None:
        self.fw.set_desired_executors(site, count, dict(sizes) if sizes else None)

    def kill(self, task_id: str) -> bool:
        return self.fw.kill(task_id)

    def held_sites(self) -> dict[str, str]:
        return self.fw.held_sites()

    def tasks(self) -> list[TaskView]:
        """Every task the framework keeps and that has not ended, with its page in the
        Mesos UI when the master is given by an http(s) URL (not ``zk://``)."""
        mesos = self.fw.spec.backend.mesos
        ui = mesos_ui(mesos.master) if mesos is not None else None
        framework_id = self.fw.saved.framework_id
        out = []
        for rec in sorted(self.fw.snapshot_records(),
                          key=lambda r: (r.role.value, r.site, r.launched_at, r.task_id)):
            if rec.phase is Phase.ENDED:
                continue
            out.append(TaskView(rec.task_id, rec.role.value, rec.site, rec.phase.value,
                                rec.healthy, rec.ip, rec.agent_id,
                                mesos_task_link(ui, framework_id, rec.agent_id, rec.task_id)))
        return out
