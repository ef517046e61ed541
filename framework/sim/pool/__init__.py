"""A simulated HTCondor pool for scale tests and benchmarks: a seeded discrete-event model
behind the monitor, backend and pool-control interfaces, with workloads and a runner."""
from .model import Job, Timings
from .pool import Metrics, SimPool
from .run import Result, simulate

__all__ = ["Job", "Metrics", "Result", "SimPool", "Timings", "simulate"]
