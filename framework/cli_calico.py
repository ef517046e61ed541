"""``htcmesos calico …``: the pool's Calico IPPools and policies, and its sites' networks.

- ``render SPEC``: calicoctl-style v3 YAML to stdout (nothing contacted);
- ``apply SPEC --etcd URL``: validate, then write the difference into Calico's etcd v3
  datastore in one guarded transaction (nothing to change: nothing written);
- ``check SPEC --etcd URL``: name every difference (changed, missing, extra key);
- ``networks SPEC``: the sites' Docker networks on the local engine (bridge fallback).

Exit codes as everywhere: 0 success (check: no drift), 1 a failure at etcd or Docker, or
drift found by ``check``, 2 invalid input (spec, arguments, resources Calico would refuse,
keys htcmesos will not overwrite). Every error is one line (or one line per problem).
"""
from __future__ import annotations

import re
import sys
from typing import Any

import click

from .cliutil import EXIT_INVALID, EXIT_RUNTIME, fail as _fail, load as _load, reasons
from .errors import CalicoInvalid
from .spec import ClusterSpec

def _reasons():
    return reasons(invalid=(CalicoInvalid,))


def _rendered(cluster: ClusterSpec) -> list[dict[str, Any]]:
    """The resources, validated (CalicoInvalid: nothing is written)."""
    from .calico.render import render_resources
    from .calico.validate import validate

    resources = render_resources(cluster)
    validate(resources)
    return resources


def _etcd(url: str):
    from .calico.etcd import EtcdClient

    if not re.fullmatch(r"https?://[^\s/]+/?", url):
        _fail(f"--etcd {url!r}: expected http(s)://host:port (etcd's client URL)",
              EXIT_INVALID)
    return EtcdClient(url)


def _etcd_option(fn):
    return click.option("--etcd", "etcd_url", metavar="URL", required=True,
                        help="Calico's etcd v3 datastore, e.g. http://127.0.0.1:2379.")(fn)


@click.group()
def calico() -> None:
    """The pool's Calico IPPools and policies (etcd v3 datastore), and site networks."""


@calico.command()
@click.argument("spec", type=click.Path(dir_okay=False))
def render(spec: str) -> None:
    """Print the IPPools and policies as calicoctl v3 YAML (`calicoctl apply -f -`)."""
    from .calico.render import to_yaml

    cluster = _load(spec)
    with _reasons():
        click.echo(to_yaml(_rendered(cluster)), nl=False)


@calico.command("apply")
@click.argument("spec", type=click.Path(dir_okay=False))
@_etcd_option
@click.option("--dry-run", is_flag=True, help="Show the changes; write nothing.")
def apply_cmd(spec: str, etcd_url: str, dry_run: bool) -> None:
    """Write SPEC's IPPools and policies into Calico's etcd (only what differs)."""
    from .calico import datastore
    from .clock import WallClock

    cluster = _load(spec)
    with _reasons():
        resources = _rendered(cluster)
        client = _etcd(etcd_url)
        plan = datastore.plan(cluster.pool.name, resources, datastore.read_stored(client))
        if plan.refused:
            _fail("not written:\n" + "\n".join("  " + r for r in plan.refused), EXIT_INVALID)
        if not plan.changed:
            click.echo(f"{len(plan.unchanged)} resource(s) up to date, nothing written")
            return
        for change in plan.changes:
            click.echo(change.describe())
        if dry_run:
            click.echo("dry run: nothing written")
            return
        written = datastore.apply(client, plan, WallClock())
    click.echo(f"{len(written)} change(s) written, {len(plan.unchanged)} up to date")


@calico.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@_etcd_option
def check(spec: str, etcd_url: str) -> None:
    """Report drift between SPEC and Calico's etcd; exit 1 when there is any."""
    from .calico import datastore

    cluster = _load(spec)
    with _reasons():
        resources = _rendered(cluster)
        client = _etcd(etcd_url)
        plan = datastore.plan(cluster.pool.name, resources, datastore.read_stored(client))
    lines = datastore.drift(plan)
    for line in lines:
        click.echo(line)
    if lines:
        click.echo(f"drift: {len(lines)} difference(s); `htcmesos calico apply {spec} "
                   f"--etcd {etcd_url}` repairs them", err=True)
        sys.exit(EXIT_RUNTIME)
    click.echo(f"no drift: {len(plan.unchanged)} resource(s) as rendered")


@calico.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--bridge", is_flag=True, help="Make plain bridge networks even where the "
              "Calico plugin is installed (no Calico policy applies to them).")
def networks(spec: str, bridge: bool) -> None:
    """Create each site's Docker network on the local engine when missing (Calico's
    driver and IPAM; a plain bridge where the Calico plugin is absent)."""
    import docker

    from .calico.networks import ensure_networks

    cluster = _load(spec)
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        _fail(f"no Docker engine answers (DOCKER_HOST or /var/run/docker.sock): {exc}",
              EXIT_RUNTIME)
    with _reasons():
        found = ensure_networks(client, cluster, prefer_calico=not bridge)
    for net in found:
        click.echo(net.describe())
