"""Headless Debian Chromium driven by selenium."""

from __future__ import annotations

import shutil
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


def available() -> bool:
    return shutil.which(CHROMIUM) is not None and shutil.which(CHROMEDRIVER) is not None


def start(*, javascript: bool = True) -> webdriver.Chrome:
    """A fresh headless Chromium; `javascript=False` runs no script at all (what a page
    does for a reader who turned it off)."""
    options = webdriver.ChromeOptions()
    if not javascript:
        options.add_experimental_option("prefs", {"profile.managed_default_content_settings.javascript": 2})
    options.binary_location = CHROMIUM
    # No network but loopback here: keep Chromium from reaching out at start.
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        # Bootstrap scrolls smoothly unless the reader asked for less motion: a click
        # right after scrolling would otherwise land while the page still moves.
        "--force-prefers-reduced-motion",
        f"--user-data-dir={tempfile.mkdtemp(prefix='chromium-')}",
    ):
        options.add_argument(flag)
    # The console stays readable (driver.get_log("browser")): CSP violations are logged there.
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    return driver


def click(driver: WebDriver, element: WebElement) -> None:
    """Click an element once it is scrolled to the middle of the screen, clear of the
    fixed bars at the top and the bottom, with no scrolling animation left to finish."""
    driver.execute_script("arguments[0].scrollIntoView({block: 'center', behavior: 'instant'})", element)
    element.click()
