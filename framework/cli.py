"""The ``htcmesos`` command line.

Exit codes: 0 success, 1 runtime failure, 2 invalid input (spec, arguments).
"""
from __future__ import annotations

import logging
import stat
import sys
from importlib import resources
from pathlib import Path

import click

from . import __version__
from .cliutil import EXIT_INVALID, EXIT_RUNTIME, load as _load
from .errors import ConfigRenderError, HtcmesosError
from .model import IMAGE_ROLES, Role
from .spec import ClusterSpec

log = logging.getLogger("htcmesos")
#: the logger of operators' changes (framework/elastic.py): shown at any verbosity
AUDIT_LOGGER = "htcmesos.audit"

def _template(name: str) -> str:
    return resources.files("framework").joinpath("templates", name).read_text(encoding="utf-8")




def secret_file_warnings(spec: ClusterSpec) -> list[str]:
    """Problems with the secret *files* the spec names (their contents are never read)."""
    files = [("pool.signing_key_file", spec.pool.signing_key_file)]
    if spec.backend.mesos and spec.backend.mesos.secret_file:
        files.append(("backend.mesos.secret_file", spec.backend.mesos.secret_file))
    out = []
    for where, path in files:
        try:
            mode = path.stat().st_mode
        except OSError:
            out.append(f"{where}: {path} does not exist yet (needed when the pool runs)")
            continue
        if not stat.S_ISREG(mode):
            out.append(f"{where}: {path} is not a regular file")
        elif mode & (stat.S_IRWXG | stat.S_IRWXO):
            out.append(f"{where}: {path} is readable by others (mode {stat.S_IMODE(mode):o}); "
                       f"chmod 600 it")
    return out


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="htcmesos")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """htcmesos: an HTCondor pool as a service on Mesos or Marathon.

    One cluster spec (YAML) describes the pool, its sites and its three roles
    (master, submitter, executor); htcmesos validates it, renders each role's
    HTCondor configuration and keeps the pool running at the right size.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # operators' changes to the pool (who and what) are always logged
    logging.getLogger(AUDIT_LOGGER).setLevel(logging.INFO)


@cli.command()
@click.argument("path", default="htcmesos.yaml", type=click.Path(dir_okay=False))
@click.option("--force", is_flag=True, help="Overwrite PATH if it exists.")
def init(path: str, force: bool) -> None:
    """Write a commented example cluster spec to PATH (default: htcmesos.yaml)."""
    target = Path(path)
    if target.exists() and not force:
        raise click.UsageError(f"{path} exists; use --force to overwrite it")
    target.write_text(_template("spec.yaml"), encoding="utf-8")
    click.echo(f"wrote {path}; edit it, then run: htcmesos validate {path}")


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
def validate(spec: str) -> None:
    """Check the cluster SPEC; list every problem with its YAML path and line (exit 2)."""
    cluster = _load(spec)
    for warning in secret_file_warnings(cluster):
        click.echo(f"warning: {warning}", err=True)
    sites = ", ".join(f"{s.name} ({'private' if s.private else 'public'}, "
                      f"{s.executors_min}..{s.executors_max} executors)" for s in cluster.sites)
    click.echo(f"{spec}: valid. pool {cluster.pool.name}, backend {cluster.backend.type}, "
               f"sites: {sites}; executors {cluster.autoscaling.min_executors}.."
               f"{cluster.executors_max}")


@cli.command("render-config")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]),
              help="Which role's configuration to print.")
@click.option("--site", help="Site of the executor (required for --role executor); for the "
                             "master, submitter and brokers the master's site by default "
                             "(where their tasks run; in framework mode the submitter may "
                             "also run at another public site: name it).")
@click.option("--master-address", metavar="ADDR",
              help="The central manager's IP or host name, instead of the spec's fixed "
                   "address (roles.master.address, or its default).")
@click.option("--broker", type=click.IntRange(min=0), metavar="N",
              help="--role broker: which extra broker (1 …); --role executor at a private "
                   "site of a pool with several brokers: the broker it registers with "
                   "(default: its site's, as in Marathon mode). See `htcmesos plan`.")
def render_config_cmd(spec: str, role: str, site: str | None,
                      master_address: str | None, broker: int | None) -> None:
    """Print the HTCondor configuration of one role (per site for executors) to stdout,
    the pool's connection-broker plan first, as comments: what the role's task gets."""
    from .condor.brokers import describe, plan_brokers
    from .condor.config import render_config

    cluster = _load(spec)
    which = Role(role)
    try:
        plan = plan_brokers(cluster)
        if broker is not None:
            misuse = broker_misuse(cluster, plan.count, which, site)
            if misuse:
                raise click.UsageError(f"--broker {broker}: {misuse}")
        if site is None and which in (Role.MASTER, Role.SUBMITTER, Role.BROKER):
            # their tasks run at the master's site (framework/backends/marathon/render.py
            # render_group; framework mode: needs.role_sites) and get its NAT forwarding
            site = cluster.master_site.name
        text = render_config(cluster, which, site, master_address, broker=broker,
                             plan=plan)
    except ConfigRenderError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo("".join(f"# plan: {line}\n" for line in describe(plan)), nl=False)
    click.echo(text, nl=False)


def broker_misuse(spec: ClusterSpec, brokers: int, role: Role, site: str | None) -> str:
    """Why ``--broker`` means nothing for this role and site ("" when it does): only a
    broker task and a private site's executor in a pool of several brokers have one."""
    if role is Role.MASTER:
        return ("the master takes no broker number: its collector is broker 0, the pool's "
                "central CCB server")
    if role is Role.SUBMITTER:
        return "the submitter registers with no broker (it runs at a public site)"
    if role is Role.EXECUTOR and site is not None:
        try:
            private = spec.site(site).private
        except KeyError:
            return ""                   # render_config names the unknown site
        if not private:
            return (f"site {site} is public: its executors take inbound connections and "
                    f"register with no broker")
        if brokers == 1:
            return ("this pool plans one broker, the central manager: every private "
                    "executor registers with it (see `htcmesos plan`)")
    return ""


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
def plan(spec: str) -> None:
    """Print the pool's network plan: connection brokers (address, registrations, file
    descriptors, whose executors), the collector's file descriptors, NAT forwarding."""
    from .condor.brokers import describe, plan_brokers

    click.echo("\n".join(describe(plan_brokers(_load(spec)))))


