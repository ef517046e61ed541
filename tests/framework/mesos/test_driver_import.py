"""pymesos installs a SIGINT handler on import; our driver must import from any thread."""
from __future__ import annotations

import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = """
import signal, threading
before = signal.getsignal(signal.SIGINT)
errors = []
def load():
    try:
        import framework.controller  # pulls in the driver and pymesos
    except Exception as exc:
        errors.append(repr(exc))
t = threading.Thread(target=load); t.start(); t.join()
assert not errors, errors
assert signal.getsignal(signal.SIGINT) is before
assert signal.signal is not None and signal.signal.__module__ in ("signal", "_signal")
print("ok")
"""


def test_driver_imports_from_a_worker_thread():
    proc = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr
