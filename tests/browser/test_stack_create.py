"""Creating a stack in a real browser, against the real product and a real git server:
the URL typed offers the remote's branches, a wrong branch is refused at create naming
the branches there, one is picked and the stack is created. Screenshots of the form
with the branch list and with the refusal at a laptop's and a phone's width."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

from tests.conftest import GIT_TOKEN, GIT_USER, compose_file, need, unique_stack_name
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.browser import click
from tests.support.gitserver import git as run_git
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "create-Admin-pass-58"
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    need("a Docker engine", dockersupport.engine_available())  # /api/health asks it
    with running_product(tmp_path_factory.mktemp("create-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


def _wait(driver: WebDriver, timeout: float = 20) -> WebDriverWait[WebDriver]:
    # The live check replaces the feedback under the fields while a condition reads it.
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])


def _shots(driver: WebDriver, folder: Path, name: str, show: str, *, wide: str = "") -> None:
    """The page as it is now (no reload: what the live check put there stays), at each
    width, scrolled to `show` (to `wide` on a laptop, where more fits); nothing may
    stick out sideways."""
    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        driver.execute_script(
            "document.getElementById(arguments[0]).scrollIntoView({block: 'start', behavior: 'instant'});"
            "window.scrollBy(0, -16)",
            wide if wide and size == "desktop" else show,
        )
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"{name} is {overflow}px wider than a {width}px screen"
        driver.save_screenshot(str(folder / f"{name}-{size}-{width}x{height}.png"))
    driver.set_window_size(*SIZES["desktop"])


def _offered(driver: WebDriver, field: str) -> list[str]:
    return [
        b.get_attribute("data-value") or "" for b in driver.find_elements(By.CSS_SELECTOR, f'[data-fill="{field}"]')
    ]


def test_a_wrong_branch_is_refused_at_create_with_the_branches_offered(
    product: Product, driver: WebDriver, git_server: Any, tmp_path: Path
) -> None:
    shots = tmp_path
    api = ApiClient(product.url, "admin", ADMIN_PASSWORD)
    credential = {"authType": "token", "username": GIT_USER, "token": GIT_TOKEN, "urlPrefixes": [git_server.prefix]}
    assert api.post("/api/git/credentials", {"name": "git-server", **credential}).status_code == 201
    repo = git_server.create_repo(
        f"create-{uuid.uuid4().hex[:8]}", {"compose.yaml": compose_file(), "deploy/compose.prod.yaml": compose_file()}
    )
    for branch in ("develop", "release/2"):
        run_git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=repo.work)
    name = unique_stack_name()

    driver.get(f"{product.url}/login/?next=/stacks/new/")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(ec.url_to_be(f"{product.url}/stacks/new/"))
    driver.get_log("browser")  # (what the login page said is not this page's)

    # The URL typed, the credential chosen, the field left: the remote's branches are offered.
    driver.find_element(By.ID, "stackName").send_keys(name)
    Select(driver.find_element(By.ID, "credentialId")).select_by_visible_text("git-server (token)")
    driver.find_element(By.ID, "url").send_keys(repo.url, Keys.TAB)
    _wait(driver).until(lambda d: _offered(d, "branch") == ["main", "develop", "release/2"])
    said = driver.find_element(By.ID, "url-check").text
    assert "The remote answered: 3 branches, default main" in said
    assert "main is at " in driver.find_element(By.ID, "branch-check").text
    options = driver.find_elements(By.CSS_SELECTOR, "#branch-options option")
    assert [o.get_attribute("value") for o in options] == ["main", "develop", "release/2"]
    _shots(driver, shots, "stack-form-branches", "repository-fields")

    # A wrong branch, submitted: refused, the branches named, what was typed kept.
    branch = driver.find_element(By.ID, "branch")
    branch.send_keys("mian")
    click(driver, driver.find_element(By.ID, "save-stack"))
    refusal = _wait(driver).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, '#branch-check [data-error-for="branch"]'))
    )
    assert refusal.text == "no branch 'mian'; the remote has: main, develop, release/2"
    assert driver.current_url == f"{product.url}/stacks/new/"
    assert "is-invalid" in (driver.find_element(By.ID, "branch").get_attribute("class") or "")
    assert driver.find_element(By.ID, "branch").get_attribute("value") == "mian"
    assert driver.find_element(By.ID, "stackName").get_attribute("value") == name
    assert driver.find_element(By.ID, "url").get_attribute("value") == repo.url
    assert driver.find_element(By.ID, "source-refused").is_displayed()
    assert _offered(driver, "branch") == ["main", "develop", "release/2"]
    _shots(driver, shots, "stack-form-wrong-branch", "repository-fields", wide="source-refused")
    assert api.get("/api/git/stacks").json() == []

    # One picked: the field is filled, asked about again, no longer marked; then created.
    click(driver, driver.find_element(By.CSS_SELECTOR, '[data-fill="branch"][data-value="develop"]'))
    _wait(driver).until(lambda d: "develop is at " in d.find_element(By.ID, "branch-check").text)
    assert "is-invalid" not in (driver.find_element(By.ID, "branch").get_attribute("class") or "")
    assert "Found on develop" in driver.find_element(By.ID, "composePath-check").text
    # An override given on the create form, a secret one too.
    for key, value, secret in (("MODE", "prod", False), ("API_KEY", "create-Secret-81", True)):
        click(driver, driver.find_element(By.ID, "add-env-row"))
        row = driver.find_elements(By.CSS_SELECTOR, "#env-rows .env-row")[-1]
        row.find_element(By.NAME, "key").send_keys(key)
        row.find_element(By.NAME, "value").send_keys(value)
        if secret:
            row.find_element(By.NAME, "secret").click()
    _shots(driver, shots, "stack-form-overrides", "overrides")
    click(driver, driver.find_element(By.ID, "save-stack"))
    _wait(driver).until(ec.url_matches(r"/stacks/\d+/$"))
    created = api.get("/api/git/stacks").json()
    assert [(s["stackName"], s["branch"], s["composePath"]) for s in created] == [(name, "develop", "compose.yaml")]
    assert [(v["key"], v["value"], v["isSecret"]) for v in created[0]["envVars"]] == [
        ("MODE", "prod", False),
        ("API_KEY", None, True),
    ]
    # The edit form holds the same fields, and asks when one of them changes.
    driver.get(f"{product.url}/stacks/{created[0]['id']}/edit/")
    driver.find_element(By.ID, "composePath").send_keys(Keys.BACKSPACE, Keys.TAB)
    _wait(driver).until(lambda d: _offered(d, "composePath") == ["compose.yaml", "deploy/compose.prod.yaml"])
    assert driver.find_element(By.CSS_SELECTOR, '[data-error-for="composePath"]').text.startswith(
        "no compose.yam at the root of develop; compose files found: compose.yaml, deploy/compose.prod.yaml"
    )
    _shots(driver, shots, "stack-edit-form-compose", "repository-fields")
    refused = [e["message"] for e in driver.get_log("browser") if "Refused to" in e["message"]]
    assert refused == [], "the live check runs under the Content-Security-Policy"
