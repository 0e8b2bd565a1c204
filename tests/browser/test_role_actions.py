"""The stack page follows the role and asks before it disrupts, in a real browser against
the real product and engine: a viewer is offered no action; an owner's Stop opens a modal
naming the stack, Cancel leaves the containers running, Confirm stops them. Screenshots
of the page as a viewer, a deployer of a locked environment and an owner, and of the
open modal, at a laptop's and a phone's size."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import GIT_TOKEN, GIT_USER, compose_file, need, unique_stack_name
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.product import ApiClient, Product, running_product, wait_until

ADMIN_PASSWORD = "roles-Admin-pass-6127"
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
ACTIONS = ("sync", "force-sync", "rollback", "stop", "start", "restart", "down", "edit", "delete", "save-env")


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, docker_image: str) -> Iterator[Product]:
    need("make", shutil.which("make") is not None)
    with running_product(tmp_path_factory.mktemp("roles-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


@pytest.fixture
def deployed(product: Product, git_server: Any) -> Iterator[dict[str, Any]]:
    """A stack named web-frontend-…, deployed: its container runs on the engine."""
    api = ApiClient(product.url, "admin", ADMIN_PASSWORD)
    repo = git_server.create_repo(f"roles-{unique_stack_name()}", {"compose.yaml": compose_file("1")})
    credential = api.post(
        "/api/git/credentials",
        {
            "name": f"roles-{unique_stack_name()}",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
    ).json()
    created = api.post(
        "/api/git/stacks",
        {"stackName": f"web-frontend-{unique_stack_name()}", "url": repo.url, "credentialId": credential["id"]},
    )
    assert created.status_code == 201, created.text
    stack = created.json()
    try:
        assert api.post(f"/api/git/stacks/{stack['id']}/sync").json()["deployed"] is True
        yield stack
    finally:
        dockersupport.remove_project(stack["projectName"])


def _wait(driver: WebDriver, timeout: float = 20) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])


def _log_in(driver: WebDriver, base: str, username: str, password: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/login/")
    driver.find_element(By.NAME, "username").send_keys(username)
    driver.find_element(By.NAME, "password").send_keys(password)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(ec.url_to_be(f"{base}/stacks/"))


def _states(stack: dict[str, Any]) -> list[str]:
    return [c["State"] for c in dockersupport.containers(stack["projectName"])]


def _shots(driver: WebDriver, folder: Path, name: str, *, before: str = "") -> list[Path]:
    """The page now open at both sizes (reloaded after each resize; `before` then runs,
    e.g. to open a modal); nothing may stick out sideways on a phone."""
    url, paths = driver.current_url, []
    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        driver.get(url)
        if before:
            driver.execute_script(before)
            time.sleep(0.5)  # Bootstrap's fade
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} is {overflow}px wider than a {width}px screen"
        path = folder / f"{name}-{size}-{width}x{height}.png"
        driver.save_screenshot(str(path))
        paths.append(path)
    driver.set_window_size(*SIZES["desktop"])
    driver.get(url)
    return paths


def test_a_viewer_is_offered_nothing_and_stop_asks_before_it_stops(
    product: Product, driver: WebDriver, deployed: dict[str, Any], tmp_path: Path
) -> None:
    base, stack = product.url, deployed
    page = f"{base}/stacks/{stack['id']}/"
    api = ApiClient(base, "admin", ADMIN_PASSWORD)
    local = next(e for e in api.get("/api/environments").json() if e["name"] == "local")
    for name, role in (("vera", "viewer"), ("dora", "deployer")):
        assert api.post("/api/users", {"username": name, "password": f"{name}-Pass-55107"}).status_code == 201
        added = api.post(f"/api/environments/{local['id']}/members", {"username": name, "role": role})
        assert added.status_code == 201, added.text
    shots: list[Path] = []

    # A viewer: the state and the history, no button that would only end in a refusal.
    _log_in(driver, base, "vera", "vera-Pass-55107")
    driver.get(page)
    assert stack["stackName"] in driver.find_element(By.TAG_NAME, "h1").text
    offered = [key for key in ACTIONS if driver.find_elements(By.ID, key)]
    assert offered == [], f"a viewer is offered {offered}"
    # (the container log viewer is a modal a viewer may open; no stack action's is there)
    assert not driver.find_elements(By.CSS_SELECTOR, '.modal[id^="modal-"], [data-rollback], #env-editor')
    assert driver.find_element(By.ID, "env-readonly").is_displayed()
    shots += _shots(driver, tmp_path, "stack-viewer")

    # A deployer of a locked environment: Sync shown disabled, saying why.
    assert api.session.put(f"{base}/api/environments/{local['id']}", json={"protection": "locked"}).ok
    try:
        _log_in(driver, base, "dora", "dora-Pass-55107")
        driver.get(page)
        assert not driver.find_element(By.ID, "sync").is_enabled()
        hint = driver.find_element(By.ID, "action-hints").text
        assert "Environment local is locked: only an owner deploys to it" in hint
        shots += _shots(driver, tmp_path, "stack-deployer-locked")
    finally:
        assert api.session.put(f"{base}/api/environments/{local['id']}", json={"protection": "none"}).ok

    # The owner: everything, and Stop asks first.
    _log_in(driver, base, "admin", ADMIN_PASSWORD)
    driver.get(page)
    assert all(driver.find_elements(By.ID, key) for key in ACTIONS if key != "start")
    shots += _shots(driver, tmp_path, "stack-owner")
    for key in ("stop", "down", "delete"):
        opened = f"bootstrap.Modal.getOrCreateInstance(document.getElementById('modal-{key}')).show()"
        shots += _shots(driver, tmp_path, f"stack-{key}-modal", before=opened)

    assert _states(stack) == ["running"]
    driver.find_element(By.ID, "stop").click()
    modal = _wait(driver).until(ec.visibility_of_element_located((By.ID, "modal-stop")))
    assert driver.current_url == page  # the button posted nothing
    assert f"Stop stops every container of {stack['stackName']}; it stays stopped" in modal.text
    assert stack["stackName"] in modal.find_element(By.CLASS_NAME, "modal-title").text
    _wait(driver).until(ec.element_to_be_clickable((By.ID, "cancel-stop"))).click()
    _wait(driver).until(ec.invisibility_of_element_located((By.ID, "modal-stop")))
    time.sleep(2)  # had anything been posted, compose would be stopping the container by now
    assert driver.current_url == page and _states(stack) == ["running"]
    assert not driver.find_elements(By.ID, "stopped")

    # Escape dismisses it too; then Confirm stops the stack for real.
    driver.find_element(By.ID, "stop").click()
    _wait(driver).until(ec.visibility_of_element_located((By.ID, "modal-stop")))
    driver.find_element(By.ID, "modal-stop").send_keys("\ue00c")  # Escape
    _wait(driver).until(ec.invisibility_of_element_located((By.ID, "modal-stop")))
    assert _states(stack) == ["running"]
    driver.find_element(By.ID, "stop").click()
    _wait(driver).until(ec.element_to_be_clickable((By.ID, "confirm-stop"))).click()
    _wait(driver, 60).until(ec.visibility_of_element_located((By.ID, "stopped")))
    assert driver.current_url == page
    wait_until("the container stopped", lambda: _states(stack) == ["exited"], 30)
    assert driver.find_element(By.ID, "start").is_displayed()  # and Start (no question) brings it back

    # The modals are Bootstrap's data attributes: nothing inline for the policy to refuse.
    refused = [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]
    assert refused == []
    for path in shots:
        assert path.stat().st_size > 0
        print(f"screenshot: {path}")


def test_without_javascript_the_buttons_post_nothing_themselves(
    product: Product, deployed: dict[str, Any], tmp_path: Path
) -> None:
    """No script: Stop shows its confirmation as the page's #target, Cancel closes it,
    and only the confirmation's own button stops the stack."""
    need("Chromium and chromedriver", browsersupport.available())
    plain = browsersupport.start(javascript=False)
    try:
        base, stack = product.url, deployed
        page = f"{base}/stacks/{stack['id']}/"
        _log_in(plain, base, "admin", ADMIN_PASSWORD)
        plain.get(page)
        assert not plain.find_element(By.ID, "modal-stop").is_displayed()
        plain.find_element(By.ID, "stop").click()
        assert plain.current_url == f"{page}#modal-stop" and plain.find_element(By.ID, "modal-stop").is_displayed()
        plain.save_screenshot(str(tmp_path / "stack-stop-modal-no-javascript.png"))
        plain.find_element(By.ID, "cancel-stop").click()
        assert not plain.find_element(By.ID, "modal-stop").is_displayed()
        time.sleep(2)
        assert _states(stack) == ["running"]
        plain.find_element(By.ID, "stop").click()
        plain.find_element(By.ID, "confirm-stop").click()
        _wait(plain, 60).until(ec.presence_of_element_located((By.ID, "stopped")))
        wait_until("the container stopped", lambda: _states(stack) == ["exited"], 30)
        # Delete, where the modal cannot open, leads to the page that asks.
        plain.find_element(By.ID, "delete").click()
        _wait(plain).until(ec.url_to_be(f"{page}delete/"))
        assert plain.find_element(By.ID, "confirm-delete").is_displayed()
        print(f"screenshot: {tmp_path / 'stack-stop-modal-no-javascript.png'}")
    finally:
        plain.quit()
