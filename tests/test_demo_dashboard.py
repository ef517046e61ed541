"""The README's first command, watched as an operator would: ``htcmesos demo`` on real
HTCondor daemons, its dashboard open in real headless Chromium while the jobs run.

One demo run serves both checks (it takes minutes): the demo's own promises (an empty
elastic pool grows at both sites for two waves of real jobs, one job after losing its
executor's agent, shrinks back after each, shows every decision with its reasons, ends
with a summary, leaves nothing behind), and the dashboard's: both sites, the real queue's
idle and running jobs (the numbers on the page equal ``condor_q``'s at the same moment),
a site scaled through the REST API and the page following it, a screenshot saved.
"""
from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from framework.sim.condorpool import SubmitHost
from framework.sim.docker.objects import TASK_LABEL
from tests.browser import artifacts_dir, chromium_driver, screenshot, wait_until
from tests.conftest import ROOT
from tests.services import wait_for

pytestmark = pytest.mark.docker

TOKEN = "tester-0123456789abcdefghij"
FIELDS = ("executors.wanted", "executors.starting", "executors.running", "jobs.idle",
          "jobs.running", "desired")


class Demo:
    """``htcmesos demo`` in a child process, its output in a file read as it grows."""

    def __init__(self, tmp: Path) -> None:
        self.out = tmp / "demo.out"
        token = tmp / "api-token"
        token.write_text(f"# who and token\ntester {TOKEN}\n")
        token.chmod(0o600)
        self._file = self.out.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "framework.cli", "demo", "--duration", "240",
             "--listen", "127.0.0.1:0", "--token-file", str(token)],
            stdout=self._file, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
            stdin=subprocess.DEVNULL)

    def text(self) -> str:
        return self.out.read_text(errors="replace")

    def url(self, timeout_s: float) -> str:
        found: list[str] = []

        def said() -> bool:
            match = re.search(r"^dashboard: (http://127\.0\.0\.1:\d+)/", self.text(), re.M)
            found[:] = [match[1]] if match else []
            return bool(match) or self.proc.poll() is not None
        wait_for(said, timeout_s, interval_s=0.5)
        assert found, f"the demo never said where its dashboard is: {self.text()[-3000:]}"
        return found[0]

    def finish(self, timeout_s: float) -> str:
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGTERM)      # the demo cleans up on SIGTERM
            self.proc.wait(60)
        self._file.close()
        return self.text()


def page_numbers(driver: Any) -> dict[str, dict[str, str]]:
    """Each site card's data-field cells, as shown."""
    return driver.execute_script("""
        const out = {};
        for (const card of document.querySelectorAll('section.site[data-site]')) {
          const cells = {};
          for (const cell of card.querySelectorAll('[data-field]'))
            cells[cell.dataset.field] = cell.textContent.trim();
          out[card.dataset.site] = cells;
        }
        return out;""")


def submitter(client: Any) -> SubmitHost:
    (container,) = [c for c in client.containers.list(filters={"label": TASK_LABEL})
                    if ".submitter." in c.labels[TASK_LABEL]]
    return SubmitHost(container)


def queue_counts(host: SubmitHost) -> dict[str, dict[str, str]]:
    """Idle and running jobs per wanted site, in the real queue now."""
    counts: dict[str, dict[str, str]] = {}
    jobs = host.jobs()
    for site in ("dc", "campus"):
        mine = [j for j in jobs if j.site == site]
        counts[site] = {"jobs.idle": str(sum(j.status == "idle" for j in mine)),
                        "jobs.running": str(sum(j.status == "running" for j in mine))}
    return counts


def matches_queue(driver: Any, host: SubmitHost, state: str) -> bool:
    """The page's job counts equal the queue's, with some job ``state`` (idle|running)."""
    shown = page_numbers(driver)
    real = queue_counts(host)
    same = all({k: shown.get(site, {}).get(k) for k in real[site]} == real[site]
               for site in real)
    return same and any(real[site][f"jobs.{state}"] != "0" for site in real)


