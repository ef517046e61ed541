"""Real headless Chromium for tests, through Selenium 4 and the Debian chromedriver.

- :func:`chromium_driver` — a context manager: a fresh Chromium (own profile, 1280×900,
  headless) driven by ``/usr/bin/chromedriver``; quit at the end, a screenshot and the
  page's HTML saved to the artifacts folder when the block raised.
- :func:`wait_until` — poll a condition on the page with a deadline (never a fixed sleep);
  the error says what was awaited and what was last seen.
- :func:`text_of`, :func:`screenshot`, :func:`artifacts_dir`.

Outside CI a missing Chromium, chromedriver or selenium skips the test with the install
hint; with ``CI=true`` it fails (tests/services.py :func:`~tests.services.unavailable`).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator

from tests.services import unavailable, wait_for

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS_ENV = "HTCMESOS_ARTIFACTS"
INSTALL_HINT = ("install the Debian packages chromium and chromium-driver and the Python "
                "package selenium (scripts/bootstrap.sh does both)")
WINDOW = (1280, 900)            # px
PAGE_LOAD_TIMEOUT_S = 15.0
POLL_S = 0.05

ROOT = Path(__file__).resolve().parent.parent


def artifacts_dir() -> Path:
    """``$HTCMESOS_ARTIFACTS`` or ``<repo>/test-artifacts`` (created)."""
    path = Path(os.environ.get(ARTIFACTS_ENV) or ROOT / "test-artifacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _missing() -> list[str]:
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the Python package selenium")
    return missing


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "browser"


@contextlib.contextmanager
def chromium_driver(artifacts: Path, name: str = "browser") -> Iterator[Any]:
    """A headless Chromium WebDriver (``selenium.webdriver.Chrome``) for the block.

    ``artifacts``: folder for chromedriver's log and, when the block raises, the page's
    screenshot and HTML (``<name>-failure.png`` / ``.html``)."""
    missing = _missing()
    if missing:
        unavailable(f"the browser tests need {', '.join(missing)}: {INSTALL_HINT}")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    artifacts.mkdir(parents=True, exist_ok=True)
    stem = _safe_name(name)
    profile = tempfile.mkdtemp(prefix="htcmesos-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--user-data-dir={profile}",
                "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                "--disable-background-networking", "--disable-sync",
                "--disable-component-update", "--metrics-recording-only"):
        options.add_argument(arg)
    if os.geteuid() == 0:
        options.add_argument("--no-sandbox")   # Chromium's sandbox refuses to run as root
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(CHROMEDRIVER, log_output=str(artifacts / f"{stem}-chromedriver.log"))
    try:
        driver = webdriver.Chrome(service=service, options=options)
    except Exception as exc:     # noqa: BLE001 - a driver that cannot start: say why
        shutil.rmtree(profile, ignore_errors=True)
        unavailable(f"Chromium did not start ({_first_line(exc)}); {INSTALL_HINT}")
    try:
        driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
        driver.set_script_timeout(PAGE_LOAD_TIMEOUT_S)
        yield driver
    except BaseException:
        with contextlib.suppress(Exception):
            screenshot(driver, artifacts / f"{stem}-failure.png")
            (artifacts / f"{stem}-failure.html").write_text(driver.page_source)
        raise
    finally:
        with contextlib.suppress(Exception):
            driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def wait_until(driver: Any, predicate: Callable[[Any], Any], timeout_s: float,
               what: str) -> Any:
    """Poll ``predicate(driver)`` until it returns a truthy value (returned) or
    ``timeout_s`` (s) passes: AssertionError naming ``what``, the last value or error the
    predicate gave, and the page's URL and text."""
    box: list[Any] = [None]

    def holds() -> bool:
        try:
            box[0] = predicate(driver)
        except Exception as exc:     # noqa: BLE001 - "not yet" in any form
            box[0] = _first_line(exc)
            return False
        return bool(box[0])

    if wait_for(holds, timeout_s, interval_s=POLL_S):
        return box[0]
    seen = box[0]
    try:
        page = driver.find_element("css selector", "body").text
    except Exception:            # noqa: BLE001
        page = "(no page text)"
    raise AssertionError(f"waited {timeout_s:g} s for {what}; last seen: {seen!r}; "
                         f"page {driver.current_url}: {page[:1500]!r}")


def text_of(driver: Any, css: str) -> str:
    """The visible text of the first element matching ``css`` (stripped); AssertionError
    naming the selector when there is none."""
    from selenium.common.exceptions import NoSuchElementException

    try:
        return driver.find_element("css selector", css).text.strip()
    except NoSuchElementException:
        raise AssertionError(f"no element {css!r} on {driver.current_url}") from None


def screenshot(driver: Any, path: Path, full_page: bool = False) -> Path:
    """Save the viewport (``full_page``: the whole page, the window stretched to its
    height meanwhile) as PNG at ``path`` (folders created); the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    size = driver.get_window_size()
    if full_page:
        height = driver.execute_script("return document.documentElement.scrollHeight "
                                       "+ window.outerHeight - window.innerHeight;")
        driver.set_window_size(size["width"], max(size["height"], min(int(height), 8000)))
    try:
        if not driver.save_screenshot(str(path)):
            raise AssertionError(f"Chromium did not save a screenshot to {path}")
    finally:
        if full_page:
            driver.set_window_size(size["width"], size["height"])
    return path


def console_errors(driver: Any) -> list[str]:
    """The browser console's SEVERE messages since the last call (JS errors, failed
    loads)."""
    return [e["message"] for e in driver.get_log("browser") if e.get("level") == "SEVERE"]
