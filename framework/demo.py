"""``htcmesos demo``: the embedded default.

Until the emulated Mesos cluster lands (framework mode issue), the demo validates the
embedded two-site spec and renders every role's configuration, printing a summary.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable

from .condor.config import collector_file_descriptors, render_config
from .errors import SpecError
from .model import Role
from .spec import parse_spec

DEMO_MASTER_ADDRESS = "10.1.0.5"


def run_demo(spec_text: str, duration: float | None, echo: Callable[[str], None]) -> int:
    """Validate and render the demo spec; return the process exit code."""
    try:
        spec = parse_spec(spec_text, "embedded demo spec", Path.cwd())
    except SpecError as exc:  # the embedded spec is ours: a failure is a bug
        echo(exc.report())
        return 1
    echo(f"htcmesos demo: pool {spec.pool.name}, {len(spec.sites)} sites, "
         f"backend {spec.backend.type} (the emulated cluster arrives with framework mode)")
    rendered = [(Role.MASTER, None), (Role.SUBMITTER, None)]
    rendered += [(Role.EXECUTOR, s.name) for s in spec.sites]
    for role, site in rendered:
        text = render_config(spec, role, site, DEMO_MASTER_ADDRESS)
        knobs = sum(1 for line in text.splitlines() if line and not line.startswith("#"))
        echo(f"  {role.value:<9} {('site ' + site) if site else '':<14} "
             f"{knobs:>3} config lines")
    echo("final pool state:")
    for site in spec.sites:
        kind = "private, via CCB" if site.private else "public"
        echo(f"  site {site.name:<8} {kind:<16} executors {site.executors_min}.."
             f"{site.executors_max} on {site.calico_network} ({site.cidr})")
    echo(f"  master collector file descriptors: {collector_file_descriptors(spec)}")
    return 0