def test_demo_with_its_dashboard_in_chromium(docker_engine, role_images, tmp_path):
    demo = Demo(tmp_path)
    try:
        url = demo.url(300)
        api = f"{url}/api/v1"
        with chromium_driver(artifacts_dir()) as driver:
            driver.get(url + "/")
            wait_until(driver, lambda d: set(page_numbers(d)) == {"dc", "campus"}, 30,
                       "both sites on the page")
            host = submitter(docker_engine)
            wait_until(driver, lambda d: matches_queue(d, host, "idle"), 150,
                       "the queue's idle jobs on the page")
            wait_until(driver, lambda d: matches_queue(d, host, "running"), 150,
                       "the queue's running jobs on the page")
            # changes need the token; a refused one changes nothing
            before = requests.get(f"{api}/sites/dc", timeout=10).json()
            refused = requests.patch(f"{api}/sites/dc", json={"desired": 3}, timeout=10)
            assert refused.status_code == 401, refused.text
            assert requests.get(f"{api}/sites/dc", timeout=10).json()["desired"] \
                == before["desired"] is None
            auth = {"Authorization": f"Bearer {TOKEN}"}
            scaled = requests.patch(f"{api}/sites/dc", json={"desired": 3}, headers=auth,
                                    timeout=10)
            assert scaled.status_code == 200 and scaled.json()["desired"] == 3, scaled.text
            wait_until(driver, lambda d: page_numbers(d)["dc"]["desired"] == "3"
                       and page_numbers(d)["dc"]["executors.wanted"] == "3", 30,
                       "the page following the scaled site")
            shot = screenshot(driver, artifacts_dir() / "dashboard-demo.png")
            assert shot.stat().st_size > 10_000
            back = requests.patch(f"{api}/sites/dc", json={"desired": None}, headers=auth,
                                  timeout=10)
            assert back.status_code == 200 and back.json()["desired"] is None, back.text
            wait_until(driver, lambda d: page_numbers(d)["dc"]["desired"] != "3", 30,
                       "the page back to the queue's size")
        out = demo.finish(400)
    finally:
        if demo.proc.poll() is None:
            demo.proc.kill()
    assert demo.proc.returncode == 0, out[-3000:]
    check_demo_output(out, docker_engine)


def check_demo_output(out: str, docker_engine: Any) -> None:
    """The demo's own promises (see the module docstring)."""
    tail = out[-3000:]
    for site in ("dc", "campus"):
        assert f"jobs completed at site {site}: 6 of 6" in out, tail
    assert "jobs done: 12 of 12" in out, tail
    jobs = [line for line in out.splitlines() if line.strip().startswith("jobs:")]
    assert any("idle=" in line for line in jobs), jobs          # seen waiting,
    assert any("running=" in line for line in jobs), jobs       # running,
    assert "campus: completed=6 | dc: completed=6" in jobs[-1]   # and done
    assert "is lost under running job" in out
    # the decisions, with their reasons, in order: grow at both sites, drain and remove,
    # the pool back at its minimum, then the same for wave 2
    decisions = [line for line in out.splitlines() if line.startswith(">>> t+")]
    assert len(decisions) <= 48, decisions      # ~80 ticks: only those that act or change
    begin = 0
    for wave in (1, 2):
        begin = out.find(f"*** demo: wave {wave}: submitting", begin)
        shrunk = out.find("*** demo: the pool shrank back to its minimum", begin)
        assert 0 <= begin < shrunk, (wave, tail)
        for needle in ("SCALE_UP dc: ", "SCALE_UP campus: ", "DRAIN dc: ", "DRAINED dc: ",
                       "DRAIN campus: ", "DRAINED campus: "):
            assert needle in out[begin:shrunk], (wave, needle, out[begin:shrunk][-3000:])
        begin = shrunk
    assert "DESIRED dc: " in out, decisions           # the operator's size, with its reason
    assert re.search(r"^>>> t\+ *[\d.]+s elastic: launch dc\+\d", out, re.M), decisions
    assert re.search(r"^>>> t\+ *[\d.]+s elastic: .*remove twosites\.executor\.campus", out,
                     re.M), decisions
    # the summary, with figures
    summary = out.split("\nsummary:\n")[1]
    peak = re.search(r"peak executors: campus (\d+), dc (\d+), total (\d+)", summary)
    assert peak and int(peak[1]) >= 1 and int(peak[2]) >= 3, summary    # dc held at 3
    assert max(int(peak[1]), int(peak[2])) <= int(peak[3]) <= int(peak[1]) + int(peak[2])
    wait = re.search(r"queue wait \(QDate → JobStartDate, (\d+) jobs\): mean ([\d.]+) s, "
                     r"max (\d+) s", summary)
    assert wait and int(wait[1]) == 12 and 0 <= float(wait[2]) <= int(wait[3]), summary
    idle = re.search(r"idle core-time: (\d+)% of (\d+) provisioned executor core-seconds "
                     r"\((\d+) used by running jobs\)", summary)
    assert idle and 0 <= int(idle[1]) < 100 and int(idle[2]) > int(idle[3]) > 0, summary
    assert "pool shrank back to the minimum (campus 0, dc 0 executors)" in summary, summary
    final = out.split("final pool state:")[1].split("summary:")[0]
    assert "executor" not in final, final
    # nothing left behind: no container or network of this run's emulator (labelled with
    # its runner id; other test runs may use the engine at the same time)
    runner = re.search(r"cleaning up containers, networks and firewall rules \(emulator "
                       r"runner (\w+)\)", out)
    assert runner, tail
    label = {"label": f"htcmesos.runner={runner[1]}"}
    left = [c.name for c in docker_engine.containers.list(all=True, filters=label)]
    assert not left, f"the demo left containers behind: {left}"
    left = [n.name for n in docker_engine.networks.list(filters=label)]
    assert not left, f"the demo left networks behind: {left}; {out[-1500:]}"
    assert "networks kept" not in out, tail
