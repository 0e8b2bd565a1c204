"""The registry pages in a real browser, against the real product and a real registry:
a registry added from its form, its test login from the list, a private image deployed
with it, and the deployment page showing the digest it ran. Screenshots at a laptop's
and a phone's size."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec

from tests.browser.test_account_pages import SIZES, Shots, _wait
from tests.conftest import GIT_TOKEN, GIT_USER, need
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.product import ApiClient, Product, running_product
from tests.support.registry import PASSWORD, USER, Registry, start_registry

ADMIN_PASSWORD = "registries-Admin-pass-52"


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    need("a Docker engine", dockersupport.engine_available())
    with running_product(tmp_path_factory.mktemp("registry-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


@pytest.fixture(scope="module")
def registry_server(docker_image: str) -> Iterator[Registry]:
    server = start_registry()
    try:
        yield server
    finally:
        server.stop()


def test_a_registry_added_tested_and_used_from_the_pages(
    product: Product, driver: WebDriver, registry_server: Registry, git_server: Any, tmp_path: Path
) -> None:
    base = product.url
    shots = Shots(driver, tmp_path)
    driver.set_window_size(*SIZES["desktop"])
    driver.get(f"{base}/registries/")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(ec.url_to_be(f"{base}/registries/"))
    assert "No registries." in driver.page_source
    shots.take("registry-list-empty")

    driver.find_element(By.ID, "new-registry").click()
    _wait(driver).until(ec.url_to_be(f"{base}/registries/new/"))
    shots.take("registry-form")
    driver.find_element(By.NAME, "name").send_keys("team registry")
    driver.find_element(By.NAME, "url").send_keys("https://nope")
    driver.find_element(By.ID, "save-registry").click()
    assert (
        "host[:port]"
        in _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, ".invalid-feedback"))).text
    )
    field = driver.find_element(By.NAME, "url")
    field.clear()
    field.send_keys(registry_server.host)
    driver.find_element(By.NAME, "username").send_keys(USER)
    driver.find_element(By.NAME, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "save-registry").click()
    _wait(driver).until(ec.url_to_be(f"{base}/registries/"))
    driver.find_element(By.CSS_SELECTOR, '[data-test="team registry"]').click()
    said = _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, "[data-ok]")))
    assert said.get_attribute("data-ok") == "1" and f"Logged in to {registry_server.host}" in said.text
    assert PASSWORD not in driver.page_source
    shots.take("registry-list")

    # A private image deployed with it: the deployment page shows the digest it ran.
    digest = registry_server.push_image("team/web", marker="web")
    image = registry_server.ref("team/web")
    compose = f'services:\n  app:\n    image: {image}\n    command: ["sh", "-c", "exec sleep 3600"]\n    stop_grace_period: 1s\n'
    repo = git_server.create_repo(f"web-{uuid.uuid4().hex[:8]}", {"compose.yaml": compose})
    api = ApiClient(base, "admin", ADMIN_PASSWORD)
    credential = api.post(
        "/api/git/credentials",
        {
            "name": "git",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
    ).json()
    stack = api.post(
        "/api/git/stacks",
        {"stackName": f"web-{uuid.uuid4().hex[:6]}", "url": repo.url, "credentialId": credential["id"]},
    ).json()
    try:
        done = api.post(f"/api/git/stacks/{stack['id']}/sync").json()
        assert done["deployed"] is True, done
        driver.get(f"{base}/deployments/{done['deploymentId']}/")
        driver.find_element(By.CSS_SELECTOR, "#ran summary").click()
        cell = driver.find_element(By.CSS_SELECTOR, "#images [data-digest]")
        assert cell.get_attribute("data-digest") == f"{registry_server.host}/team/web@{digest}"
        assert digest[:19] in cell.text
        shots.take("deployment-images", before="document.getElementById('ran').open = true;")
        assert PASSWORD not in driver.page_source

        # The tag moves on: the stack page's button asks the registry and says so.
        registry_server.push_image("team/web", marker="web 2")
        driver.get(f"{base}/stacks/{stack['id']}/")
        driver.find_element(By.ID, "check-images").click()
        _wait(driver).until(ec.text_to_be_present_in_element((By.ID, "out-of-sync"), "has a newer digest"))
        assert f"Newer images: {image} (app)." in driver.page_source
        shots.take("stack-image-update")
    finally:
        dockersupport.remove_project(stack["projectName"])
