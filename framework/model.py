"""Shared value types: roles and the names used across planner, backends and configs."""
from __future__ import annotations

import enum


class Role(str, enum.Enum):
    """The three HTCondor roles htcmesos runs, one Docker task each."""

    MASTER = "master"        # condor_master + collector + negotiator (+ CCB server)
    SUBMITTER = "submitter"  # condor_master + schedd
    EXECUTOR = "executor"    # condor_master + startd with one partitionable slot

    def __str__(self) -> str:
        return self.value


#: Start order of roles: a role starts only when every earlier one is running and healthy.
ROLE_ORDER: tuple[Role, ...] = (Role.MASTER, Role.SUBMITTER, Role.EXECUTOR)

#: HTCondor's shared port (collector reached as ``<addr>:9618?sock=collector``).
SHARED_PORT = 9618

#: Port of the role container's ``/health`` endpoint.
HEALTH_PORT = 5000
