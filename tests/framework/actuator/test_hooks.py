"""CLUES-style hooks with real executables: arguments, working folder, timeout, failures."""
from __future__ import annotations

from pathlib import Path

import pytest

from framework.actuator.hooks import EVENTS, CluesHooks, HookRunner
from framework.elastic import ElasticLoop
from framework.sim.pool import Job, SimPool, Timings
from framework.spec import parse_spec
from tests.services import wait_for

SPEC = parse_spec("""
pool: {name: p, trust_domain: p.example, signing_key_file: k, negotiator_interval: 5}
sites:
  - {name: dc, calico: {network: n1, cidr: 10.1.0.0/16}, executors: {min: 0, max: 4}}
roles:
  master: {image: m, cpus: 1, mem: 512}
  submitter: {image: s, cpus: 1, mem: 512}
  executor: {image: e, cpus: 2, mem: 4096}
autoscaling: {min_executors: 0, max_executors: 4, idle_before_scale_in: 10,
              scale_up_cooldown: 0, scale_down_cooldown: 0, tick: 5}
backend: {type: sim}
""")

RECORDER = '#!/bin/sh\necho "$(basename "$0") $# $* | cwd=$PWD | stdin=$(cat | wc -c)" >> calls.log\n'


def install(folder: Path, name: str, body: str, mode: int = 0o755) -> None:
    path = folder / name
    path.write_text(body)
    path.chmod(mode)


def calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def test_hooks_follow_an_executor_through_its_life_with_clues_arguments(tmp_path: Path):
    for event in EVENTS:
        install(tmp_path, event, RECORDER)
    runner = HookRunner(tmp_path, timeout_s=30)
    jobs = [Job(1, 0.0, 30.0, 1, 1024, "dc"), Job(2, 0.0, 30.0, 1, 1024, "dc")]
    pool = SimPool(["dc"], (2.0, 4096.0), jobs, Timings(boot_s=5, claim_s=1, negotiation_s=5))
    loop = ElasticLoop(SPEC, pool, pool, pool, CluesHooks(runner))
    now = 0.0
    while now < 200:
        loop.tick(now)
        now += 5
    runner.close()                                   # waits for every hook
    log = calls(tmp_path)
    task = next(line.split()[2] for line in log if line.startswith("PRE_POWERON"))
    assert task == "dc-1"                             # the executor's virtual node
    expected = ["REQUEST 6 request-1 1 1073741824 2 1 HTCMESOS_SITE == \"dc\"",
                f"PRE_POWERON 1 {task}", f"POST_POWERON 3 {task} 1 {task}", f"USED 1 {task}",
                f"IDLE 1 {task}", f"PRE_POWEROFF 1 {task}", f"POST_POWEROFF 3 {task} 1 {task}"]
    assert [line.split(" | ")[0] for line in log] == expected, log
    assert all(f"cwd={tmp_path}" in line and "stdin=0" in line for line in log)


def test_a_slow_hook_is_killed_with_its_children_and_a_failing_one_survived(tmp_path: Path):
    install(tmp_path, "IDLE", "#!/bin/sh\n(sleep 60; echo late >> calls.log) &\nsleep 60\n")
    install(tmp_path, "USED", "#!/bin/sh\necho oops; exit 3\n")
    install(tmp_path, "ONERR", RECORDER, mode=0o644)          # not executable: skipped
    runner = HookRunner(tmp_path, timeout_s=0.5)
    assert runner.run(tmp_path / "IDLE", ["node-1"]) is None          # killed
    assert runner.run(tmp_path / "USED", ["node-1"]) == 3
    runner.fire("ONERR", "node-1", 1)
    runner.fire("NOSUCH", "node-1")
    runner.close()
    # the hook's background child died with its process group: it never writes
    assert not wait_for(lambda: "late" in "".join(calls(tmp_path)), 1.0)
    assert calls(tmp_path) == []


def test_hooks_block_in_the_spec(tmp_path: Path):
    spec = parse_spec("""
pool: {name: p, trust_domain: p.example, signing_key_file: k}
sites: [{name: dc, calico: {network: n1, cidr: 10.1.0.0/16}}]
roles:
  master: {image: m, cpus: 1, mem: 512}
  submitter: {image: s, cpus: 1, mem: 512}
  executor: {image: e, cpus: 2, mem: 4096}
autoscaling: {hooks: {folder: hooks, timeout: 20}}
backend: {type: sim}
""", "h.yaml", tmp_path)
    assert spec.autoscaling.hooks_folder == tmp_path / "hooks"
    assert spec.autoscaling.hooks_timeout_s == 20


@pytest.mark.parametrize("block, words", [
    ("{hooks: {timeout: 20}}", "missing required key 'folder'"),
    ("{hooks: {folder: h, timeout: -1}}", r"must be positive \(> 0\)"),
])
def test_bad_hooks_block(block, words):
    from framework.errors import SpecError
    with pytest.raises(SpecError, match=words):
        parse_spec(f"""
pool: {{name: p, trust_domain: p.example, signing_key_file: k}}
sites: [{{name: dc, calico: {{network: n1, cidr: 10.1.0.0/16}}}}]
roles:
  master: {{image: m, cpus: 1, mem: 512}}
  submitter: {{image: s, cpus: 1, mem: 512}}
  executor: {{image: e, cpus: 2, mem: 4096}}
autoscaling: {block}
backend: {{type: sim}}
""")
