"""The stack form's forge picker in a real browser, against the real product and a
local forge in GitHub's documented shape (tests/support/forge.py: no real forge is
reachable here): list the account's repositories, page, search, pick one and a branch,
and the URL and branch fields are filled. Screenshots at a laptop's and a phone's size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import need
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.browser import click
from tests.support.forge import ForgeServer
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "forge-Admin-pass-77"
TOKEN = "forge-Token-ui-4411"
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
REPOS = {f"octo/service-{i:02d}": ["main", "release"] for i in range(23)} | {
    "octo/shop": ["trunk", "next", "feature/cart"]
}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    need("a Docker engine", dockersupport.engine_available())
    with running_product(tmp_path_factory.mktemp("forge-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


@pytest.fixture
def forge_server() -> Iterator[ForgeServer]:
    server = ForgeServer(kind="github", token=TOKEN, repos=REPOS)
    yield server
    server.stop()


def _wait(driver: WebDriver, timeout: float = 20) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])


def _names(driver: WebDriver, list_id: str) -> list[str]:
    return [e.text for e in driver.find_elements(By.CSS_SELECTOR, f"#{list_id} button .mono")]


def _open(driver: WebDriver, url: str) -> None:
    """The page, logged in as the admin first when the browser is not (yet)."""
    driver.get(url)
    if "/login/" in driver.current_url:
        driver.find_element(By.NAME, "username").send_keys("admin")
        driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
        driver.find_element(By.ID, "login").click()
        _wait(driver).until(ec.url_to_be(url))


def _open_picker(driver: WebDriver, forge_server: ForgeServer) -> None:
    click(driver, driver.find_element(By.ID, "forge-browse-toggle"))
    api_url = driver.find_element(By.ID, "forge-api-url")
    api_url.clear()
    api_url.send_keys(forge_server.api_url)
    click(driver, driver.find_element(By.ID, "forge-list"))
    _wait(driver).until(lambda d: len(_names(d, "forge-repos")) == 20)


def test_a_repository_and_branch_picked_from_the_forge_fill_the_form(
    product: Product, driver: WebDriver, forge_server: ForgeServer, tmp_path: Path
) -> None:
    base = product.url
    ApiClient(base, "admin", ADMIN_PASSWORD).post(
        "/api/git/credentials",
        {"name": "octo-token", "authType": "token", "token": TOKEN, "urlPrefixes": [forge_server.prefix]},
    ).raise_for_status()
    driver.set_window_size(*SIZES["desktop"])
    _open(driver, f"{base}/stacks/new/")
    assert not driver.find_element(By.ID, "forge-browser").is_displayed()

    _open_picker(driver, forge_server)
    assert _names(driver, "forge-repos")[0] == "octo/service-00"
    click(driver, driver.find_element(By.ID, "forge-next"))
    _wait(driver).until(lambda d: "octo/shop" in _names(d, "forge-repos"))
    assert driver.find_element(By.ID, "forge-page").text == "Page 2"
    assert not driver.find_element(By.ID, "forge-next").is_enabled()

    search = driver.find_element(By.ID, "forge-search")
    search.send_keys("shop")
    click(driver, driver.find_element(By.ID, "forge-list"))
    _wait(driver).until(lambda d: _names(d, "forge-repos") == ["octo/shop"])
    click(driver, driver.find_element(By.CSS_SELECTOR, "#forge-repos button"))
    _wait(driver).until(lambda d: _names(d, "forge-branches") == ["trunk", "next", "feature/cart"])
    assert driver.find_element(By.ID, "url").get_attribute("value") == "https://forge.example.test/octo/shop.git"
    assert driver.find_element(By.ID, "branch").get_attribute("value") == "trunk"  # its default
    click(driver, driver.find_elements(By.CSS_SELECTOR, "#forge-branches button")[2])
    assert driver.find_element(By.ID, "branch").get_attribute("value") == "feature/cart"
    assert all(r.authorized for r in forge_server.requests)
    assert TOKEN not in driver.page_source

    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        driver.get(f"{base}/stacks/new/")
        _open_picker(driver, forge_server)
        click(driver, driver.find_element(By.CSS_SELECTOR, "#forge-repos button"))
        _wait(driver).until(lambda d: len(_names(d, "forge-branches")) == 2)
        driver.execute_script("document.getElementById('forge-browser').scrollIntoView({behavior: 'instant'})")
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the picker is {overflow}px wider than a {width}px screen"
        driver.save_screenshot(str(tmp_path / f"forge-picker-{size}-{width}x{height}.png"))
    driver.set_window_size(*SIZES["desktop"])


def test_a_refusal_is_said_in_the_picker(product: Product, driver: WebDriver, forge_server: ForgeServer) -> None:
    _open(driver, f"{product.url}/stacks/new/")
    click(driver, driver.find_element(By.ID, "forge-browse-toggle"))
    driver.find_element(By.ID, "forge-api-url").send_keys("https://other.example.test/api")
    click(driver, driver.find_element(By.ID, "forge-list"))
    failure = _wait(driver).until(ec.visibility_of_element_located((By.ID, "forge-error")))
    assert failure.text.startswith("credentialId:")
    assert forge_server.requests == []


def test_the_repository_form_offers_commit_statuses(product: Product, driver: WebDriver, tmp_path: Path) -> None:
    for size, (width, height) in SIZES.items():
        driver.set_window_size(width, height)
        _open(driver, f"{product.url}/repositories/new/")
        fields = driver.find_element(By.ID, "forge-fields")
        assert [o.text for o in fields.find_elements(By.CSS_SELECTOR, "#forge option")] == [
            "None",
            "GitHub",
            "GitLab",
            "Gitea / Forgejo",
        ]
        driver.execute_script("arguments[0].scrollIntoView({behavior: 'instant'})", fields)
        overflow = driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 1, f"the repository form is {overflow}px wider than a {width}px screen"
        driver.save_screenshot(str(tmp_path / f"repository-form-{size}-{width}x{height}.png"))
    driver.set_window_size(*SIZES["desktop"])
