"""Live pages and the finish, in a real browser against the real product (Daphne,
worker, engine): the deployment header reads running then success and its Cancel goes
without a reload; the stack page's status follows a sync started elsewhere; the list
searches as one types and is a column of cards on a phone, state and actions in sight;
error pages carry the navigation; the credential form shows its type's fields; and the
pages follow the system's dark mode. Screenshots of each page at a laptop's and a
phone's size, light and dark, are saved under the test's tmp dir."""

from __future__ import annotations

import shutil
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
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "live-Admin-pass-5520"
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
# Set once a page has loaded; a reload would lose it.
MARK = "window.__notReloaded = true"
NOT_RELOADED = "return window.__notReloaded === true"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, docker_image: str) -> Iterator[Product]:
    need("make", shutil.which("make") is not None)
    with running_product(tmp_path_factory.mktemp("live-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def api(product: Product) -> ApiClient:
    return ApiClient(product.url, "admin", ADMIN_PASSWORD)


@pytest.fixture(scope="module")
def credential(api: ApiClient, git_server: Any) -> dict[str, Any]:
    body = {
        "name": "live-forge",
        "authType": "token",
        "username": GIT_USER,
        "token": GIT_TOKEN,
        "urlPrefixes": [git_server.prefix],
    }
    made = api.post("/api/git/credentials", body)
    assert made.status_code == 201, made.text
    return dict(made.json())


@pytest.fixture(scope="module")
def projects() -> Iterator[list[str]]:
    made: list[str] = []
    yield made
    for project in made:
        dockersupport.remove_project(project)


@pytest.fixture(scope="module")
def make_stack(api: ApiClient, credential: dict[str, Any], git_server: Any, projects: list[str]) -> Any:
    def make(*, slow: int = 0, name: str = "", branch: str = "main") -> dict[str, Any]:
        files = {"compose.yaml": slow_compose_file(seconds=slow) if slow else compose_file()}
        repo = git_server.create_repo(f"live-{unique_stack_name()}", files)
        body = {"stackName": name or unique_stack_name(), "url": repo.url, "credentialId": credential["id"]}
        if branch != "main":
            body["branch"] = branch
        created = api.post("/api/git/stacks", body)
        assert created.status_code == 201, created.text
        stack = dict(created.json())
        projects.append(stack["projectName"])
        return stack

    return make


def _wait(driver: WebDriver, timeout: float = 20) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])


def _log_in(driver: WebDriver, base: str) -> None:
    driver.get(f"{base}/stacks/")
    if "/login/" in driver.current_url:
        driver.find_element(By.NAME, "username").send_keys("admin")
        driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
        driver.find_element(By.ID, "login").click()
        _wait(driver).until(ec.url_to_be(f"{base}/stacks/"))


def _js(driver: WebDriver, script: str) -> Any:
    """One script finds and reads: live updates replace elements between two calls."""
    return driver.execute_script(script)


def _violations(driver: WebDriver) -> list[str]:
    return [e["message"] for e in driver.get_log("browser") if "Content Security Policy" in e["message"]]


def _sync_in_background(api: ApiClient, stack: dict[str, Any]) -> int:
    started = api.post(f"/api/git/stacks/{stack['id']}/sync?wait=false")
    assert started.status_code == 202, started.text
    return int(started.json()["deploymentId"])


HEADER = """
const badge = document.querySelector('#status [data-status]');
const cancel = document.getElementById('cancel-form');
return {
  status: badge && badge.dataset.status,
  commit: document.getElementById('commit').textContent,
  started: document.getElementById('started').textContent,
  duration: document.getElementById('duration').textContent,
  cancelShown: Boolean(cancel && !cancel.hidden && cancel.offsetParent !== null),
  note: document.getElementById('live-note').textContent,
};
"""


