"""Headless Chromium for the tests of the HTML report: open a `file://` page, record every request and alert.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them when missing) and `selenium`
(requirements-dev.txt). Without them a browser test skips with the reason, except in CI (`CI` set, as `.ci/run`
does), where it fails: CI must not pass by skipping. Use the `chromium` fixture (one browser per test session):

    from browser import chromium_session  # noqa: F401  (the fixture `chromium`)

    def test_page(chromium):
        chromium.open(path)
        assert chromium.network_requests() == []
"""

from __future__ import annotations

import io
import json
import os
import shutil
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import numpy as np
import pytest
from PIL import Image

# --headless=new etc.: Chromium as a test runs it (no sandbox as root, no /dev/shm in containers); the rest stops
# Chromium's own background connections, which this machine's closed network refuses and which are not the page's.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
)
LOCAL_SCHEMES = ("file", "data", "blob", "about")  # what a self-contained page may load
# Before any script of the page: alert/confirm/prompt only record their message (an injected `onerror=alert(1)`
# then shows up in `alerts()` instead of blocking the browser).
RECORD_ALERTS = """
window.__alerts = [];
for (const name of ["alert", "confirm", "prompt"]) {
  window[name] = (message) => { window.__alerts.push(name + ": " + String(message)); return null; };
}
"""


def _binaries() -> tuple[str | None, str | None]:
    return shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")


def missing_reason() -> str | None:
    """Why no browser test can run here (None: they can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -r requirements-dev.txt)"
    browser, driver = _binaries()
    if browser is None or driver is None:
        return "no chromium / chromedriver on PATH (Debian: apt-get install chromium chromium-driver; .ci/run does)"
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


def require_chromium() -> None:
    """Skip the calling test when Chromium is missing here; fail instead in CI."""
    reason = missing_reason()
    if reason is None:
        return
    if in_ci():
        pytest.fail(f"browser tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


class Chromium:
    """One headless Chromium driven by chromedriver; `open` a page, then ask what it requested, alerted, logged."""

    def __init__(self):
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager must not look for drivers online
        browser, driver = _binaries()
        options = webdriver.ChromeOptions()
        options.binary_location = browser
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
        options.set_capability("unhandledPromptBehavior", "accept and notify")
        self.driver = webdriver.Chrome(service=Service(executable_path=driver), options=options)
        self.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_ALERTS})
        self._requests: list[str] = []
        self._console: list[dict] = []

    def open(self, page: Path, timeout: float = 10.0) -> float:
        """Load `page` from file:// and wait for its load event; the seconds it took (navigation start to load end,
        as the page's own Navigation Timing measures it). Requests and console lines start afresh."""
        self._drain()
        self._requests, self._console = [], []
        self.driver.get(Path(page).resolve().as_uri())
        deadline = time.monotonic() + timeout
        script = "const n = performance.getEntriesByType('navigation')[0]; return n ? n.loadEventEnd : 0;"
        while (loaded := self.driver.execute_script(script)) <= 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{page} did not finish loading in {timeout} s")
            time.sleep(0.05)
        return loaded / 1000

    def _drain(self) -> None:
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.requestWillBeSent":
                self._requests.append(message["params"]["request"]["url"])
        self._console += self.driver.get_log("browser")

    def requests(self) -> list[str]:
        """Every URL the page asked for since `open` (documents, images, scripts, styles, fetches)."""
        self._drain()
        return list(self._requests)

    def network_requests(self) -> list[str]:
        """The requests that would leave the machine: anything but file:, data:, blob: and about: URLs."""
        return [url for url in self.requests() if urlparse(url).scheme not in LOCAL_SCHEMES]

    def console_errors(self) -> list[str]:
        """Console errors since `open` (a missing file shows as 'Failed to load resource: net::ERR_FILE_NOT_FOUND')."""
        self._drain()
        return [line["message"] for line in self._console if line["level"] == "SEVERE"]

    def alerts(self) -> list[str]:
        """alert/confirm/prompt calls the page made since `open`."""
        return list(self.driver.execute_script("return window.__alerts || [];"))

    def load_every_image(self, timeout: float = 10.0) -> list[dict]:
        """Make lazy images load now and wait for all; each <img> as {src, alt, width} (naturalWidth: 0 = broken)."""
        self.driver.execute_script("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; });")
        done = "return [...document.images].every(i => i.complete);"
        deadline = time.monotonic() + timeout
        while not self.driver.execute_script(done) and time.monotonic() < deadline:
            time.sleep(0.05)
        script = "return [...document.images].map(i => ({src: i.src, alt: i.alt, width: i.naturalWidth}));"
        return self.driver.execute_script(script)

    def local_links(self) -> list[str]:
        """Every file:// URL the page's elements point to (a href, img/script src, link href)."""
        script = """return [...document.querySelectorAll('[href], [src]')]
            .map(e => e.href || e.src).filter(u => typeof u === 'string' && u.startsWith('file:'));"""
        return self.driver.execute_script(script)

    def screenshot(self) -> np.ndarray:
        """The visible window as RGB pixels."""
        png = self.driver.get_screenshot_as_png()
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))

    def quit(self) -> None:
        self.driver.quit()


def file_of(url: str) -> Path:
    """The local path a file:// URL names (its #fragment and ?query dropped)."""
    return Path(unquote(urlparse(url).path))


@pytest.fixture(scope="session", name="chromium")
def chromium_session():
    """One headless Chromium for the session's browser tests (skips, or fails in CI, without one)."""
    require_chromium()
    browser = Chromium()
    yield browser
    browser.quit()
