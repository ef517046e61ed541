"""The dashboard in real headless Chromium, served over real HTTP on loopback by the
dashboards app over a scripted pool (the real StatusLog, TickStatus and Controls; ticks
written here): both sites with the latest tick's numbers, the demand/supply plot drawn,
the decisions and tasks listed; an operator's PATCH (with the token) and the next tick
show up without a reload; nothing is loaded from anywhere but the server. A screenshot
goes to the artifacts folder (tests/browser.py)."""
from __future__ import annotations

import json
import re
import urllib.request
from html.parser import HTMLParser
from typing import Any, Iterator
from urllib.parse import urljoin, urlsplit

import pytest

from dashboards import create_app
from dashboards.source import LocalSource
from framework.planner.decision import Code
from framework.statuslog import SiteStatus
from framework.webserve import WebServer
from tests.browser import (artifacts_dir, chromium_driver, console_errors, screenshot,
                           text_of, wait_until)
from tests.dashboards.fakes import TASKS, TOKEN, book, scripted
from tests.dashboards.scripted_pool import Counts, ScriptedLoop

REFRESH_S = 0.3         # the page polls /api/v1 this often
WAIT_S = 8.0            # longest wait for the page to show something
RAMP = 10               # ticks before the latest one
#: URLs a page may hold without loading them: XML namespaces (createElementNS)
NAMESPACES = {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xhtml",
              "http://www.w3.org/1999/xlink"}
FIELDS = ("executors.wanted", "executors.starting", "executors.running", "executors.idle",
          "executors.draining", "jobs.idle", "jobs.running", "bounds.min", "bounds.max",
          "desired")

LATEST = {"dc": Counts(wanted=2, running=2, idle=1, jobs_idle=3, jobs_running=1),
          "campus": Counts(wanted=1, starting=1, jobs_idle=1,
                           held="black hole: 3 launches lost")}


