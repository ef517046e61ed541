"""Import pymesos from any thread.

pymesos' import installs a SIGINT handler (to re-raise IO-thread errors in the main
thread), and only the main thread may install handlers. Elsewhere that one installation
is skipped. Shared by the production driver (:mod:`framework.mesos.driver`) and the
Marathon emulator's scheduler, which use pymesos each in their own way.
"""
from __future__ import annotations

import signal
import threading


def import_pymesos() -> None:
    """Import pymesos (once; later calls are free)."""
    if threading.current_thread() is threading.main_thread():
        import pymesos  # noqa: F401
        return
    real = signal.signal
    signal.signal = lambda signum, handler: signal.getsignal(signum)  # type: ignore[assignment]
    try:
        import pymesos  # noqa: F401
    finally:
        signal.signal = real
