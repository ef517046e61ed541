"""Run an emulated Mesos cluster in its own process (benchmarks, manual trials).

``python -m framework.sim.serve --site dc:100 [--site campus:50:region=campus-east] …``
prints the master's URL on its first output line and serves until SIGTERM/SIGINT or
until its standard input closes.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading

from .mesos.cluster import SimCluster
from .mesos.master import EmulatedMaster
from .mesos.model import SiteLayout


def parse_site(text: str) -> SiteLayout:
    """``name:agents[:key=value,…]`` with keys cpus, mem, disk, region, zone, network, cidr."""
    parts = text.split(":", 2)
    if len(parts) < 2 or not parts[1].isdigit():
        raise argparse.ArgumentTypeError(f"site {text!r}: expected name:agents[:key=value,…]")
    opts: dict = {}
    for item in filter(None, (parts[2] if len(parts) > 2 else "").split(",")):
        key, _, value = item.partition("=")
        if key in ("cpus", "mem", "disk"):
            opts[key] = float(value)
        elif key in ("region", "zone", "network", "cidr"):
            opts[key] = value
        else:
            raise argparse.ArgumentTypeError(f"site {text!r}: unknown option {key!r}")
    return SiteLayout(parts[0], agents=int(parts[1]), **opts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m framework.sim.serve", description=__doc__)
    ap.add_argument("--site", action="append", type=parse_site, required=True)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--heartbeat", type=float, default=5.0, help="seconds")
    ap.add_argument("--allocation-interval", type=float, default=0.5, help="seconds")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args(argv)
    cluster = SimCluster.build(args.site, seed=args.seed,
                               allocation_interval_s=args.allocation_interval,
                               update_retry_s=60)
    master = EmulatedMaster(cluster, port=args.port, heartbeat_s=args.heartbeat).start()
    print(master.url, flush=True)
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    done.wait()
    master.stop()
    cluster.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
