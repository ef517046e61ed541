"""``htcmesos marathon …``: the pool as a Marathon group (render, apply, status, scale,
delete, secrets, and run: the elastic loop on the executor apps).

Exit codes as everywhere: 0 success, 1 a failure at Marathon (no answer, a deployment
that failed or outlasted ``--timeout``), 2 invalid input (spec, arguments, a group
Marathon refuses as invalid, a request refused for safety). Every error is one line.
"""
from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

import click

from .cliutil import EXIT_INVALID, EXIT_RUNTIME, fail as _fail, load as _load, reasons
from .errors import MarathonError, MarathonInvalid
from .model import Role
from .spec import ClusterSpec

def _reasons():
    """Marathon's and htcmesos' errors as one line and the right exit code."""
    return reasons(invalid=(MarathonInvalid,), runtime=(MarathonError,))


def _client(spec: ClusterSpec, spec_path: str, url: str | None):
    from .backends.marathon.client import client_for

    if url is not None and not re.fullmatch(r"https?://[^\s/]+(/\S*)?", url):
        _fail(f"--marathon {url!r}: expected http(s)://host:port", EXIT_INVALID)
    if spec.backend.marathon is None and url is None:
        _fail(f"{spec_path} has no backend.marathon block; add one (url: http://host:8080) "
              f"or give --marathon URL", EXIT_INVALID)
    return client_for(spec, url)


def _marathon_option(fn):
    return click.option("--marathon", "url", metavar="URL", default=None,
                        help="Marathon's URL, instead of backend.marathon.url.")(fn)


@click.group()
def marathon() -> None:
    """The pool as a Marathon group: render it, apply it, watch and size it."""


@marathon.command()
@click.argument("spec", type=click.Path(dir_okay=False))
def render(spec: str) -> None:
    """Print the pool's Marathon group (JSON) to stdout: what `apply` sends."""
    from .backends.marathon.render import render_group

    click.echo(json.dumps(render_group(_load(spec)), indent=2))


@marathon.command("apply")
@click.argument("spec", type=click.Path(dir_okay=False))
@_marathon_option
@click.option("--force", is_flag=True,
              help="Cancel deployments that hold the group instead of waiting for them.")
@click.option("--no-wait", is_flag=True, help="Return once the deployment started.")
@click.option("--timeout", type=click.FloatRange(min=0), default=600, show_default=True,
              metavar="S", help="Give up waiting (for locks and the deployment) after S s.")
@click.option("--dry-run", is_flag=True, help="Show the changes; write nothing.")
def apply_cmd(spec: str, url: str | None, force: bool, no_wait: bool, timeout: float,
              dry_run: bool) -> None:
    """Make Marathon's group what SPEC renders (nothing to change: no write at all)."""
    from .backends.marathon.apply import apply, plan_apply
    from .backends.marathon.render import render_group

    cluster = _load(spec)
    client = _client(cluster, spec, url)
    with _reasons():
        desired = render_group(cluster)
        plan = plan_apply(desired, client.get_group(desired["id"]))
        if not plan.changed:
            click.echo(f"{plan.group_id}: up to date, nothing to change")
            return
        for line in plan.describe():
            if not line.startswith("="):
                click.echo(line)
        if dry_run:
            click.echo("dry run: nothing written")
            return
        result = apply(client, plan, force=force, wait=not no_wait, timeout_s=timeout,
                       echo=click.echo, poll_s=0.5)
    click.echo(result.message, err=not result.ok)
    sys.exit(0 if result.ok else EXIT_RUNTIME)


@marathon.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@_marathon_option
def status(spec: str, url: str | None) -> None:
    """Apps, instances, running/healthy tasks and deployments of the pool's group."""
    from .backends.marathon.render import group_id

    cluster = _load(spec)
    client = _client(cluster, spec, url)
    gid = group_id(cluster)
    with _reasons():
        group = client.get_group(gid)
        if group is None:
            _fail(f"{gid} does not exist in Marathon; `htcmesos marathon apply {spec}` "
                  f"creates it", EXIT_RUNTIME)
        for app in group.get("apps") or []:
            full = client.get_app(app["id"]) or app
            n = full.get("instances", 0)
            click.echo(f"{app['id']}: instances {n}, running {full.get('tasksRunning', 0)}, "
                       f"healthy {full.get('tasksHealthy', 0)}")
            for t in client.app_tasks(app["id"]):
                health = {True: "healthy", False: "unhealthy", None: "no health yet"}[t.healthy]
                click.echo(f"  {t.id} {t.state} {','.join(t.ip_addresses) or '-'} {health}")
        mine = [d for d in client.deployments()
                if any(str(a).startswith(gid + "/") for a in d.get("affectedApps") or [])]
        for d in mine:
            click.echo(f"deployment {d.get('id')}: step {d.get('currentStep', '?')}/"
                       f"{d.get('totalSteps', '?')} " + ", ".join(
                           f"{a.get('action')} {a.get('app')}"
                           for a in d.get("currentActions") or []))
        if not mine:
            click.echo("no deployment running")


