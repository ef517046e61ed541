"""The operators' commands: ``htcmesos status|site|drain-site|undrain-site|drain-node|
pause|resume`` talk to a running framework's REST API (``/api/v1``, docs/operators.md);
``htcmesos dashboard`` serves the dashboard for it from another process or host.

A request the API refuses (4xx: unknown site, min above max, no token …) exits 2 with
the API's own message; an API that does not answer exits 1.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import click

from .api import segment
from .cliutil import EXIT_INVALID, EXIT_RUNTIME, load
from .errors import ApiError, HtcmesosError, Unavailable


def api_options(fn):
    fn = click.option("--token-file", type=click.Path(dir_okay=False), default=None,
                      help="The API's bearer token (default: the spec's api.token_file); "
                           "its first token is sent.")(fn)
    fn = click.option("--url", default=None, metavar="URL",
                      help="The framework's API (default: from the spec's api.listen).")(fn)
    return click.option("--spec", "spec_path", default="htcmesos.yaml", show_default=True,
                        type=click.Path(dir_okay=False), help="The pool's cluster spec.")(fn)


def api_url(spec_path: str, url: str | None) -> tuple[Any, str]:
    """(spec or None, the framework's API URL): the spec is needed unless --url is given."""
    spec = load(spec_path) if url is None or Path(spec_path).exists() else None
    if url is None:
        if not spec.api.listen:
            raise HtcmesosError(f"{spec_path}: api.listen is empty: the framework serves no API")
        url = spec.api.url
    return spec, url


def api_client(spec_path: str, url: str | None, token_file: str | None):
    """(spec or None, :class:`~framework.api.client.ApiClient`) with the token file's first
    token when there is one."""
    from dashboards.auth import TokenBook

    from .api.client import ApiClient

    spec, url = api_url(spec_path, url)
    path = Path(token_file) if token_file else (spec.api.token_file if spec else None)
    token = TokenBook.read(path).first if path is not None else None
    return spec, ApiClient(url, token)


def _call(spec_path: str, url: str | None, token_file: str | None, method: str, path: str,
          body: dict | None = None) -> Any:
    _, client = api_client(spec_path, url, token_file)
    try:
        if method == "GET":
            return client.get(path)
        if method == "PATCH":
            return client.patch(path, body or {})
        return client.post(path, body)
    except Unavailable as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_RUNTIME)
    except ApiError as exc:                 # the API's own words: what is wrong, and where
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_INVALID if 400 <= exc.status < 500 else EXIT_RUNTIME)
    except HtcmesosError as exc:            # no answer at all
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_RUNTIME)


def status_lines(doc: dict) -> list[str]:
    """The status document as a table, one line per site, then the last decision."""
    head = (f"pool {doc['pool']}: {'fresh' if doc['fresh'] else 'STALE'} "
            f"({doc['snapshot_age_s']:.0f} s old{'; ' + doc['error'] if doc['error'] else ''})"
            f"{', autoscaling PAUSED' if doc['paused'] else ''}")
    lines = [head, f"{'site':<10} {'wanted':>6} {'start':>5} {'run':>4} {'idle':>4} "
                   f"{'drain':>5}  {'jobs idle':>9} {'run':>4}  bounds  desired  note"]
    for s in doc["sites"]:
        e, j, b = s["executors"], s["jobs"], s["bounds"]
        note = "drained" if s["drained"] else (f"held: {s['held']}" if s["held"] else "")
        desired = "queue" if s["desired"] is None else str(s["desired"])
        lines.append(f"{s['name']:<10} {e['wanted']:>6} {e['starting']:>5} {e['running']:>4} "
                     f"{e['idle']:>4} {e['draining']:>5}  {j['idle']:>9} {j['running']:>4}  "
                     f"{b['min']:>2}–{b['max']:<3} {desired:>7}  {note}")
    if doc.get("jobs_idle_any"):
        lines.append(f"{doc['jobs_idle_any']} idle job(s) may run at any site")
    decision = doc.get("decision") or {}
    for reason in decision.get("reasons", []):
        lines.append(f"  {reason['code']} {reason['site']}: {reason['detail']}")
    return lines


@click.command("status")
@api_options
@click.option("--json", "as_json", is_flag=True, help="Print the API's JSON document.")
def status(spec_path: str, url: str | None, token_file: str | None, as_json: bool) -> None:
    """Print the pool per site: executors, jobs, bounds, the last decision's reasons."""
    import json

    doc = _call(spec_path, url, token_file, "GET", "/api/v1/status")
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    for line in status_lines(doc):
        click.echo(line)


