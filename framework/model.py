"""Shared value types: roles and the names used across planner, backends and configs."""
from __future__ import annotations

import enum


class Role(str, enum.Enum):
    """The HTCondor roles htcmesos runs, one Docker task each."""

    MASTER = "master"        # condor_master + collector + negotiator (+ CCB server)
    SUBMITTER = "submitter"  # condor_master + schedd
    EXECUTOR = "executor"    # condor_master + startd with one partitionable slot
    #: condor_master + collector: an extra CCB server, only when the pool plans more than
    #: one (framework/condor/brokers.py); runs the master's image as its "master" role
    BROKER = "broker"

    def __str__(self) -> str:
        return self.value

    @property
    def container(self) -> "Role":
        """The role the container runs as (its entrypoint, checks and credentials)."""
        return Role.MASTER if self is Role.BROKER else self


#: Start order of roles: a role starts only when every earlier one is running and healthy.
ROLE_ORDER: tuple[Role, ...] = (Role.MASTER, Role.SUBMITTER, Role.EXECUTOR)
#: Roles with an image of their own (and a required ``roles`` entry in the spec): a broker
#: runs the master's image.
IMAGE_ROLES: tuple[Role, ...] = ROLE_ORDER

#: HTCondor's shared port (collector reached as ``<addr>:9618?sock=collector``).
SHARED_PORT = 9618

#: Port of the role container's ``/health`` endpoint.
HEALTH_PORT = 5000
