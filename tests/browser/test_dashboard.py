"""A person's path through the dashboard in a real browser, against the real web
server and worker: log in, create credential, repository and stack through the forms,
press Sync, watch the output arrive live, see the result, never see the secret."""

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
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import GIT_TOKEN, GIT_USER, compose_file, need, slow_compose_file, unique_stack_name
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.browser import click
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "browser-Admin-pass-77"
SECRET = "browser-Secret-4d9e1f"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, docker_image: str) -> Iterator[Product]:
    need("make", shutil.which("make") is not None)
    with running_product(tmp_path_factory.mktemp("browser-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


def _wait(driver: WebDriver, timeout: float = 20) -> WebDriverWait[WebDriver]:
    # Live updates replace elements while a condition looks at them: look again.
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])


def _fill(driver: WebDriver, **fields: str) -> None:
    for name, value in fields.items():
        element = driver.find_element(By.NAME, name)
        element.clear()
        element.send_keys(value)


def _ensure_logged_in(driver: WebDriver, base: str) -> None:
    driver.get(f"{base}/stacks/")
    if "/login/" in driver.current_url:
        _fill(driver, username="admin", password=ADMIN_PASSWORD)
        driver.find_element(By.ID, "login").click()
        _wait(driver).until(ec.url_to_be(f"{base}/stacks/"))


def test_a_person_creates_a_stack_syncs_it_and_watches_it_deploy_live(
    product: Product, driver: WebDriver, git_server: Any, docker_image: str, tmp_path: Path
) -> None:
    repo = git_server.create_repo(f"browser-{unique_stack_name()}", {"compose.yaml": slow_compose_file(seconds=6)})
    stack_name = unique_stack_name()
    base = product.url

    # Log in; `next` brings us back to the page we asked for.
    driver.get(f"{base}/credentials/")
    assert "/login/" in driver.current_url
    _fill(driver, username="admin", password=ADMIN_PASSWORD)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(ec.url_to_be(f"{base}/credentials/"))

    # Credential through its form.
    driver.find_element(By.ID, "new-credential").click()
    _fill(driver, name="test-server", username=GIT_USER, token=GIT_TOKEN, urlPrefixes=git_server.prefix)
    Select(driver.find_element(By.NAME, "authType")).select_by_value("token")
    save = driver.find_element(By.ID, "save-credential")  # below the fold since the scope fields
    click(driver, save)
    _wait(driver).until(ec.url_to_be(f"{base}/credentials/"))
    assert "test-server" in driver.page_source and GIT_TOKEN not in driver.page_source

    # Repository through its form, then "test connection".
    driver.get(f"{base}/repositories/new/")
    _fill(driver, url=repo.url, branch="main", name="browser-repo")
    Select(driver.find_element(By.NAME, "credentialId")).select_by_visible_text("test-server")
    driver.find_element(By.ID, "save-repository").click()
    _wait(driver).until(ec.url_to_be(f"{base}/repositories/"))
    driver.find_element(By.CSS_SELECTOR, '[data-test="browser-repo"]').click()
    _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, '[data-ok="1"]')))

    # Stack through its form, picking that repository.
    driver.get(f"{base}/stacks/new/")
    _fill(driver, stackName=stack_name)
    Select(driver.find_element(By.NAME, "repositoryId")).select_by_visible_text(f"browser-repo — {repo.url}")
    save = driver.find_element(By.ID, "save-stack")
    click(driver, save)
    _wait(driver).until(ec.url_matches(r"/stacks/\d+/$"))
    stack_url = driver.current_url

    # A secret override, added with the editor.
    click(driver, driver.find_element(By.ID, "add-env-row"))
    row = driver.find_elements(By.CSS_SELECTOR, "#env-rows tr")[-1]
    row.find_element(By.NAME, "key").send_keys("API_KEY")
    row.find_element(By.NAME, "value").send_keys(SECRET)
    row.find_element(By.NAME, "secret").click()
    save_env = driver.find_element(By.ID, "save-env")  # below the containers section: scrolled to first
    click(driver, save_env)
    _wait(driver).until(ec.url_to_be(stack_url))
    assert SECRET not in driver.page_source

    # Sync: the deployment page shows lines while the deploy is still running.
    driver.find_element(By.ID, "sync").click()
    _wait(driver).until(ec.url_matches(r"/deployments/\d+/$"))
    output = driver.find_element(By.ID, "output")
    _wait(driver, 30).until(lambda d: "migrate" in output.text and "Deploying" in output.text)
    # Found and read in one script: the live status may be replaced between two calls.
    live_status = driver.execute_script("return document.querySelector('#status [data-status]').dataset.status")
    assert live_status in ("queued", "running"), "lines must arrive before the deploy ends"
    _wait(driver, 60).until(
        lambda d: (
            d.find_element(By.CSS_SELECTOR, "#status [data-status]").get_attribute("data-status") != live_status
            and d.find_element(By.ID, "live-note").text == "Finished."
        )
    )
    assert driver.find_element(By.CSS_SELECTOR, "#status [data-status]").get_attribute("data-status") == "success", (
        output.text
    )
    assert "app-1" in output.text
    driver.save_screenshot(str(tmp_path / "deployment.png"))
    assert SECRET not in driver.page_source

    # The secret reached the container, and no page shows it.
    project = stack_name.lower()
    try:
        assert dockersupport.container_env(f"{project}-app-1")["API_KEY"] == SECRET
        for page in (stack_url, f"{base}/stacks/", driver.current_url):
            driver.get(page)
            assert SECRET not in driver.page_source
        driver.get(f"{base}/stacks/")
        row = driver.find_element(By.CSS_SELECTOR, f'tr[data-stack="{stack_name}"]')
        badges = [b.get_attribute("data-status") for b in row.find_elements(By.CSS_SELECTOR, "[data-status]")]
        assert badges[:3] == ["Synced", "Healthy", "success"], badges
    finally:
        dockersupport.remove_project(project)


