"""A strict Marathon REST v2 emulator that runs as a Mesos framework on the emulated
master (see :mod:`.emulator`)."""
from .emulator import EmulatedMarathon
from .validate import AppInvalid

__all__ = ["EmulatedMarathon", "AppInvalid"]
