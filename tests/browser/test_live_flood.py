"""A deploy that prints 100,000 lines, watched live in a real browser against the real
web server and worker: the page keeps answering, holds a bounded number of lines, says
where it left lines out, and shows the end of the deploy."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.conftest import GIT_TOKEN, GIT_USER, need, unique_stack_name
from tests.stacks.test_bounded_output import LOUD, STEPS
from tests.support import browser as browsersupport
from tests.support import docker as dockersupport
from tests.support.product import ApiClient, Product, running_product

ADMIN_PASSWORD = "flood-Admin-pass-31"
# The page's own bound (LIVE_LINES in static/js/deployment.js) plus the head the server rendered.
MOST_LINES_SHOWN = 5000 + 5000 + 10


@pytest.fixture(scope="module")
def product(tmp_path_factory: pytest.TempPathFactory, docker_image: str) -> Iterator[Product]:
    need("make", shutil.which("make") is not None)
    with running_product(tmp_path_factory.mktemp("flood-product") / "data", ADMIN_PASSWORD) as running:
        running.wait_healthy(60)
        yield running


@pytest.fixture(scope="module")
def driver() -> Iterator[WebDriver]:
    need("Chromium and chromedriver", browsersupport.available())
    chrome = browsersupport.start()
    yield chrome
    chrome.quit()


@pytest.fixture
def loud_image() -> Iterator[str]:
    image = f"dockhand-test/loud-{uuid.uuid4().hex[:8]}:latest"
    yield image
    subprocess.run(["docker", "image", "rm", "-f", image], capture_output=True)


def test_the_page_follows_a_100k_line_deploy_and_stays_responsive(
    product: Product, driver: WebDriver, git_server: Any, docker_image: str, loud_image: str
) -> None:
    api = ApiClient(product.url, "admin", ADMIN_PASSWORD)
    dockerfile = f"FROM {docker_image}\n" + STEPS.format(nonce=uuid.uuid4().hex)
    repo = git_server.create_repo(
        f"flood-{unique_stack_name()}", {"compose.yaml": LOUD.format(image=loud_image), "Dockerfile": dockerfile}
    )
    credential = api.post(
        "/api/git/credentials",
        {
            "name": f"flood-{unique_stack_name()}",
            "authType": "token",
            "username": GIT_USER,
            "token": GIT_TOKEN,
            "urlPrefixes": [git_server.prefix],
        },
    ).json()
    created = api.post(
        "/api/git/stacks",
        {"stackName": unique_stack_name(), "url": repo.url, "credentialId": credential["id"], "buildOnDeploy": True},
    )
    assert created.status_code == 201, created.text
    stack = created.json()
    try:
        deployment_id = api.post(f"/api/git/stacks/{stack['id']}/sync?wait=false").json()["deploymentId"]
        driver.get(f"{product.url}/login/?next=/deployments/{deployment_id}/")
        driver.find_element(By.NAME, "username").send_keys("admin")
        driver.find_element(By.NAME, "password").send_keys(ADMIN_PASSWORD)
        driver.find_element(By.ID, "login").click()
        note = driver.find_element(By.ID, "live-note").text
        assert note == "Following live…", "the page must open while the deploy still prints"

        slowest, deadline = 0.0, time.monotonic() + 300
        while time.monotonic() < deadline:
            asked = time.monotonic()
            finished = driver.execute_script(
                "const note = document.getElementById('live-note'); return note && note.textContent === 'Finished.'"
            )
            slowest = max(slowest, time.monotonic() - asked)
            if finished:
                break
            time.sleep(0.5)
        status = driver.execute_script("return document.querySelector('#status [data-status]').dataset.status")
        text = driver.find_element(By.ID, "output").get_attribute("textContent") or ""
        assert status == "success", text[-2000:]
        assert slowest < 10, f"the page took {slowest:.1f} s to answer while lines arrived"
        assert text.rstrip().endswith("All services are running and healthy")
        assert "lines left out" in text  # by the page or by the server, it says where it cut
        assert text.count("\n") <= MOST_LINES_SHOWN, f"the page holds {text.count(chr(10)):,} lines"
    finally:
        dockersupport.remove_project(stack["projectName"])