@marathon.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.argument("site")
@click.argument("count", metavar="N", type=click.IntRange(min=0))
@_marathon_option
@click.option("--allow-lower", is_flag=True, help="Lower instances anyway (Marathon kills "
              "tasks it chooses, running ones first, with their jobs).")
@click.option("--force", is_flag=True, help="Cancel deployments that hold the app (a "
              "roll-out of apply included).")
def scale(spec: str, site: str, count: int, url: str | None, allow_lower: bool,
          force: bool) -> None:
    """Set the executor instances of SITE to N (raising; lowering needs --allow-lower)."""
    from .backends.marathon.render import app_id

    cluster = _load(spec)
    if site not in {s.name for s in cluster.sites}:
        _fail(f"unknown site {site!r}; the spec's sites: "
              f"{', '.join(s.name for s in cluster.sites)}", EXIT_INVALID)
    client = _client(cluster, spec, url)
    aid = app_id(cluster, Role.EXECUTOR, site)
    with _reasons():
        app = client.get_app(aid)
        if app is None:
            _fail(f"{aid} does not exist in Marathon; `htcmesos marathon apply {spec}` "
                  f"creates it", EXIT_RUNTIME)
        current = int(app.get("instances", 0))
        if count == current:
            click.echo(f"{aid}: already {count} instance(s)")
            return
        if count < current and not allow_lower:
            _fail(f"refusing to lower {aid} from {current} to {count}: lowering `instances` "
                  f"lets Marathon kill executors of its choosing, with their running jobs; "
                  f"htcmesos drains executors and removes exactly those itself (its elastic "
                  f"loop); use --allow-lower to lower anyway", EXIT_INVALID)
        deployment = client.scale_app(aid, count, force=force)
    click.echo(f"{aid}: instances {current} → {count} (deployment {deployment.id})")


@marathon.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@_marathon_option
@click.option("--yes", is_flag=True, help="Really delete the group and all its tasks.")
@click.option("--force", is_flag=True, help="Cancel deployments that hold the group.")
def delete(spec: str, url: str | None, yes: bool, force: bool) -> None:
    """Delete the pool's group: every task of master, submitter and executors ends."""
    from .backends.marathon.render import group_id

    cluster = _load(spec)
    gid = group_id(cluster)
    if not yes:
        _fail(f"deleting {gid} kills the pool (running jobs included); add --yes to do it",
              EXIT_INVALID)
    client = _client(cluster, spec, url)
    with _reasons():
        if client.get_group(gid) is None:
            click.echo(f"{gid} does not exist; nothing to delete")
            return
        deployment = client.delete_group(gid, force=force)
    click.echo(f"{gid}: deleting (deployment {deployment.id})")


@marathon.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write <secrets_prefix>/<role> files into (mode 0600).")
def secrets(spec: str, out_dir: str) -> None:
    """Write the three roles' credential values for the operator's secret store."""
    from .backends.credentials import read_signing_key
    from .backends.marathon.secrets import write_store

    cluster = _load(spec)
    with _reasons():
        key = read_signing_key(cluster.pool.signing_key_file)
        written = write_store(cluster, key, Path(out_dir), time.time())
    for path in written:
        click.echo(f"wrote {path}")
    click.echo("load each file's content into the secret store at the path below "
               f"{out_dir}; never into the app's env")


@marathon.command("run")
@click.argument("spec", type=click.Path(dir_okay=False))
@_marathon_option
@click.option("--duration", type=click.FloatRange(min=0), default=None, metavar="S",
              help="Stop after S seconds (default: until Ctrl-C or SIGTERM).")
def run_cmd(spec: str, url: str | None, duration: float | None) -> None:
    """Size each site's executor app from the queue (the elastic loop), until stopped.

    Marathon keeps the apps running; `apply` puts their configuration in place; this
    drains idle executors and removes exactly those tasks (never lowering instances
    by itself), and raises instances for queued jobs."""
    import logging
    import signal
    import threading

    from .elastic_run import announce_dashboard
    from .marathon_run import run_marathon

    cluster = _load(spec)
    with _reasons():
        _client(cluster, spec, url).ping()        # a wrong URL fails here, clearly
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if duration is not None:
        timer = threading.Timer(duration, stop.set)
        timer.daemon = True
        timer.start()

    def show(decision) -> None:
        if decision.changes:
            click.echo(" ".join(f"{site}={n}" for site, n in decision.desired.items())
                       + "  " + "; ".join(str(r) for r in decision.reasons))
    logging.getLogger(__name__).debug("marathon run %s", spec)
    with _reasons():
        try:
            run_marathon(cluster, stop, url=url, on_decision=show,
                         on_start=lambda thread: announce_dashboard(thread, click.echo))
        except KeyboardInterrupt:
            stop.set()
    click.echo("stopped; Marathon keeps the apps running")
