"""Parse a condor_config with HTCondor's own parser (htcondor2) in a child process.

htcondor2 reads its configuration once per process (from $CONDOR_CONFIG) and exits the
process on a syntax error, so each parse runs in a fresh interpreter.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

_SCRIPT = """
import json, sys
import htcondor2
names = json.loads(sys.argv[1])
print(json.dumps({n: htcondor2.param.get(n) for n in names}, default=str))
"""


class CondorConfigError(AssertionError):
    """HTCondor's parser rejected the configuration."""


def condor_params(text: str, names: list[str], env: dict[str, str] | None = None) -> dict:
    """Effective values of ``names`` after HTCondor parses ``text`` (None = undefined)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "condor_config"
        path.write_text(text, encoding="utf-8")
        child_env = {k: v for k, v in os.environ.items()
                     if not k.startswith(("_CONDOR_", "HTCMESOS_"))}
        child_env.update(env or {})
        child_env["CONDOR_CONFIG"] = str(path)
        proc = subprocess.run([sys.executable, "-c", _SCRIPT, json.dumps(names)],
                              env=child_env, capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise CondorConfigError(f"HTCondor rejected the config (exit {proc.returncode}): "
                                f"{proc.stdout}{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
