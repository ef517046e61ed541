"""HTCondor's side of the actuator: graceful drains through the bindings worker.

A drain is sent to the startd itself (through CCB at private sites). Executors hold no
pool key, so they cannot check a token signed with it: the framework and the executors
share a second key, derived from the pool key (:func:`framework.condor.tokens.admin_key`),
with which the framework signs its own token (``htcmesos@<trust domain>``, scope
ADMINISTRATOR); the executors' config lets that identity, and no other remote one,
administer them. A compromised executor could drain other executors with it, nothing
more: the central manager does not know that key.
"""
from __future__ import annotations

from ..condor.workerclient import CondorError, CondorWorker
from ..errors import DrainRefused
from ..monitor.snapshot import StartdInfo
from ..planner.decision import Drain
from .actuator import PoolControl


#: What the bindings say when a startd answers a drain request with no
#: (htcondor2/startd.cpp ``_startd_drain_jobs``)
REFUSED = "Startd failed to start draining jobs"


class CondorControl(PoolControl):
    """Drains and cancels through the worker; raises :class:`CondorError` on failure."""

    def __init__(self, worker: CondorWorker) -> None:
        self.worker = worker
        self._addresses: dict[str, tuple[str, str]] = {}    # task id → (name, address)

    def drain(self, startd: StartdInfo) -> str:
        return self._drain(startd, False)

    def operator_drain(self, startd: StartdInfo) -> str:
        """No claim check (the worker's ``operator`` drain): running jobs retire."""
        return self._drain(startd, True)

    def _drain(self, startd: StartdInfo, operator: bool) -> str:
        request = {"op": "drain", "name": startd.name, "address": startd.address}
        if operator:
            request["operator"] = True
        try:
            answer = self.worker.call(request)
        except CondorError as exc:
            if REFUSED in str(exc):     # the startd answered no: its check failed
                raise DrainRefused(f"{startd.name} refused to drain (a claim holds one of "
                                   f"its slots): {exc}") from None
            raise
        self._addresses[startd.task_id] = (startd.name, startd.address)
        return str(answer.get("request", ""))

    def cancel_drain(self, drain: Drain) -> None:
        name, address = self._addresses.pop(drain.task_id, (drain.startd, ""))
        if not address:
            raise LookupError(f"no address known for {drain.startd}")
        self.worker.call({"op": "cancel", "name": name, "address": address,
                          "request": drain.request_id})
