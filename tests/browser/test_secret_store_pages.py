"""The secret-store pages and the age key in a real browser, against the real product
and a real OpenBao: a store made from the page and tested from the list (it logs in),
an age key made from the credential page, a stack naming both; and screenshots of each
page at a laptop's and a phone's size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from tests.browser.test_account_pages import SIZES, Shots, _wait
from tests.conftest import need
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.browser import click
from tests.support.product import ApiClient, Product, running_product
from tests.support.vault import OpenBao, age_key

ADMIN_PASSWORD = "stores-Admin-pass-52"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    need("a Docker engine", dockersupport.engine_available())  # /api/health asks it
    with running_product(tmp_path_factory.mktemp("stores-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


def test_a_store_and_an_age_key_made_and_used_from_the_pages(
    product: Product, driver: WebDriver, openbao: OpenBao, tmp_path: Path
) -> None:
    base = product.url
    shots = Shots(driver, tmp_path)
    driver.set_window_size(*SIZES["desktop"])
    driver.get(f"{base}/secret-stores/")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(ec.url_to_be(f"{base}/secret-stores/"))
    assert "No secret stores." in driver.page_source
    shots.take("stores-empty")

    driver.find_element(By.ID, "new-store").click()
    _wait(driver).until(ec.url_to_be(f"{base}/secret-stores/new/"))
    assert not driver.find_element(By.ID, "roleId").is_displayed()  # the token login is the default
    shots.take("store-form")
    driver.find_element(By.ID, "name").send_keys("prod-bao")
    driver.find_element(By.ID, "url").send_keys(openbao.url)
    driver.find_element(By.ID, "token").send_keys(openbao.token)
    click(driver, driver.find_element(By.ID, "save-store"))
    _wait(driver).until(ec.url_to_be(f"{base}/secret-stores/"))
    assert "Store prod-bao created." in driver.page_source and openbao.token not in driver.page_source
    driver.find_element(By.CSS_SELECTOR, 'button[data-test="prod-bao"]').click()
    _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, '[data-ok="1"]')))
    assert "Logged in to" in driver.page_source
    shots.take("stores")

    # The AppRole login shows its own fields.
    driver.get(f"{base}/secret-stores/1/edit/")
    Select(driver.find_element(By.ID, "authType")).select_by_value("approle")
    assert (
        driver.find_element(By.ID, "roleId").is_displayed() and not driver.find_element(By.ID, "token").is_displayed()
    )

    key = age_key()
    driver.get(f"{base}/credentials/new/")
    driver.find_element(By.ID, "name").send_keys("team-age")
    Select(driver.find_element(By.ID, "authType")).select_by_value("age")
    assert not driver.find_element(By.ID, "urlPrefixes").is_displayed()
    driver.find_element(By.ID, "ageKey").send_keys(key.identity)
    shots.paths.append(tmp_path / "age-form-desktop-1366x900.png")
    driver.save_screenshot(str(tmp_path / "age-form-desktop-1366x900.png"))
    click(driver, driver.find_element(By.ID, "save-credential"))
    _wait(driver).until(ec.url_to_be(f"{base}/credentials/"))
    assert "team-age" in driver.page_source and key.identity not in driver.page_source

    api = ApiClient(base, "admin", ADMIN_PASSWORD)
    age = next(c for c in api.get("/api/git/credentials").json() if c["name"] == "team-age")
    stack = api.post(
        "/api/git/stacks",
        {
            "stackName": "uses-secrets",
            "url": "https://git.example.test/org/app.git",
            "skipSourceCheck": True,
            "sopsCredentialId": age["id"],
            "envVars": [
                {"key": "DB_PASSWORD", "secretRef": "vault://prod-bao/app/db#password"},
                {"key": "MODE", "value": "prod"},
            ],
        },
    )
    assert stack.status_code == 201, stack.text
    sid = stack.json()["id"]
    driver.get(f"{base}/stacks/{sid}/")
    ref_input = driver.find_element(By.CSS_SELECTOR, "input[data-secret-ref]")
    assert ref_input.get_attribute("value") == "vault://prod-bao/app/db#password"
    shots.take("stack-with-references")
    driver.get(f"{base}/stacks/{sid}/edit/")
    assert Select(driver.find_element(By.ID, "sopsCredentialId")).first_selected_option.text == "team-age"
    shots.take("stack-form-age-key", before="document.getElementById('sopsCredentialId').scrollIntoView()")

    # A reference typed into the overrides editor is saved as one.
    driver.get(f"{base}/stacks/{sid}/")
    click(driver, driver.find_element(By.ID, "add-env-row"))
    rows = driver.find_elements(By.CSS_SELECTOR, "#env-rows tr")
    rows[-1].find_element(By.NAME, "key").send_keys("API_KEY")
    rows[-1].find_element(By.NAME, "value").send_keys("vault://prod-bao/app/api#key")
    click(driver, driver.find_element(By.ID, "save-env"))
    _wait(driver).until(ec.url_to_be(f"{base}/stacks/{sid}/"))
    shown = {v["key"]: v for v in api.get(f"/api/git/stacks/{sid}").json()["envVars"]}
    assert shown["API_KEY"]["secretRef"] == "vault://prod-bao/app/api#key" and shown["API_KEY"]["value"] is None
    assert shown["DB_PASSWORD"]["secretRef"] == "vault://prod-bao/app/db#password"  # kept as it was
    for path in shots.paths:
        assert path.stat().st_size > 0
        print(f"screenshot: {path}")
