"""A stack's containers on its page, in a real browser against the real product and
engine: state, uptime, CPU and memory filled in without a reload; a container's log
opened, a line printed by the container appearing live (secret masked), filtered,
stamped and downloadable; Stop asks first and does nothing when dismissed; a viewer is
offered the logs and no action. Screenshots at a laptop's and a phone's size."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from dockhand.masking import MASK
from tests.conftest import GIT_TOKEN, GIT_USER, need, unique_stack_name
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.browser import click
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "containers-Admin-pass-58"
VIEWER_PASSWORD = "vera-Pass-55012"
SECRET = "browser-Log-Secret-7e21"
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, docker_image: str) -> Iterator[Product]:
    need("make", shutil.which("make") is not None)
    with running_product(tmp_path_factory.mktemp("containers-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


@pytest.fixture
def stack(product: Product, git_server: Any) -> Iterator[dict[str, Any]]:
    """A deployed stack of two chatty services, a secret override printed in their logs."""
    api = ApiClient(product.url, "admin", ADMIN_PASSWORD)
    repo = git_server.create_repo(
        f"logs-{uuid.uuid4().hex[:8]}", {"compose.yaml": dockersupport.chatty_compose("app", "worker")}
    )
    cred = api.post(
        "/api/git/credentials",
        {
            "name": f"c-{uuid.uuid4().hex[:6]}",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
    ).json()
    created = api.post(
        "/api/git/stacks",
        {
            "stackName": unique_stack_name(),
            "url": repo.url,
            "credentialId": cred["id"],
            "envVars": [{"key": "SECRET", "value": SECRET, "isSecret": True}],
        },
    ).json()
    try:
        synced = api.post(f"/api/git/stacks/{created['id']}/sync")
        assert synced.status_code == 200 and synced.json()["deployed"] is True, synced.text
        yield created
    finally:
        dockersupport.remove_project(created["projectName"])


def _wait(driver: WebDriver, timeout: float = 20) -> WebDriverWait[WebDriver]:
    # HTMX replaces the list every few seconds: look again when an element went stale.
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])


def _log_in(driver: WebDriver, base: str, username: str, password: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(lambda d: "/login/" not in d.current_url)


def _violations(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def _click(driver: WebDriver, css: str) -> None:
    """Click what `css` finds now (the list may have been swapped since it was found)."""

    def clicked(d: WebDriver) -> bool:
        found = d.find_element(By.CSS_SELECTOR, css)
        click(d, found)
        return True

    _wait(driver).until(clicked)


def _measured(driver: WebDriver) -> bool:
    """The list came back over HTMX with uptime, CPU and memory."""
    return bool(driver.find_elements(By.CSS_SELECTOR, '#containers[data-measured="1"]'))


class Shots:
    """Screenshots at both sizes, with no sideways scrolling on the phone."""

    def __init__(self, driver: WebDriver, folder: Path) -> None:
        self.driver, self.folder, self.paths = driver, folder, []  # type: list[Path]

    def take(self, name: str, arrange: Callable[[], None]) -> None:
        for size, (width, height) in SIZES.items():
            self.driver.set_window_size(width, height)
            arrange()
            overflow = self.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} is {overflow}px wider than a {width}px screen"
            path = self.folder / f"{name}-{size}-{width}x{height}.png"
            self.driver.save_screenshot(str(path))
            self.paths.append(path)
        self.driver.set_window_size(*SIZES["desktop"])


def test_a_containers_log_line_appears_live_on_the_stack_page(
    product: Product, driver: WebDriver, stack: dict[str, Any], tmp_path: Path
) -> None:
    base, page = product.url, f"{product.url}/stacks/{stack['id']}/"
    app = f"{stack['projectName']}-app-1"
    shots = Shots(driver, tmp_path)
    driver.set_window_size(*SIZES["desktop"])
    _log_in(driver, base, "admin", ADMIN_PASSWORD)
    driver.get(page)

    # Both containers, running; uptime, CPU and memory come in without a reload.
    rows = driver.find_elements(By.CSS_SELECTOR, "#containers tbody tr")
    assert [r.get_attribute("data-container") for r in rows] == [app, f"{stack['projectName']}-worker-1"]
    _wait(driver).until(_measured)
    row = driver.find_element(By.CSS_SELECTOR, f'#containers tr[data-container="{app}"]')
    assert re.fullmatch(r"\d+\.\d %", row.find_element(By.CSS_SELECTOR, "[data-cpu]").text)
    assert row.find_element(By.CSS_SELECTOR, "[data-container-state]").text == "running"
    memory = row.find_element(By.CSS_SELECTOR, "[data-memory]").text
    assert re.fullmatch(r"[\d.]+\s(bytes|KB|MB|GB)\nof [\d.]+\s(MB|GB|TB)", memory), memory
    assert row.find_element(By.CSS_SELECTOR, "[data-uptime]").text not in ("", "—")

    def section() -> None:
        driver.get(page)
        _wait(driver).until(_measured)
        driver.execute_script("document.getElementById('containers-section').scrollIntoView({block: 'start'})")

    shots.take("stack-containers", section)
    driver.get(page)

    # The log: the lines so far, the secret masked, then a line printed now appears live.
    _click(driver, f'#containers tr[data-container="{app}"] [data-logs]')
    output = _wait(driver).until(ec.visibility_of_element_located((By.ID, "log-output")))
    _wait(driver).until(lambda d: "ready" in output.text)
    assert output.text.splitlines() == [f"booting with {MASK}", "ready"]
    _wait(driver).until(ec.text_to_be_present_in_element((By.ID, "log-state"), "following"))
    marker = f"hello from the browser {uuid.uuid4().hex[:6]}"
    dockersupport.print_line(app, f"{marker} with {SECRET}")
    _wait(driver, 10).until(lambda d: marker in output.text)
    assert output.text.splitlines()[-1] == f"{marker} with {MASK}"
    assert SECRET not in driver.page_source

    # Filter, timestamps, download: what a person reaches for.
    driver.find_element(By.ID, "log-search").send_keys("hello")
    assert output.text.splitlines() == [f"{marker} with {MASK}"]
    assert driver.find_element(By.ID, "log-count").text == "1 of 3 lines"
    driver.find_element(By.ID, "log-timestamps").click()
    assert output.text.startswith("20") and output.text.endswith(f"Z {marker} with {MASK}")
    href = driver.find_element(By.ID, "log-download").get_attribute("href") or ""
    cookies = {c["name"]: c["value"] for c in driver.get_cookies()}
    downloaded = requests.get(href, cookies=cookies, timeout=30)
    assert downloaded.status_code == 200 and "attachment" in downloaded.headers["Content-Disposition"]
    assert downloaded.text.splitlines()[-1].endswith(f"Z {marker} with {MASK}") and SECRET not in downloaded.text
    driver.find_element(By.ID, "log-search").clear()
    driver.find_element(By.ID, "log-timestamps").click()
    _wait(driver).until(lambda d: len(output.text.splitlines()) == 3)

    def viewer() -> None:
        driver.get(page)
        _click(
            driver,
            f'#containers tr[data-container="{app}"] [data-logs]'
            if driver.get_window_size()["width"] > 800
            else f'#container-cards [data-container="{app}"] [data-logs]',
        )
        _wait(driver).until(lambda d: "ready" in d.find_element(By.ID, "log-output").text)
        dockersupport.print_line(app, "another line, live")
        _wait(driver, 10).until(lambda d: "another line, live" in d.find_element(By.ID, "log-output").text)

    shots.take("log-viewer", viewer)

    # Paused, a line printed meanwhile waits; following again brings it, and no line twice.
    output = driver.find_element(By.ID, "log-output")
    before = output.text.splitlines()
    assert before[-1] == "another line, live"
    driver.find_element(By.ID, "log-follow").click()
    _wait(driver).until(ec.text_to_be_present_in_element((By.ID, "log-state"), "paused"))
    dockersupport.print_line(app, "printed while paused")
    driver.execute_script("return new Promise((done) => setTimeout(done, 700))")
    assert "printed while paused" not in output.text
    driver.find_element(By.ID, "log-follow").click()
    _wait(driver, 10).until(lambda d: "printed while paused" in output.text)
    assert output.text.splitlines() == [*before, "printed while paused"], output.text
    driver.find_element(By.CSS_SELECTOR, "#log-viewer .btn-close").click()
    _wait(driver).until(ec.invisibility_of_element_located((By.ID, "log-viewer")))

    # Stop asks first and does nothing when dismissed; confirmed, it stops that container.
    driver.get(page)
    _click(driver, f'#containers tr[data-container="{app}"] [data-confirm-action="stop"]')
    title = _wait(driver).until(ec.visibility_of_element_located((By.ID, "container-confirm-title")))
    assert title.text == f"Stop {app}?"
    driver.find_element(By.CSS_SELECTOR, "#container-confirm .btn-secondary").click()
    _wait(driver).until(ec.invisibility_of_element_located((By.ID, "container-confirm")))
    assert dockersupport.inspect(app)["State"]["Running"] is True  # type: ignore[index]
    _click(driver, f'#containers tr[data-container="{app}"] [data-confirm-action="stop"]')
    _wait(driver).until(ec.element_to_be_clickable((By.ID, "container-confirm-go"))).click()
    _wait(driver, 30).until(lambda d: d.current_url.endswith("#containers-section"))
    assert dockersupport.inspect(app)["State"]["Running"] is False  # type: ignore[index]
    stopped = driver.find_element(By.CSS_SELECTOR, f'#containers tr[data-container="{app}"]')
    assert stopped.get_attribute("data-state") == "exited"
    assert stopped.find_element(By.CSS_SELECTOR, "[data-container-start]").text == "Start"
    shots.take("stack-containers-one-stopped", section)
    _click(driver, f'#containers tr[data-container="{app}"] [data-container-start]')
    _wait(driver, 30).until(lambda d: dockersupport.inspect(app)["State"]["Running"] is True)  # type: ignore[index]
    assert _violations(driver) == []

    # A viewer reads the logs too, and is offered no action.
    api = ApiClient(base, "admin", ADMIN_PASSWORD)
    assert api.post("/api/users", {"username": "vera", "password": VIEWER_PASSWORD}).status_code == 201
    local = next(e for e in api.get("/api/environments").json() if e["name"] == "local")
    assert (
        api.post(f"/api/environments/{local['id']}/members", {"username": "vera", "role": "viewer"}).status_code == 201
    )
    _log_in(driver, base, "vera", VIEWER_PASSWORD)
    driver.get(page)
    _wait(driver).until(_measured)
    section_el = driver.find_element(By.ID, "containers-section")
    buttons = {b.text for b in section_el.find_elements(By.CSS_SELECTOR, "#containers button")}
    assert buttons == {"Logs"}, buttons
    _click(driver, f'#containers tr[data-container="{app}"] [data-logs]')
    _wait(driver).until(lambda d: "ready" in d.find_element(By.ID, "log-output").text)
    assert _violations(driver) == []
    for path in shots.paths:
        assert path.stat().st_size > 0
        print(f"screenshot: {path}")