@cli.command()
@click.option("--duration", type=click.FloatRange(min=0), default=None, metavar="S",
              help="Stop after S seconds (default: when the jobs are done, or Ctrl-C).")
@click.option("--simulated", is_flag=True,
              help="Simulated agents and no jobs (no Docker engine needed).")
@click.option("--backend", type=click.Choice(["mesos", "marathon"]), default="mesos",
              show_default=True, help="mesos: htcmesos is the Mesos framework; marathon: "
              "the pool is a Marathon group (an emulated Marathon) htcmesos applies and sizes.")
@click.option("--listen", default=None, metavar="HOST:PORT",
              help="Where the dashboard and REST API listen (default: the spec's, "
                   "127.0.0.1:8642; port 0: any free one, printed).")
@click.option("--token-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="The API token file (default: one made for this run, its path printed).")
def demo(duration: float | None, simulated: bool, backend: str, listen: str | None,
         token_file: str | None) -> None:
    """Run the embedded default: the two-site example pool on an emulated cluster.

    With a Docker engine, its agents run the real role images (real HTCondor daemons)
    and jobs run at both sites; otherwise, or with --simulated, the agents simulate."""
    from .demo import run_demo

    sys.exit(run_demo(_template("demo.yaml"), duration, click.echo, simulated, backend,
                      listen, Path(token_file) if token_file else None))


@cli.group()
def images() -> None:
    """Build the role images (HTCondor base: official where reachable, else local)."""


@images.command("build")
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--base", default="auto", show_default=True, metavar="auto|official|local|IMAGE",
              help="auto: the official htcondor/* images if present or pullable, else the "
                   "local base built from Debian trixie's HTCondor packages.")
