"""Headless Debian Chromium driven by selenium + Debian's chromedriver (no browser download).

Records console messages and every network request of a page (Chrome's performance log), so that
tests can assert "no console error" and "nothing fetched from outside the page's folder".
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1400,1000",
)


def chromium_driver():
    """A selenium Chrome driver on /usr/bin/chromium, or a pytest skip naming what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver")
    browser, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("Debian chromium + chromium-driver absent (bash scripts/setup.sh ecosystem)")
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(driver))


def open_page(driver, page: Path) -> list[str]:
    """Load ``page`` and return every URL it requested (the new-tab page's own loads drained)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver.get("about:blank")
    requested_urls(driver)
    driver.get(page.resolve().as_uri())
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return document.readyState") == "complete"
    )
    return requested_urls(driver)


def requested_urls(driver) -> list[str]:
    """URLs the page asked for since the last call (Network.requestWillBeSent events)."""
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def console_errors(driver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def outside(urls: list[str], folder: Path) -> list[str]:
    """The URLs that are neither inline data nor files inside ``folder`` (the browser's own
    chrome:// pages are not network requests and are left out)."""
    root = folder.resolve().as_uri() + "/"
    inside = ("data:", "chrome://", "about:", root)
    return [u for u in urls if not u.startswith(inside)]
