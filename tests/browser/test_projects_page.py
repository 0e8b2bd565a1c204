"""The projects page in a real browser, against the real product (Step 16): a project
started by hand is listed unmanaged, adopted from its form (its containers kept), then
shown as its stack's; screenshots at a laptop's and a phone's size."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select

from stacks import compose
from tests.browser.test_account_pages import Shots, _wait
from tests.conftest import GIT_TOKEN, GIT_USER, need
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "projects-Admin-pass-77"
MODEL = """\
services:
  web:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
"""


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Product]:
    need("a Docker engine", dockersupport.engine_available())
    with running_product(tmp_path_factory.mktemp("projects-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


def test_a_hand_started_project_is_adopted_from_the_page(
    product: Product, driver: WebDriver, git_server: Any, docker_image: str, projects: list[str], tmp_path: Path
) -> None:
    name = f"page-{uuid.uuid4().hex[:8]}"
    projects.append(name)
    (tmp_path / "compose.yaml").write_text(MODEL.format(image=docker_image))
    subprocess.run(
        [*compose.compose_command(), "-p", name, "-f", str(tmp_path / "compose.yaml"), "up", "-d"],
        check=True,
        capture_output=True,
        cwd=tmp_path,
    )
    before = [c["ID"] for c in dockersupport.containers(name)]
    repo = git_server.create_repo(f"page-{uuid.uuid4().hex[:8]}", {"compose.yaml": MODEL.format(image=docker_image)})
    client = ApiClient(product.url, "admin", ADMIN_PASSWORD)
    credential = client.post(
        "/api/git/credentials",
        {
            "name": "ci",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
    ).json()
    created = client.post("/api/git/repositories", {"name": "app", "url": repo.url, "credentialId": credential["id"]})
    assert created.status_code == 201, created.text

    base, shots = product.url, Shots(driver, tmp_path)
    driver.get(f"{base}/login/")
    driver.find_element(By.NAME, "username").send_keys("admin")
    driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
    driver.find_element(By.ID, "login").click()
    _wait(driver).until(lambda d: "/login/" not in d.current_url)
    driver.find_element(By.LINK_TEXT, "Projects").click()
    row = _wait(driver).until(ec.presence_of_element_located((By.CSS_SELECTOR, f'tr[data-project="{name}"]')))
    assert "unmanaged" in row.text and "running" in row.text
    shots.take("projects")

    driver.find_element(By.CSS_SELECTOR, f'tr[data-project="{name}"] .adopt').click()
    _wait(driver).until(ec.url_contains(f"/{name}/adopt/"))
    shots.take("project-adopt")
    Select(driver.find_element(By.ID, "repositoryId")).select_by_visible_text(f"app — {repo.url}")
    driver.find_element(By.ID, "adopt").click()
    _wait(driver).until(ec.url_contains("/stacks/"))
    assert "nothing was recreated" in driver.page_source
    assert [c["ID"] for c in dockersupport.containers(name)] == before

    driver.get(f"{base}/projects/")
    row = driver.find_element(By.CSS_SELECTOR, f'tr[data-project="{name}"]')
    assert "unmanaged" not in row.text and row.find_element(By.LINK_TEXT, name).is_displayed()
    assert all(p.exists() for p in shots.paths)
