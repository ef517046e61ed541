"""The actuator: the only code that changes the pool (backend tasks, HTCondor drains)."""
from .actuator import Actuator, Applied, Backend, PoolControl

__all__ = ["Actuator", "Applied", "Backend", "PoolControl"]