def _count(value: str | None, name: str) -> Any:
    """A CLI count: a whole number ≥ 0, or for --desired ``queue`` (the queue decides)."""
    if value is None:
        return None
    if name == "desired" and value.lower() in ("queue", "none", "auto"):
        return "queue"
    if not (value.isascii() and value.isdigit()):
        raise click.BadParameter(f"{value!r} is not a whole number ≥ 0", param_hint=f"--{name}")
    return int(value)


@click.command("site")
@click.argument("site")
@click.option("--min", "min_", metavar="N", help="The site's least executors.")
@click.option("--max", "max_", metavar="N", help="The site's most executors.")
@click.option("--desired", metavar="N|queue",
              help="Hold the site at N executors; 'queue' gives it back to the queue.")
@api_options
def site(site: str, min_: str | None, max_: str | None, desired: str | None, spec_path: str,
         url: str | None, token_file: str | None) -> None:
    """Show SITE, or change its bounds and desired size."""
    changes: dict[str, Any] = {}
    for name, value in (("min", min_), ("max", max_), ("desired", desired)):
        parsed = _count(value, name)
        if parsed is not None:
            changes[name] = None if parsed == "queue" else parsed
    path = f"/api/v1/sites/{segment(site)}"
    doc = _call(spec_path, url, token_file, "PATCH" if changes else "GET", path, changes)
    e, b = doc["executors"], doc["bounds"]
    click.echo(f"site {doc['name']}: bounds {b['min']}–{b['max']}, desired "
               f"{'queue' if doc['desired'] is None else doc['desired']}"
               f"{', drained' if doc['drained'] else ''}; executors wanted {e['wanted']}, "
               f"starting {e['starting']}, running {e['running']}")


def _post_command(name: str, path: str, help_text: str, argument: str | None = None):
    def run(spec_path: str, url: str | None, token_file: str | None, **kw: str) -> None:
        target = path.format(**{k: segment(v) for k, v in kw.items()})
        doc = _call(spec_path, url, token_file, "POST", target)
        message = doc.get("message") if isinstance(doc, dict) else None
        click.echo(message or (f"autoscaling {'paused' if doc.get('paused') else 'running'}"
                               if isinstance(doc, dict) and "paused" in doc else "done"))
    run.__doc__ = help_text
    command = api_options(run)
    if argument:
        command = click.argument(argument)(command)
    return click.command(name, help=help_text)(command)


drain_site = _post_command("drain-site", "/api/v1/sites/{site}/drain",
                           "Drain every executor of SITE (running jobs finish) and launch "
                           "nothing there until undrain-site.", "site")
undrain_site = _post_command("undrain-site", "/api/v1/sites/{site}/undrain",
                             "Give drained SITE back to the autoscaler.", "site")
drain_node = _post_command("drain-node", "/api/v1/nodes/{node}/drain",
                           "Drain one executor (task id, slot name or host): its running "
                           "jobs finish, then it is removed.", "node")
pause = _post_command("pause", "/api/v1/autoscaling/pause",
                      "Pause autoscaling: the queue launches and drains nothing.")
resume = _post_command("resume", "/api/v1/autoscaling/resume", "Resume autoscaling.")


@click.command("dashboard")
@click.option("--spec", "spec_path", default="htcmesos.yaml", show_default=True,
              type=click.Path(dir_okay=False), help="The pool's cluster spec.")
@click.option("--api", "url", default=None, metavar="URL",
              help="The framework's API (default: from the spec's api.listen).")
@click.option("--listen", default="127.0.0.1:8643", show_default=True, metavar="HOST:PORT",
              help="Where the dashboard listens (loopback unless told otherwise).")
@click.option("--refresh", default=2.0, show_default=True, type=click.FloatRange(0.5, 300),
              help="Seconds between the page's refreshes.")
def dashboard(spec_path: str, url: str | None, listen: str, refresh: float) -> None:
    """Serve the dashboard of a running framework (its API) until interrupted; the
    framework serves the same page itself on api.listen. Requests that change the pool
    are passed on with their token: the framework checks it."""
    from dashboards import create_app
    from dashboards.source import RemoteSource

    from .webserve import WebServer

    _, url = api_url(spec_path, url)
    source = RemoteSource(url)
    server = WebServer(listen, create_app(source, refresh_s=refresh), "dashboard")
    try:
        server.start()
    except HtcmesosError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_RUNTIME)
    click.echo(f"dashboard of {source.shown} on {server.url}/ (Ctrl-C stops it)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


COMMANDS = (status, site, drain_site, undrain_site, drain_node, pause, resume, dashboard)
