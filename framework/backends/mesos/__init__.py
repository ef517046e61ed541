"""Framework mode: htcmesos as a Mesos framework (pymesos scheduler, offers, task book)."""
from .framework import MesosFramework, Options, PoolStatus, framework_info

__all__ = ["MesosFramework", "Options", "PoolStatus", "framework_info"]
