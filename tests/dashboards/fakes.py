"""The dashboard tests' pool: the scripted loop of :mod:`tests.dashboards.scripted_pool`
(the real StatusLog, TickStatus and Controls; ticks written by the test) on a spec of two
sites, with a token book, and a way to see everything an operator could change."""
from __future__ import annotations

from typing import Any

from dashboards import create_app
from dashboards.auth import TokenBook
from dashboards.source import LocalSource
from framework.planner.decision import Code
from framework.spec import parse_spec
from tests.dashboards.scripted_pool import Counts, ScriptedLoop, Task

SPEC = parse_spec("""
pool: {name: p, trust_domain: p.example, signing_key_file: k, negotiator_interval: 5}
sites:
  - {name: dc, calico: {network: n1, cidr: 10.1.0.0/16}, executors: {min: 1, max: 10}}
  - {name: campus, private: true, calico: {network: n2, cidr: 10.2.0.0/16},
     executors: {min: 0, max: 4}}
roles:
  master: {image: m, cpus: 1, mem: 512}
  submitter: {image: s, cpus: 1, mem: 512}
  executor: {image: e, cpus: 4, mem: 8192}
autoscaling: {idle_before_scale_in: 10, tick: 5}
api: {listen: "127.0.0.1:0"}
backend: {type: sim}
""")

TOKEN = "s3cret-operator-token-0123456789"
OTHER = "another-token-abcdefghijklmnop"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TASKS = [
    Task("htcmesos-master-1", "master", "dc", "running", True, "10.1.0.2", "agent-1",
         "http://mesos.example:5050/#/agents/agent-1/frameworks/fw/executors/htcmesos-master-1"),
    Task("htcmesos-executor-dc-1", "executor", "dc", "running", None, "10.1.0.7", "agent-2",
         # user:password in a link: never shown
         "http://admin:hunter2-password@mesos.example:5050/#/agents/agent-2"),
    Task("htcmesos-executor-campus-1", "executor", "campus", "starting", False, None, None,
         None),
]


def book() -> TokenBook:
    return TokenBook((("alice", TOKEN), ("bob", OTHER)), "test tokens")


def scripted(tasks: list[Task] | None = None) -> ScriptedLoop:
    return ScriptedLoop(SPEC, TASKS if tasks is None else tasks)


def two_ticks(loop: ScriptedLoop) -> None:
    """The pool scales up at dc, then one executor runs there (wall 1700000010, …20)."""
    loop.tick({"dc": Counts(wanted=3, starting=2, running=1, idle=1, jobs_idle=5),
               "campus": Counts(jobs_idle=1, held="black hole: 3 launches lost")},
              jobs_idle_any=2,
              reasons=[(Code.SCALE_UP, "dc", "5 idle jobs: 2 executors more"),
                       (Code.SITE_HELD, "campus", "black hole")],
              actions=["launch dc+2"], launches={"dc": 2}, duration_s=0.3)
    loop.tick({"dc": Counts(wanted=3, starting=1, running=2, draining=1, jobs_idle=2,
                            jobs_running=4),
               "campus": Counts(jobs_idle=1, held="black hole: 3 launches lost")},
              jobs_idle_any=2, reasons=[(Code.COVERED, "dc", "2 idle jobs fit")],
              errors=["drain of slot1@h7 failed: timeout"], fresh=False, duration_s=7.0)


def app_for(loop: ScriptedLoop, tokens: TokenBook | None = None, **kw: Any):
    return create_app(LocalSource(loop, **kw), tokens=tokens)


def everything(loop: ScriptedLoop) -> tuple:
    """All an operator request could change: controls, the operator log, the totals."""
    return loop.controls, loop.status.actions(), loop.status.totals()
