"""Under the Content-Security-Policy, in a real browser: every main page loads without
a violation in the console, and what runs in the page still works — HTMX (the stacks
list's polling, the cron preview), the live output over the WebSocket, the page
scripts (auto-submitting filters, the back button), the admin."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import GIT_TOKEN, GIT_USER, need, slow_compose_file, unique_stack_name
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "csp-Admin-pass-3391"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, docker_image: str) -> Iterator[Product]:
    need("make", shutil.which("make") is not None)
    with running_product(tmp_path_factory.mktemp("csp-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def stack(product: Product, git_server: Any) -> Iterator[dict[str, Any]]:
    """A stack whose deploy takes a few seconds and prints along the way."""
    api = ApiClient(product.url, "admin", ADMIN_PASSWORD)
    repo = git_server.create_repo(f"csp-{uuid.uuid4().hex[:8]}", {"compose.yaml": slow_compose_file(seconds=5)})
    cred = api.post(
        "/api/git/credentials",
        {
            "name": "csp",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
    ).json()
    created = api.post(
        "/api/git/stacks", {"stackName": unique_stack_name(), "url": repo.url, "credentialId": cred["id"]}
    ).json()
    yield created
    dockersupport.remove_project(created["projectName"])


def _wait(driver: WebDriver, timeout: float = 20) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])


def _violations(driver: WebDriver) -> list[str]:
    """What the console said about the policy since the last look (reading empties it)."""
    return [
        entry["message"]
        for entry in driver.get_log("browser")
        if "Content Security Policy" in entry["message"] or "Refused to" in entry["message"]
    ]


def _log_in(driver: WebDriver, base: str) -> None:
    driver.get(f"{base}/login/")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(ec.url_to_be(f"{base}/stacks/"))


def test_the_main_pages_load_without_a_violation(product: Product, driver: WebDriver, stack: dict[str, Any]) -> None:
    base = product.url
    driver.get(f"{base}/login/")
    assert _violations(driver) == []
    _log_in(driver, base)
    pages = [
        "/stacks/",
        "/stacks/new/",
        f"/stacks/{stack['id']}/",
        f"/stacks/{stack['id']}/edit/",
        f"/stacks/{stack['id']}/delete/",
        "/repositories/",
        "/credentials/",
        "/environments/",
        "/audit/",
        "/password/",
        "/nowhere/",
        "/admin/",
        "/admin/auth/user/",
        "/admin/auth/user/add/",
    ]
    seen = {}
    for page in pages:
        driver.get(base + page)
        # Scripts are deferred: give them the load, and HTMX its first request.
        _wait(driver).until(lambda d: d.execute_script("return document.readyState") == "complete")
        driver.execute_script("return new Promise((done) => setTimeout(done, 300))")
        seen[page] = _violations(driver)
    assert all(not found for found in seen.values()), seen
    # The Bootstrap icons (data: images in its CSS) were drawn, not refused.
    driver.get(f"{base}/stacks/")
    assert driver.find_element(By.ID, "new-stack").is_displayed()


def test_htmx_and_the_page_scripts_still_work(product: Product, driver: WebDriver, stack: dict[str, Any]) -> None:
    base = product.url
    driver.get(f"{base}/stacks/new/")
    # The cron preview is an HTMX request on load and on input.
    cron = driver.find_element(By.ID, "autoUpdateCron")
    cron.clear()
    cron.send_keys("0 3 * * *")
    _wait(driver).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#next-runs li")) > 0)
    assert "03:00" in driver.find_element(By.ID, "next-runs").text

    # The list polls itself (HTMX replaces the rows), and a filter submits when chosen.
    driver.get(f"{base}/stacks/")
    rows = driver.find_element(By.ID, "stack-rows")
    driver.execute_script("arguments[0].setAttribute('data-marker', '1')", rows)
    _wait(driver, 30).until(
        lambda d: d.execute_script("return document.getElementById('stack-rows').dataset.marker") is None
    )
    Select(driver.find_element(By.NAME, "status")).select_by_index(1)
    _wait(driver).until(ec.url_contains("status="))

    # The confirm page's Cancel goes back where we came from.
    driver.get(f"{base}/stacks/{stack['id']}/")
    driver.get(f"{base}/stacks/{stack['id']}/delete/")
    driver.find_element(By.CSS_SELECTOR, "[data-back]").click()
    _wait(driver).until(ec.url_to_be(f"{base}/stacks/{stack['id']}/"))
    assert _violations(driver) == []


def test_live_output_arrives_over_the_websocket(product: Product, driver: WebDriver, stack: dict[str, Any]) -> None:
    base = product.url
    driver.get(f"{base}/stacks/{stack['id']}/")
    driver.find_element(By.ID, "sync").click()
    _wait(driver).until(ec.url_matches(r"/deployments/\d+/$"))
    output = driver.find_element(By.ID, "output")
    # Lines arrive while the deploy still runs: they came over the socket, not the page.
    _wait(driver, 30).until(lambda d: "migrate" in output.text)
    status = driver.execute_script("return document.querySelector('#status [data-status]').dataset.status")
    assert status in ("queued", "running"), "lines must arrive before the deploy ends"
    _wait(driver, 60).until(lambda d: d.find_element(By.ID, "live-note").text == "Finished.")
    assert driver.find_element(By.CSS_SELECTOR, "#status [data-status]").get_attribute("data-status") == "success"
    assert _violations(driver) == []