def test_a_saved_override_shows_the_banner_until_sync_applies_it(
    product: Product, driver: WebDriver, git_server: Any, docker_image: str
) -> None:
    """Saved in the overrides editor, a change is named in a banner with a Sync button;
    pressing it deploys the change, and the stack is Synced without the banner."""
    api = ApiClient(product.url, "admin", ADMIN_PASSWORD)
    repo = git_server.create_repo(f"banner-{unique_stack_name()}", {"compose.yaml": compose_file("1")})
    credential = api.post(
        "/api/git/credentials",
        {
            "name": f"banner-{unique_stack_name()}",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
    ).json()
    created = api.post(
        "/api/git/stacks", {"stackName": unique_stack_name(), "url": repo.url, "credentialId": credential["id"]}
    )
    assert created.status_code == 201, created.text
    stack = created.json()
    stack_url = f"{product.url}/stacks/{stack['id']}/"
    try:
        assert api.post(f"/api/git/stacks/{stack['id']}/sync").json()["deployed"] is True
        _ensure_logged_in(driver, product.url)
        driver.get(stack_url)
        assert not driver.find_elements(By.ID, "pending-changes")

        click(driver, driver.find_element(By.ID, "add-env-row"))
        row = driver.find_elements(By.CSS_SELECTOR, "#env-rows tr")[-1]
        row.find_element(By.NAME, "key").send_keys("PLAIN")
        row.find_element(By.NAME, "value").send_keys("from-the-banner-test")
        save = driver.find_element(By.ID, "save-env")  # below the fold since the containers section
        click(driver, save)
        banner = _wait(driver).until(ec.visibility_of_element_located((By.ID, "pending-changes")))
        assert "Saved changes are not applied yet" in banner.text and "override PLAIN added" in banner.text

        driver.find_element(By.ID, "apply-sync").click()
        _wait(driver).until(ec.url_matches(r"/deployments/\d+/$"))
        _wait(driver, 60).until(lambda d: d.find_element(By.ID, "live-note").text == "Finished.")
        status = driver.execute_script("return document.querySelector('#status [data-status]').dataset.status")
        assert status == "success", driver.find_element(By.ID, "output").text

        driver.get(stack_url)
        assert not driver.find_elements(By.ID, "pending-changes")
        state = driver.find_element(By.CSS_SELECTOR, "#sync-state [data-status]").get_attribute("data-status")
        assert state == "Synced"
        assert dockersupport.container_env(f"{stack['projectName']}-app-1")["PLAIN"] == "from-the-banner-test"
    finally:
        dockersupport.remove_project(stack["projectName"])


def test_the_list_updates_itself_while_a_sync_runs(product: Product, driver: WebDriver) -> None:
    """The stacks list polls with HTMX: a status change shows without a reload."""
    api = ApiClient(product.url, "admin", ADMIN_PASSWORD)
    assert (
        api.post(
            "/api/git/stacks?check=false", {"stackName": unique_stack_name(), "url": "https://git.example.test/x.git"}
        ).status_code
        == 201
    )
    _ensure_logged_in(driver, product.url)
    rows = driver.find_element(By.ID, "stack-rows")
    marker = "polled"
    driver.execute_script("arguments[0].setAttribute('data-marker', arguments[1])", rows, marker)
    # The rows element is replaced by the poll (hx-swap=outerHTML): the marker disappears.
    # Found and read in one script: a poll between a find and a read left a stale element.
    read = "return document.getElementById('stack-rows').getAttribute('data-marker')"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if driver.execute_script(read) != marker:
            break
        time.sleep(0.3)
    assert driver.execute_script(read) != marker


def test_pages_fit_a_phone_screen(product: Product, driver: WebDriver, tmp_path: Path) -> None:
    """At 390 px nothing overflows sideways (tables scroll inside their own box)."""
    _ensure_logged_in(driver, product.url)
    driver.set_window_size(390, 844)
    try:
        for path in ("/stacks/", "/stacks/new/", "/credentials/", "/repositories/", "/environments/"):
            driver.get(product.url + path)
            assert "/login/" not in driver.current_url
            overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{path} is {overflow}px wider than the screen"
        driver.save_screenshot(str(tmp_path / "phone-form.png"))
    finally:
        driver.set_window_size(1280, 1000)
