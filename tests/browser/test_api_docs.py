"""GET /api/docs in a real browser under the Content-Security-Policy: Swagger UI from the
vendored sidecar files renders the whole contract, and the console reports no violation."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import need
from tests.support import browser as browsersupport

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


@pytest.fixture
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


def _console(driver: WebDriver) -> list[str]:
    return [str(entry["message"]) for entry in driver.get_log("browser") if entry["level"] in ("SEVERE", "WARNING")]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_docs_render_the_contract_without_a_csp_violation(
    live_server: Any, driver: WebDriver, tmp_path: Path
) -> None:
    driver.get(f"{live_server.url}/api/docs")
    wait = WebDriverWait(driver, 30)
    title = wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, ".swagger-ui .info .title")))
    assert "dockhand API" in title.text
    wait.until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) > 40)
    sync = driver.find_element(By.CSS_SELECTOR, "#operations-stacks-git_stacks_sync_create")
    sync.find_element(By.CSS_SELECTOR, ".opblock-summary").click()
    wait.until(lambda d: "deploymentId" in sync.text)  # the 200 answer's shape, shown
    assert "Authorize" in driver.find_element(By.CSS_SELECTOR, ".auth-wrapper").text
    driver.execute_script("window.scrollTo(0, 0)")
    for name, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        path = tmp_path / f"api-docs-{name}-{width}x{height}.png"
        driver.save_screenshot(str(path))
        print(f"screenshot: {path}")
    problems = _console(driver)
    assert not [p for p in problems if "Content Security Policy" in p or "Refused to" in p], problems
    assert not problems, problems