def test_the_deployment_header_reads_running_then_success_without_reload(
    product: Product, driver: WebDriver, api: ApiClient, make_stack: Any, tmp_path: Path
) -> None:
    base = product.url
    _log_in(driver, base)
    driver.set_window_size(*SIZES["desktop"])
    stack = make_stack(slow=8)
    deployment_id = _sync_in_background(api, stack)
    driver.get(f"{base}/deployments/{deployment_id}/")
    _js(driver, MARK)
    first = _js(driver, HEADER)
    assert first["status"] in ("queued", "running"), first
    assert first["cancelShown"], "a run that has not ended offers Cancel"

    running = _wait(driver, 30).until(
        lambda d: (
            (h := _js(d, HEADER))["status"] == "running" and h["commit"] != "—" and h["started"] != "not yet" and h
        )
    )
    assert running["cancelShown"] and running["note"] == "Following live…"
    assert len(running["commit"]) == 12 and running["duration"].endswith("so far")
    title = _js(driver, "return document.querySelector('h1').textContent")
    assert title == "Deployment #1"
    for size, (width, height) in SIZES.items():  # resized, not reloaded
        driver.set_window_size(width, height)
        driver.save_screenshot(str(tmp_path / f"deployment-running-{size}-{width}x{height}.png"))
    driver.set_window_size(*SIZES["desktop"])

    done = _wait(driver, 90).until(lambda d: (h := _js(d, HEADER))["status"] != "running" and h)
    assert done["status"] == "success", _js(driver, "return document.getElementById('output').textContent")
    assert not done["cancelShown"], "Cancel goes when the run ends"
    assert done["note"] == "Finished." and done["duration"].endswith(" s") and "so far" not in done["duration"]
    assert done["commit"] == running["commit"]
    assert _js(driver, NOT_RELOADED), "the header changed without a reload"
    assert _violations(driver) == []


STACK_STATUS = """
const badges = [...document.querySelectorAll('#stack-badges [data-status]')].map((b) => b.dataset.status);
const current = document.getElementById('current-deployment');
return {badges, current: current && current.textContent.trim(), lastSync: document.getElementById('last-sync').textContent,
        commit: document.getElementById('deployed-commit').textContent};
"""


def test_the_stack_page_follows_a_sync_started_elsewhere(
    product: Product, driver: WebDriver, api: ApiClient, make_stack: Any
) -> None:
    base = product.url
    _log_in(driver, base)
    stack = make_stack(slow=6)
    driver.get(f"{base}/stacks/{stack['id']}/")
    _js(driver, MARK)
    before = _js(driver, STACK_STATUS)
    assert before["badges"][0] == "never" and before["current"] is None and before["lastSync"] == "never"

    _sync_in_background(api, stack)  # a push, a schedule, another user: not this page
    busy = _wait(driver, 20).until(lambda d: (s := _js(d, STACK_STATUS))["current"] and s)
    assert busy["badges"][0] in ("queued", "syncing") and "Deployment #1" in busy["current"]
    settled = _wait(driver, 90).until(lambda d: (s := _js(d, STACK_STATUS))["badges"][0] == "success" and s)
    assert settled["current"] is None and settled["lastSync"] == "just now" and settled["commit"] != "—"
    _wait(driver, 20).until(lambda d: _js(d, STACK_STATUS)["badges"][1:] == ["Synced", "Healthy"])
    assert _js(driver, NOT_RELOADED)
    assert _violations(driver) == []


def test_the_list_searches_as_one_types(product: Product, driver: WebDriver, make_stack: Any) -> None:
    base = product.url
    _log_in(driver, base)
    wanted = make_stack(name=f"findme-{unique_stack_name()[2:8]}")
    other = make_stack(name=f"other-{unique_stack_name()[2:8]}")
    driver.get(f"{base}/stacks/")
    _js(driver, MARK)
    listed = "return [...document.querySelectorAll('tr[data-stack]')].map((r) => r.dataset.stack)"
    assert {wanted["stackName"], other["stackName"]} <= set(_js(driver, listed))
    driver.find_element(By.ID, "stack-search").send_keys("findme")
    _wait(driver).until(lambda d: _js(d, listed) == [wanted["stackName"]])
    assert "q=findme" in driver.current_url and _js(driver, NOT_RELOADED)
    # The poll that follows keeps the search.
    driver.execute_script("document.getElementById('stack-rows').dataset.marker = 'old'")
    _wait(driver, 15).until(lambda d: _js(d, "return document.getElementById('stack-rows').dataset.marker") is None)
    assert _js(driver, listed) == [wanted["stackName"]]
    driver.get(f"{base}/stacks/?q=no-such-stack-anywhere")
    assert "No stack matches this search." in driver.find_element(By.ID, "stack-rows").text


CARDS = """
const rows = [...document.querySelectorAll('tr[data-stack]')];
const inView = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.left >= 0 && r.right <= innerWidth + 1; };
return {
  overflow: document.documentElement.scrollWidth - innerWidth,
  listOverflow: document.getElementById('stack-rows').scrollWidth - document.getElementById('stack-rows').clientWidth,
  header: getComputedStyle(document.querySelector('.stack-table thead')).display,
  rows: rows.map((row) => ({
    display: getComputedStyle(row).display,
    state: [...row.querySelectorAll('.stack-state [data-status]')].every(inView),
    action: [...row.querySelectorAll('.stack-actions .btn')].some(inView),
    fits: inView(row),
  })),
};
"""