def script(loop: ScriptedLoop) -> None:
    """RAMP quiet ticks of growing demand at dc (the first notable), then the latest."""
    for i in range(RAMP):
        loop.tick({"dc": Counts(wanted=min(2, i // 3), running=min(2, i // 4),
                                jobs_idle=i // 2, jobs_running=min(1, i // 5))},
                  reasons=[(Code.SCALE_UP, "dc", f"{i // 2} idle jobs")] if i == 0 else [],
                  notable=i == 0)
    loop.tick(LATEST, jobs_idle_any=2,
              reasons=[(Code.SCALE_UP, "dc", "3 idle jobs: 1 executor more"),
                       (Code.SITE_HELD, "campus", "black hole: 3 launches lost")],
              actions=["launch dc+1"], launches={"dc": 1},
              errors=["launch at campus: no offer in 60 s"])


@pytest.fixture(scope="module")
def pool() -> Iterator[tuple[ScriptedLoop, str]]:
    loop = scripted()
    script(loop)
    app = create_app(LocalSource(loop), tokens=book(), refresh_s=REFRESH_S)
    server = WebServer("127.0.0.1:0", app, "dashboard browser test").start()
    try:
        yield loop, server.url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_driver(artifacts_dir(), "dashboard") as driver:
        yield driver


def expected_cells(site: SiteStatus) -> dict[str, str]:
    """What the site card's data-field cells say for this tick's site."""
    values = {"executors.wanted": site.wanted, "executors.starting": site.starting,
              "executors.running": site.running, "executors.idle": site.idle,
              "executors.draining": site.draining, "jobs.idle": site.jobs_idle,
              "jobs.running": site.jobs_running, "bounds.min": site.min,
              "bounds.max": site.max,
              "desired": "queue" if site.desired is None else site.desired}
    return {k: str(v) for k, v in values.items()}


#: the page as it is now, read in one script (the page redraws its tables every refresh:
#: elements found one by one could be replaced in between)
SNAPSHOT_JS = """
const text = (e) => e ? e.innerText.trim() : null;
const sites = {};
for (const card of document.querySelectorAll('#sites section.site')) {
  const cells = {};
  for (const td of card.querySelectorAll('td[data-field]')) cells[td.dataset.field] = text(td);
  sites[card.dataset.site] = {cells, note: text(card.querySelector('.site-note'))};
}
const paths = {};
for (const p of document.querySelectorAll('#plot path.series')) {
  const points = p.getAttribute('d').match(/[ML]-?[0-9]/g) || [];
  paths[p.classList[p.classList.length - 1]] = points.length;
}
const rows = (id) => [...document.querySelectorAll(`#${id} tbody tr`)];
return {
  order: [...document.querySelectorAll('#sites section.site')].map((c) => c.dataset.site),
  sites, paths,
  decisions: rows('decisions').map(text),
  tasks: rows('tasks').map((r) => ({id: r.dataset.task,
    cells: [...r.cells].map(text), links: [...r.querySelectorAll('a')].map((a) => a.href)})),
  operator: rows('operator').map(text),
  ticks: parseInt(document.body.dataset.ticks, 10),
};
"""


def snapshot(driver: Any) -> dict[str, Any]:
    return driver.execute_script(SNAPSHOT_JS)


def cells(driver: Any, site: str) -> dict[str, str] | None:
    card = snapshot(driver)["sites"].get(site)
    return card and card["cells"]


def patch(url: str, body: dict[str, Any], token: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="PATCH",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def post(url: str, token: str) -> tuple[int, dict[str, Any]]:
    req = urllib.request.Request(url, data=b"", method="POST",
                                 headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


def test_the_page_shows_the_pool_and_follows_it_without_reload(pool, browser) -> None:
    loop, url = pool
    browser.get(url + "/")
    latest = loop.status.latest()
    for site in latest.sites:
        want = expected_cells(site)
        wait_until(browser, lambda d, s=site.name: cells(d, s) == want, WAIT_S,
                   f"site {site.name}'s cells to say {want}")
    page = snapshot(browser)
    assert page["order"] == ["dc", "campus"]
    assert page["sites"]["campus"]["note"] == "held: black hole: 3 launches lost"
    assert text_of(browser, "#pool") == "p"
    # not paused, no problem: their badges are not shown
    for badge in ("#paused", "#problem"):
        assert not browser.find_element("css selector", badge).is_displayed(), \
            f"{badge} is shown: its hidden attribute has no effect (CSS display wins)"
    assert text_of(browser, "#any-jobs") == "2 idle job(s) may run at any site"

    # the plot: one point per tick for each series
    assert page["paths"] == {"demand": RAMP + 1, "jobs-running": RAMP + 1,
                             "wanted": RAMP + 1, "running": RAMP + 1}

    # decisions (notable ticks, newest first) and tasks
    assert len(page["decisions"]) == 2
    newest = page["decisions"][0]
    for text in ("launch dc+1", "SCALE_UP dc: 3 idle jobs: 1 executor more",
                 "SITE_HELD campus: black hole: 3 launches lost",
                 "error: launch at campus: no offer in 60 s"):
        assert text in newest, (text, newest)
    assert "SCALE_UP dc: 0 idle jobs" in page["decisions"][1]
    tasks = {t["id"]: t for t in page["tasks"]}
    assert list(tasks) == [t.task_id for t in TASKS]
    assert tasks["htcmesos-master-1"]["cells"][:6] == [
        "htcmesos-master-1", "master", "dc", "running", "healthy", "10.1.0.2"]
    assert tasks["htcmesos-master-1"]["links"] == [TASKS[0].link]
    # the link without its user and password
    assert tasks["htcmesos-executor-dc-1"]["links"] == [
        "http://mesos.example:5050/#/agents/agent-2"]
    assert tasks["htcmesos-executor-campus-1"]["cells"][3:] == [
        "starting", "unhealthy", "—", ""]
    assert "hunter2" not in browser.page_source

    # an operator sets dc's desired size; the next tick follows it: no reload
    browser.execute_script("window.htcmesosMark = 'same page';")
    status, doc = patch(url + "/api/v1/sites/dc", {"desired": 3}, TOKEN)
    assert (status, doc["desired"], doc["bounds"]) == (200, 3, {"min": 1, "max": 10})
    wait_until(browser, lambda d: (cells(d, "dc") or {}).get("desired") == "3", WAIT_S,
               "dc's desired size 3 after the PATCH")
    wait_until(browser, lambda d: snapshot(d)["operator"], WAIT_S, "the operator's action")
    assert snapshot(browser)["operator"][0].split("\t")[1:] == [
        "alice@127.0.0.1", "site dc: desired 3"]
    loop.tick(LATEST, jobs_idle_any=2, reasons=[(Code.DESIRED, "dc", "desired 3: 1 more")],
              actions=["launch dc+1"], launches={"dc": 1})
    want = expected_cells(loop.status.latest().site("dc"))
    assert want["executors.wanted"] == "3" and want["desired"] == "3"
    wait_until(browser, lambda d: cells(d, "dc") == want, WAIT_S,
               f"dc's cells to say {want} after the next tick")
    page = wait_until(browser, lambda d: (p := snapshot(d))["paths"].get("wanted") == RAMP + 2
                      and p, WAIT_S, "the plot to grow by the new tick")
    assert "DESIRED dc: desired 3: 1 more" in page["decisions"][0]
    # pausing autoscaling shows the badge
    assert post(url + "/api/v1/autoscaling/pause", TOKEN) == (200, {"paused": True})
    wait_until(browser, lambda d: d.find_element("css selector", "#paused").is_displayed(),
               WAIT_S, "the paused badge")
    assert browser.execute_script("return window.htcmesosMark;") == "same page"
    assert text_of(browser, "#freshness").startswith("fresh")
    assert console_errors(browser) == []
    screenshot(browser, artifacts_dir() / "dashboard.png", full_page=True)
    assert post(url + "/api/v1/autoscaling/resume", TOKEN) == (200, {"paused": False})


class _Refs(HTMLParser):
    """src/href attributes of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.refs += [v for k, v in attrs if k in ("src", "href") and v]


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return resp.read().decode()


def test_the_page_loads_nothing_from_elsewhere(pool, browser) -> None:
    loop, url = pool
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(url))
    # what the server sends: the page, its scripts and styles
    html = _get(url + "/")
    parser = _Refs()
    parser.feed(html)
    texts = {"/": html}
    for ref in parser.refs:
        full = urljoin(url + "/", ref)
        assert full.startswith((origin + "/", "data:")), f"the page refers to {ref}"
        if full.startswith(origin + "/static/"):
            texts[ref] = _get(full)
    assert any(r.endswith(".js") for r in texts) and any(r.endswith(".css") for r in texts)
    for ref, text in texts.items():
        # absolute URLs anywhere; protocol-relative ones in attributes, strings, url()
        urls = set(re.findall(r"""https?://[^\s"'`)<>]+|(?<=["'(=])//[^\s"'`)<>]+""", text))
        outside = {u for u in urls if not u.startswith(origin) and u not in NAMESPACES}
        assert outside == set(), f"{ref} names {outside}"
        assert not re.search(r"@import|url\((?!['\"]?data:)", text), ref
    # what the browser loaded: everything from the server
    browser.get(url + "/")
    wait_until(browser, lambda d: int(d.find_element("css selector", "body")
                                      .get_attribute("data-ticks")) >= 2,
               WAIT_S, "two refreshes of the page")
    loaded = browser.execute_script(
        "return performance.getEntries().filter(e => e.entryType === 'navigation' || "
        "e.entryType === 'resource').map(e => e.name);")
    assert url + "/" in loaded
    assert any(n.endswith("/api/v1/status") for n in loaded), loaded
    assert [n for n in loaded if not n.startswith(origin + "/")] == []
    assert console_errors(browser) == []
