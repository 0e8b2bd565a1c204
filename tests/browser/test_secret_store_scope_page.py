"""The secret store pages in a real browser: an owner scopes a store to environments
with the form's checkboxes, and the list says which; screenshots at a laptop's and a
phone's size."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.test_account_pages import Shots
from tests.conftest import need
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "scope-Admin-pass-19"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    need("a Docker engine", dockersupport.engine_available())
    with running_product(tmp_path_factory.mktemp("scope-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


def test_a_store_is_scoped_to_environments_from_its_form(product: Product, driver: WebDriver, tmp_path: Path) -> None:
    base = product.url
    api = ApiClient(base, "admin", ADMIN_PASSWORD)
    prod = api.post("/api/environments", {"name": "production"}).json()
    api.post("/api/environments", {"name": "staging"})
    folder = Path(os.environ.get("SHOTS_DIR", str(tmp_path)))
    shots = Shots(driver, folder)
    driver.set_window_size(1366, 900)
    driver.get(f"{base}/secret-stores/new/")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.ID, "login").click()
    WebDriverWait(driver, 20).until(ec.url_to_be(f"{base}/secret-stores/new/"))
    driver.find_element(By.NAME, "name").send_keys("prod-vault")
    driver.find_element(By.NAME, "url").send_keys("https://vault.example.com:8200")
    driver.find_element(By.NAME, "token").send_keys("s.CANARY-page-token")
    driver.find_element(By.ID, f"environment-{prod['id']}").click()
    shots.take("store-form")
    driver.find_element(By.NAME, "token").send_keys("s.CANARY-page-token")  # (the shots reloaded the page)
    driver.find_element(By.NAME, "name").send_keys("prod-vault")
    driver.find_element(By.NAME, "url").send_keys("https://vault.example.com:8200")
    driver.find_element(By.ID, f"environment-{prod['id']}").click()
    driver.find_element(By.ID, "save-store").click()
    WebDriverWait(driver, 20).until(ec.url_to_be(f"{base}/secret-stores/"))
    assert "production" in driver.find_element(By.TAG_NAME, "table").text
    assert "CANARY" not in driver.page_source
    stored = api.get("/api/secret-stores").json()
    assert [s["environmentIds"] for s in stored] == [[prod["id"]]]
    shots.take("store-list")
