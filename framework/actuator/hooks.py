"""CLUES-style hooks: operator executables told what the elastic pool does.

Conventions of CLUES' ``clueslib/hooks.py`` (grycap/clues 2.3.0), so scripts written for
CLUES work unchanged: the executable ``<folder>/<EVENT>`` (absent or not executable:
skipped) runs as ``[path, node, *args]`` without a shell, in ``folder``, stdin closed, in
its own session; after ``timeout_s`` its whole process group is killed. Its outcome is
logged, never acted on, and a hook never holds up the pool (they run one after the
other, in the order of events, on a thread of their own). ``node`` is the executor's
virtual node name (``<site>-<k>``, :mod:`framework.clues.nodes`; its task id if it has
none). Events:

- ``PRE_POWERON node`` — an executor task appeared (launched, not yet running);
- ``POST_POWERON node 1 node`` — it runs and is healthy; ``POST_POWERON node 0 None`` —
  it ended before, and ``ONERR node failures`` (failures at its site so far);
- ``PRE_POWEROFF node`` — it is about to be killed (drained, no claim);
  ``POST_POWEROFF node 1 node`` after the kill, ``POST_POWEROFF node 0 None`` if refused;
- ``IDLE node`` / ``USED node`` — its startd lost its last claim / got its first one
  (transitions only, as CLUES does);
- ``REQUEST id slots memory tasks max_per_node constraints`` — idle jobs of a new shape:
  ``slots`` cores per job, ``memory`` in bytes, ``tasks`` jobs, ``max_per_node`` 1,
  ``constraints`` ``;``-joined (``HTCMESOS_SITE == "x"`` or empty, passed even when empty).
"""
from __future__ import annotations

import logging
import os
import signal
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from ..monitor.snapshot import PoolSnapshot
from ..planner.decision import Decision, Executor, TaskState
from .actuator import Applied

log = logging.getLogger(__name__)

EVENTS = ("PRE_POWERON", "POST_POWERON", "PRE_POWEROFF", "POST_POWEROFF", "IDLE", "USED",
          "ONERR", "REQUEST")


class HookRunner:
    """Runs ``<folder>/<EVENT>`` executables in the background (see the module docstring)."""

    def __init__(self, folder: str | Path, timeout_s: float = 180.0) -> None:
        self.folder, self.timeout_s = Path(folder), timeout_s
        # one thread: hooks run in the order things happened, off the loop's thread
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="htcmesos-hook")

    def fire(self, event: str, node: str, *args: object) -> None:
        path = self.folder / event
        if not (path.is_file() and os.access(path, os.X_OK)):
            return
        try:
            self._pool.submit(self.run, path, [str(node), *(str(a) for a in args)])
        except RuntimeError:                     # shut down
            pass

    def run(self, path: Path, args: list[str]) -> int | None:
        """Run one hook now; its exit code (None: killed after the timeout)."""
        argv = [str(path), *args]
        try:
            proc = subprocess.Popen(argv, cwd=self.folder, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as exc:
            log.warning("hook %s could not start: %s", path.name, exc)
            return None
        try:
            out, _ = proc.communicate(timeout=self.timeout_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
            proc.communicate()
            log.warning("hook %s %s killed after %g s", path.name, " ".join(args),
                        self.timeout_s)
            return None
        level = logging.INFO if proc.returncode == 0 else logging.WARNING
        log.log(level, "hook %s %s exited %d: %s", path.name, " ".join(args), proc.returncode,
                out.decode("utf-8", "replace").strip()[-300:])
        return proc.returncode

    def close(self) -> None:
        self._pool.shutdown(wait=True)


class CluesHooks:
    """Turns what each tick saw and did into hook events (an :class:`ElasticLoop` hook)."""

    def __init__(self, runner: HookRunner) -> None:
        self.runner = runner
        #: task id → the node name hooks are told (the loop sets its virtual nodes' names)
        self.name: Callable[[str], str] = lambda task_id: task_id
        self._tasks: dict[str, Executor] = {}
        self._used: dict[str, bool] = {}
        self._shapes: set[tuple] = set()
        self._failures: dict[str, int] = {}
        self._requests = 0

    def tick(self, snapshot: PoolSnapshot, executors: list[Executor], decision: Decision,
             applied: Applied) -> None:
        fire = self.runner.fire
        if snapshot.fresh:
            self._requests_for(snapshot)
        now = {e.task_id: e for e in executors}
        for task_id, ex in now.items():
            before = self._tasks.get(task_id)
            if before is None:
                fire("PRE_POWERON", self.name(task_id))
            if ex.state is TaskState.RUNNING and (before is None or
                                                   before.state is TaskState.STARTING):
                fire("POST_POWERON", self.name(task_id), 1, self.name(task_id))
        for task_id, ex in self._tasks.items():
            if task_id not in now and task_id not in applied.killed:
                if ex.state is TaskState.STARTING:
                    self._failures[ex.site] = self._failures.get(ex.site, 0) + 1
                    fire("POST_POWERON", self.name(task_id), 0, "None")
                    fire("ONERR", self.name(task_id), self._failures[ex.site])
        for task_id in decision.kill:
            ok = task_id in applied.killed
            node = self.name(task_id)
            fire("POST_POWEROFF", node, 1 if ok else 0, node if ok else "None")
        self._tasks = {t: e for t, e in now.items() if t not in applied.killed}
        if snapshot.fresh:
            self._transitions(snapshot)

    def before_kill(self, task_id: str) -> None:
        self.runner.fire("PRE_POWEROFF", self.name(task_id))

    def _transitions(self, snapshot: PoolSnapshot) -> None:
        seen = {}
        for startd in snapshot.startds:
            used = startd.claims > 0
            seen[startd.task_id] = used
            if startd.task_id in self._used and self._used[startd.task_id] != used:
                self.runner.fire("USED" if used else "IDLE", self.name(startd.task_id))
        self._used = seen

    def _requests_for(self, snapshot: PoolSnapshot) -> None:
        shapes = {(s.cpus, s.memory, s.site): s.count for s in snapshot.idle_jobs}
        for (cpus, memory, site), count in shapes.items():
            if (cpus, memory, site) in self._shapes:
                continue
            self._requests += 1
            constraint = f'HTCMESOS_SITE == "{site}"' if site else ""
            self.runner.fire("REQUEST", f"request-{self._requests}", f"{cpus:g}",
                             int(memory * 1024 * 1024), count, 1, constraint)
        self._shapes = set(shapes)