@click.option("--rebuild", is_flag=True, help="Build even if the images are up to date.")
def images_build(spec: str | None, base: str, rebuild: bool) -> None:
    """Build the three role images (named as in SPEC, else htcmesos/<role>:0.1)."""
    from .condor.images import build_role_images, default_tags

    tags = {r: _load(spec).roles[r].image for r in IMAGE_ROLES} if spec else default_tags()
    client = _docker()
    built = build_role_images(client, base, tags, rebuild=rebuild,
                              log=lambda m: click.echo(m, err=True))
    for role, tag in built.tags.items():
        state = "built" if role in built.built else "up to date"
        click.echo(f"{role.value:<9} {tag:<28} {state}, FROM {built.bases[role]}")
    click.echo(f"base: {built.describe()}")


@images.command("base")
@click.option("--rebuild", is_flag=True, help="Bootstrap anew (takes a newer HTCondor package).")
def images_base(rebuild: bool) -> None:
    """Build (or find) the local HTCondor base image from Debian trixie (mmdebstrap)."""
    from .condor.baseimage import ensure_base

    found = ensure_base(_docker(), rebuild=rebuild, log=lambda m: click.echo(m, err=True))
    click.echo(f"{found.tag} (HTCondor {found.condor_version}, {found.how})")


def _docker():
    """A client for the local Docker engine, or a clear error (exit 1)."""
    try:
        import docker
        client = docker.from_env(timeout=300)
        client.ping()
        return client
    except Exception as exc:  # noqa: BLE001 - any failure: no engine
        raise HtcmesosError(f"no Docker engine answers ({str(exc).splitlines()[0][:160]}); "
                            f"start dockerd (scripts/bootstrap.sh does)") from None


@cli.command()
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--master", "masters", metavar="URL",
              help="Override backend.mesos.master (zk://…/mesos or http://host:5050[,…]).")
@click.option("--state", metavar="LOCATION", help="Override backend.mesos.state "
              "(zk://host:2181/path or a file).")
@click.option("--duration", type=click.FloatRange(min=0), default=None, metavar="S",
              help="Stop after S seconds (default: until Ctrl-C or SIGTERM).")
@click.option("--tick", type=click.FloatRange(min=0.05), default=1.0, show_default=True,
              metavar="S", help="Seconds between control ticks.")
def run(spec: str, masters: str | None, state: str | None, duration: float | None,
        tick: float) -> None:
    """Run the framework against a real Mesos master (framework mode)."""
    import dataclasses
    import signal
    import threading

    from .controller import run_framework
    from .elastic_run import announce_dashboard
    from .state import open_store

    import re

    from .specbackend import MESOS_URL

    cluster = _load(spec)
    if cluster.backend.mesos is None:
        raise click.UsageError(f"{spec} has no backend.mesos block")
    if masters and not re.fullmatch(MESOS_URL, masters):
        raise click.UsageError(f"--master {masters!r}: expected zk://host:2181[,host:2181]/path "
                               f"or http://host:5050[,http://host:5050]")
    if state:
        cluster = dataclasses.replace(cluster, backend=dataclasses.replace(
            cluster.backend, mesos=dataclasses.replace(cluster.backend.mesos, state=state)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    if duration is not None:
        threading.Timer(duration, stop.set).start()
    last: list[str] = []

    def show(status) -> None:
        line = format_status_line(status)
        if not last or line != last[0]:
            click.echo(line)
            last[:] = [line]

    try:
        run_framework(cluster, stop, masters=masters, tick_s=tick, on_status=show,
                      on_elastic=lambda thread: announce_dashboard(thread, click.echo),
                      store=open_store(cluster.backend.mesos.state))
    except KeyboardInterrupt:
        stop.set()
    click.echo("stopped; tasks keep running until the framework's failover timeout")


# -- CLUES drives htcmesos: its command-line power manager and LRMS view ----------------

from .cli_operator import COMMANDS as _OPERATOR_COMMANDS  # noqa: E402 - own module
from .cli_operator import api_client as _api, api_options as _api_options  # noqa: E402

for _command in _OPERATOR_COMMANDS:
    cli.add_command(_command)


def _power(node: str, on: bool, spec_path: str, url: str | None, token_file: str | None) -> None:
    from .clues.nodes import NodeError, site_of
    from .errors import NotFound

    spec, client = _api(spec_path, url, token_file)
    try:
        if spec is not None:
            site_of(spec, node)
        from .cli_operator import segment
        doc = client.post(f"/v1/clues/nodes/{segment(node)}/"
                          f"{'poweron' if on else 'poweroff'}")
    except NodeError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID)
    except NotFound as exc:                       # the node (exit 2), or a wrong --url
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID if "is not a node of pool" in str(exc) else EXIT_RUNTIME)
    message = doc.get("message") if isinstance(doc, dict) else None
    # CLUES takes stdout without a space as the node's real name: a sentence, never a bare name
    click.echo(message if isinstance(message, str) and " " in message
               else f"power request for {node} accepted")


