"""The dashboard in real headless Chromium when its API is in trouble: the page says what
is wrong (the API's own message) and comes back by itself once the API answers again.

- ``htcmesos dashboard`` (RemoteSource) for a framework that has not ticked (503), then
  ticks, then goes away (502: its port closed), then comes back on the same port; then
  the dashboard's own server goes away (no connection) and comes back;
- the framework's own page when an API read hangs: the page gives up after its fetch
  timeout and says so, then follows the pool again.
"""
from __future__ import annotations

import threading
from typing import Any, Iterator

import pytest

from dashboards import create_app
from dashboards.remote import RemoteSource
from dashboards.source import LocalSource
from framework.api.server import ApiServer
from framework.webserve import WebServer
from tests.browser import artifacts_dir, chromium_driver, console_errors, text_of, wait_until
from tests.dashboards.fakes import book, scripted, two_ticks

REFRESH_S = 0.3         # the page polls /api/v1 this often
FETCH_TIMEOUT_S = 1.0   # and gives a request up after this
WAIT_S = 8.0            # longest wait for the page to show something


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium_driver(artifacts_dir(), "dashboard-trouble") as driver:
        yield driver


def problem(driver: Any) -> str | None:
    """The problem line's text when it is shown, None when hidden."""
    element = driver.find_element("css selector", "#problem")
    return element.text.strip() if element.is_displayed() else None


def shown(driver: Any) -> dict[str, Any]:
    return driver.execute_script(
        "return {problem: document.getElementById('problem').hidden ? null : "
        "document.getElementById('problem').textContent, "
        "freshness: document.getElementById('freshness').textContent, "
        "fresh_class: document.getElementById('freshness').className, "
        "ticks: parseInt(document.body.dataset.ticks, 10), "
        "sites: [...document.querySelectorAll('#sites section.site')].length};")


def test_the_page_says_the_api_cannot_answer_and_comes_back_by_itself(browser) -> None:
    loop = scripted()
    framework = ApiServer("127.0.0.1:0", loop, book()).start()
    api_url = framework.url
    port = int(api_url.rsplit(":", 1)[1])
    dashboard = WebServer("127.0.0.1:0", create_app(
        RemoteSource(api_url, timeout=(1.0, 2.0)), refresh_s=REFRESH_S,
        timeout_s=FETCH_TIMEOUT_S), "dashboard").start()
    again = None
    try:
        browser.get(dashboard.url + "/")
        # before the first tick: the framework's 503, passed on
        said = wait_until(browser, problem, WAIT_S, "the problem before the first tick")
        assert said == ("Not updated: /api/v1/status: pool p has not ticked yet: no status "
                        "before the elastic loop's first look at the pool")
        assert text_of(browser, "#freshness") == "waiting for data"
        two_ticks(loop)
        wait_until(browser, lambda d: (s := shown(d))["problem"] is None and s["sites"] == 2
                   and s, WAIT_S, "the pool after its first ticks")
        assert text_of(browser, "#freshness").startswith("stale (95 s old)")
        # the framework goes away: the dashboard's 502 naming it
        framework.stop()
        said = wait_until(browser, problem, WAIT_S, "the problem once the framework is gone")
        assert said == (f"Not updated: /api/v1/status: the htcmesos API at {api_url} "
                        f"does not answer: ConnectionError")
        page = shown(browser)
        assert page["sites"] == 2                       # the last numbers stay
        assert page["fresh_class"] == "badge unknown"
        assert page["freshness"].startswith("not updated since "), page
        # it comes back on the same port: the page follows it again, no reload
        browser.execute_script("window.htcmesosMark = 'same page';")
        again = ApiServer(f"127.0.0.1:{port}", loop, book()).start()
        ticks = page["ticks"]
        wait_until(browser, lambda d: (s := shown(d))["problem"] is None
                   and s["ticks"] > ticks and s, WAIT_S, "the page after the framework is back")
        assert text_of(browser, "#freshness").startswith("stale (95 s old)")
        # the server of the page itself goes away, and comes back
        page_url = dashboard.url
        dashboard.stop()
        said = wait_until(browser, problem, WAIT_S, "the problem once the page's server is gone")
        assert said == "Not updated: /api/v1/status: no connection (Failed to fetch)"
        ticks = shown(browser)["ticks"]
        back = WebServer(page_url.removeprefix("http://"), create_app(
            RemoteSource(api_url, timeout=(1.0, 2.0)), refresh_s=REFRESH_S,
            timeout_s=FETCH_TIMEOUT_S), "dashboard again").start()
        try:
            wait_until(browser, lambda d: (s := shown(d))["problem"] is None
                       and s["ticks"] > ticks and s, WAIT_S, "the page after its server is back")
        finally:
            back.stop()
        assert browser.execute_script("return window.htcmesosMark;") == "same page"
        assert [e for e in console_errors(browser) if "/api/v1/" not in e] == []
    finally:
        dashboard.stop()
        framework.stop()
        if again is not None:
            again.stop()


class Stuck:
    """LocalSource's reads, which wait (at most 10 s) while ``stuck`` is set."""

    READS = {"status", "sites", "site", "history", "decisions", "tasks", "autoscaling"}

    def __init__(self, inner: LocalSource) -> None:
        self.inner = inner
        self.stuck, self.released = threading.Event(), threading.Event()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in self.READS:
            return attr

        def read(*args: Any) -> Any:
            if self.stuck.is_set():
                self.released.wait(10)
            return attr(*args)
        return read


def test_a_read_that_hangs_is_a_problem_after_the_timeout(browser) -> None:
    loop = scripted()
    two_ticks(loop)
    source = Stuck(LocalSource(loop))
    server = WebServer("127.0.0.1:0", create_app(source, tokens=book(), refresh_s=REFRESH_S,
                                                 timeout_s=FETCH_TIMEOUT_S),
                       "stuck dashboard").start()
    try:
        browser.get(server.url + "/")
        wait_until(browser, lambda d: (s := shown(d))["ticks"] >= 1 and s, WAIT_S,
                   "the first refresh")
        source.stuck.set()
        said = wait_until(browser, problem, WAIT_S, "the problem while the API hangs")
        assert said.startswith("Not updated: /api/v1/") and said.endswith(
            ": no answer in 1 s"), said
        source.stuck.clear()
        source.released.set()
        page = shown(browser)
        wait_until(browser, lambda d: (s := shown(d))["problem"] is None
                   and s["ticks"] > page["ticks"] and s, WAIT_S, "the page once it answers")
        assert text_of(browser, "#freshness").startswith("stale (95 s old)")
    finally:
        source.released.set()
        server.stop()
