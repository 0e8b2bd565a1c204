"""The account pages in a real browser, against the real product: a token made from
the page, read once, used against the API, revoked from the page (then 401); and a
screenshot of every new page at a laptop's and a phone's size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import need
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "accounts-Admin-pass-31"
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    need("a Docker engine", dockersupport.engine_available())  # /api/health asks it
    with running_product(tmp_path_factory.mktemp("accounts-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


def _wait(driver: WebDriver, timeout: float = 20) -> WebDriverWait[WebDriver]:
    return WebDriverWait(driver, timeout, ignored_exceptions=[StaleElementReferenceException])


class Shots:
    """Screenshots under the test's tmp dir, at each size; at a phone's width nothing
    may stick out sideways (tables scroll inside their own box)."""

    def __init__(self, driver: WebDriver, folder: Path) -> None:
        self.driver, self.folder, self.paths = driver, folder, []  # type: list[Path]

    def take(self, name: str, *, before: str = "") -> None:
        """Both sizes of the page now open; `before` is a script run after each resize
        (opening a menu)."""
        url = self.driver.current_url
        for size, (width, height) in SIZES.items():
            self.driver.set_window_size(width, height)
            self.driver.get(url)
            if before:
                self.driver.execute_script(before)
            overflow = self.driver.execute_script("return document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"{name} is {overflow}px wider than a {width}px screen"
            path = self.folder / f"{name}-{size}-{width}x{height}.png"
            self.driver.save_screenshot(str(path))
            self.paths.append(path)
        self.driver.set_window_size(*SIZES["desktop"])
        self.driver.get(url)  # as it was: nothing left open


def _bearer(product: Product, raw: str) -> int:
    response = requests.get(f"{product.url}/api/git/stacks", headers={"Authorization": f"Bearer {raw}"}, timeout=10)
    return response.status_code


def test_a_token_made_read_once_used_and_revoked_from_the_pages(
    product: Product, driver: WebDriver, tmp_path: Path
) -> None:
    base = product.url
    shots = Shots(driver, tmp_path)
    driver.set_window_size(*SIZES["desktop"])

    driver.get(f"{base}/tokens/")
    assert "/login/" in driver.current_url
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(ec.url_to_be(f"{base}/tokens/"))
    assert "You have no API tokens yet" in driver.page_source

    # The user menu: a Bootstrap dropdown, reached from every page.
    driver.get(f"{base}/stacks/")
    driver.find_element(By.ID, "user-menu").click()
    menu = _wait(driver).until(ec.visibility_of_element_located((By.CSS_SELECTOR, "#user-menu + .dropdown-menu")))
    assert [a.text for a in menu.find_elements(By.CSS_SELECTOR, "a.dropdown-item")] == [
        "Password",
        "API tokens",
        "Users",
    ]
    assert menu.find_element(By.ID, "logout").text == "Log out"
    open_menu = (
        "const t = document.querySelector('.navbar-toggler');"
        "if (getComputedStyle(t).display !== 'none') document.getElementById('nav').classList.add('show');"
        "bootstrap.Dropdown.getOrCreateInstance(document.getElementById('user-menu')).show();"
    )
    shots.take("user-menu", before=open_menu)
    driver.find_element(By.ID, "user-menu").click()
    _wait(driver).until(ec.element_to_be_clickable((By.LINK_TEXT, "API tokens"))).click()
    _wait(driver).until(ec.url_to_be(f"{base}/tokens/"))

    # Create: the form, then the token on the next page, this once.
    driver.find_element(By.ID, "new-token").click()
    _wait(driver).until(ec.url_to_be(f"{base}/tokens/new/"))
    shots.take("token-form")
    driver.find_element(By.NAME, "name").send_keys("browser-ci")
    driver.find_element(By.CSS_SELECTOR, 'input[name="scope"][value="deploy:read"]').click()
    driver.find_element(By.ID, "create-token").click()
    field = _wait(driver).until(ec.presence_of_element_located((By.ID, "token-value")))
    raw = field.get_attribute("value") or ""
    assert raw.startswith("dh_") and len(raw) > 40
    driver.find_element(By.ID, "copy-token").click()
    _wait(driver, 5).until(ec.text_to_be_present_in_element((By.ID, "copy-token"), "Copied"))
    # Shot once Bootstrap's colour transition has ended: white on green.
    colour = "return getComputedStyle(document.getElementById('copy-token')).color"
    _wait(driver, 5).until(lambda d: d.execute_script(colour) == "rgb(255, 255, 255)")
    driver.save_screenshot(str(tmp_path / "token-created-desktop-1366x900.png"))
    driver.set_window_size(*SIZES["phone"])  # not reloaded: a reload would post the form again
    driver.save_screenshot(str(tmp_path / "token-created-phone-390x844.png"))
    driver.set_window_size(*SIZES["desktop"])
    shots.paths += [tmp_path / "token-created-desktop-1366x900.png", tmp_path / "token-created-phone-390x844.png"]

    # It works against the API, and the list shows it used, never its value.
    assert _bearer(product, raw) == 200
    driver.find_element(By.ID, "done").click()
    _wait(driver).until(ec.url_to_be(f"{base}/tokens/"))
    row = driver.find_element(By.CSS_SELECTOR, 'tr[data-token="browser-ci"]')
    assert (
        raw[:7] in row.text and "Read" in row.text and "never" not in row.find_element(By.CLASS_NAME, "last-used").text
    )
    assert raw not in driver.page_source
    shots.take("token-list")

    # Revoke, after a confirmation: the token answers 401 from then on.
    driver.find_element(By.CSS_SELECTOR, 'tr[data-token="browser-ci"] a.revoke').click()
    _wait(driver).until(ec.url_matches(r"/tokens/\d+/revoke/$"))
    shots.take("token-revoke")
    driver.find_element(By.ID, "confirm-revoke").click()
    _wait(driver).until(ec.url_to_be(f"{base}/tokens/"))
    assert "Token browser-ci revoked." in driver.page_source
    assert not driver.find_elements(By.CSS_SELECTOR, 'tr[data-token="browser-ci"]')
    assert _bearer(product, raw) == 401

    # The other new pages, with something in them.
    api = ApiClient(base, "admin", ADMIN_PASSWORD)
    created = api.post("/api/users", {"username": "erin", "password": "erin-Pass-80413"})
    assert created.status_code == 201, created.text
    local = next(e for e in api.get("/api/environments").json() if e["name"] == "local")
    added = api.post(f"/api/environments/{local['id']}/members", {"username": "erin", "role": "deployer"})
    assert added.status_code == 201, added.text
    for name, path in (
        ("users", "/users/"),
        ("user-new", "/users/new/"),
        ("user-detail", f"/users/{created.json()['id']}/"),
        ("environments", "/environments/"),
        ("members", f"/environments/{local['id']}/members/"),
    ):
        driver.get(base + path)
        assert "/login/" not in driver.current_url and "Not allowed" not in driver.title
        shots.take(name)
    for path in shots.paths:
        assert path.stat().st_size > 0
        print(f"screenshot: {path}")