@cli.command()
@click.argument("node")
@_api_options
def poweron(node: str, spec_path: str, url: str | None, token_file: str | None) -> None:
    """Power on virtual node NODE (CLUES' COMMANDLINE_CMDLINE_POWON: poweron %%h)."""
    _power(node, True, spec_path, url, token_file)


@cli.command()
@click.argument("node")
@_api_options
def poweroff(node: str, spec_path: str, url: str | None, token_file: str | None) -> None:
    """Power off virtual node NODE: drained, then removed (COMMANDLINE_CMDLINE_POWOFF)."""
    _power(node, False, spec_path, url, token_file)


@cli.command("clues-nodes")
@_api_options
@click.option("--hosts", is_flag=True,
              help="Print CLUES' hosts file (IP NAME lines) from the spec instead.")
def clues_nodes(spec_path: str, url: str | None, token_file: str | None, hosts: bool) -> None:
    """Print the pool's nodes as CLUES' LRMS view (JSON list)."""
    import json

    if hosts:
        from .clues.nodes import all_nodes
        # CLUES needs an address per name; executors get theirs from Calico when they start,
        # and htcmesos acts on the name alone: the address column is a placeholder
        for node, _site in all_nodes(_load(spec_path)):
            click.echo(f"0.0.0.0 {node}")
        return
    click.echo(json.dumps(_api(spec_path, url, token_file)[1].get("/v1/clues/nodes")))


@cli.command("clues-jobs")
@_api_options
def clues_jobs(spec_path: str, url: str | None, token_file: str | None) -> None:
    """Print the pool's idle jobs as CLUES' LRMS view (JSON list)."""
    import json

    click.echo(json.dumps(_api(spec_path, url, token_file)[1].get("/v1/clues/jobs")))


# -- Marathon mode: htcmesos marathon render|apply|status|scale|delete|secrets ----------
from .cli_marathon import marathon as _marathon  # noqa: E402 - its own module (size)

cli.add_command(_marathon)
from .cli_calico import calico as _calico  # noqa: E402 - htcmesos calico render|apply|check|networks
cli.add_command(_calico)


def format_status_line(status) -> str:
    """One line: connection, tasks per role/site/phase, first waiting reason."""
    parts = [f"{role}@{site}:{phase}={n}" for (role, site, phase), n in
             sorted(status.counts.items())]
    head = "connected" if status.connected else "disconnected"
    if status.reconciling:
        head += ", reconciling"
    why = f" | {status.reasons[0][0]}: {status.reasons[0][1]}" if status.reasons else ""
    return f"[{head}] {' '.join(parts) or 'no tasks'}{why}"


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="htcmesos", standalone_mode=True)
    except HtcmesosError as exc:
        click.echo(f"error: {exc}", err=True)
        return EXIT_RUNTIME
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