def test_on_a_phone_the_list_is_cards_with_state_and_actions_in_sight(
    product: Product, driver: WebDriver, make_stack: Any
) -> None:
    base = product.url
    _log_in(driver, base)
    make_stack(name=f"a-rather-long-stack-name-{unique_stack_name()[2:8]}", branch="main")
    driver.set_window_size(*SIZES["phone"])
    try:
        driver.get(f"{base}/stacks/")
        seen = _js(driver, CARDS)
        assert seen["overflow"] <= 1 and seen["listOverflow"] <= 1, seen
        assert seen["header"] == "none" and seen["rows"], seen
        assert all(r["display"] == "block" and r["state"] and r["action"] and r["fits"] for r in seen["rows"]), seen
    finally:
        driver.set_window_size(*SIZES["desktop"])
    assert _js(driver, CARDS)["header"] == "table-header-group"  # a table again on a laptop


def test_error_pages_carry_the_navigation(product: Product, driver: WebDriver) -> None:
    base = product.url
    _log_in(driver, base)
    driver.get(f"{base}/stacks/987654/")
    assert driver.find_element(By.CSS_SELECTOR, "[data-error]").get_attribute("data-error") == "404"
    assert driver.find_element(By.CSS_SELECTOR, "nav.navbar #user-menu").is_displayed()
    driver.find_element(By.LINK_TEXT, "Stacks").click()
    _wait(driver).until(ec.url_to_be(f"{base}/stacks/"))


FIELDS = "return [...document.querySelectorAll('#credential-form [name]')].filter((f) => f.offsetParent !== null && !f.disabled && f.type !== 'hidden').map((f) => f.name)"


def test_the_credential_form_shows_the_fields_of_its_type(product: Product, driver: WebDriver) -> None:
    base = product.url
    _log_in(driver, base)
    driver.get(f"{base}/credentials/new/")
    kind = Select(driver.find_element(By.ID, "authType"))
    scope = ["urlPrefixes", "environmentIds"]
    assert _js(driver, FIELDS) == ["name", "authType", "username", "token", *scope, "allowPlainHttp"]
    kind.select_by_value("ssh")
    assert _js(driver, FIELDS) == ["name", "authType", "sshPrivateKey", "sshPassphrase", "sshKnownHosts", *scope]
    kind.select_by_value("password")
    assert _js(driver, FIELDS) == ["name", "authType", "username", "password", *scope, "allowPlainHttp"]
    kind.select_by_value("none")
    assert _js(driver, FIELDS) == ["name", "authType", *scope]


def _dark(driver: WebDriver, on: bool) -> None:
    """What the system's setting says, as the browser tells the page."""
    value = "dark" if on else "light"
    driver.execute_cdp_cmd(
        "Emulation.setEmulatedMedia", {"features": [{"name": "prefers-color-scheme", "value": value}]}
    )


def test_screenshots_light_and_dark_at_both_sizes(
    product: Product, driver: WebDriver, api: ApiClient, make_stack: Any, tmp_path: Path
) -> None:
    base = product.url
    _log_in(driver, base)
    stack = make_stack()
    deployed = api.post(f"/api/git/stacks/{stack['id']}/sync").json()
    assert deployed["deployed"], deployed
    make_stack()  # never synced: another state in the list
    pages = {
        "list": "/stacks/",
        "stack": f"/stacks/{stack['id']}/",
        "deployment": f"/deployments/{deployed['deploymentId']}/",
        "credential-form": "/credentials/new/",
        "error-404": "/stacks/987654/",
    }
    try:
        for mode in ("light", "dark"):
            _dark(driver, mode == "dark")
            for name, path in pages.items():
                for size, (width, height) in SIZES.items():
                    driver.set_window_size(width, height)
                    driver.get(base + path)
                    theme = _js(driver, "return document.documentElement.dataset.bsTheme")
                    assert theme == mode, f"{name}: the page follows the system's {mode} mode"
                    overflow = _js(driver, "return document.documentElement.scrollWidth - innerWidth")
                    assert overflow <= 1, f"{name} is {overflow}px wider than a {width}px screen"
                    driver.save_screenshot(str(tmp_path / f"{name}-{mode}-{size}-{width}x{height}.png"))
        assert _violations(driver) == []
    finally:
        _dark(driver, False)
        driver.set_window_size(*SIZES["desktop"])
    assert len(list(tmp_path.glob("*.png"))) == len(pages) * 2 * 2
