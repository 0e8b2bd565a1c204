"""Dockhand's own public API smoke test, ported (Step 16).

The checks of `tests/api-smoke.test.ts` in Finsys/dockhand (bun:test, run against a
running Dockhand; "GET /api/system" since its commit 4164a21, "/api/system/version"
before it), asked here of dockhand started for real (`make run`) with a logged-in
cookie session, as a Dockhand client would ask them: same paths, same expectations.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.product import ApiClient, running_product

ADMIN_PASSWORD = "smoke-Admin-pass-4410"


@pytest.fixture(scope="module")
def dockhand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiClient]:
    data: Path = tmp_path_factory.mktemp("smoke") / "data"
    with running_product(data, ADMIN_PASSWORD) as product:
        product.wait_healthy(90)
        yield ApiClient(product.url, "admin", ADMIN_PASSWORD)


def _api(client: ApiClient, path: str) -> tuple[int, Any]:
    # Dockhand's helper: `Content-Type: application/json`, the body as JSON or null.
    response = client.get(path, headers={"Content-Type": "application/json"})
    try:
        data = response.json()
    except ValueError:
        data = None
    return response.status_code, data


def test_get_api_health_returns_200(dockhand: ApiClient) -> None:
    assert _api(dockhand, "/api/health")[0] == 200


def test_get_api_system_returns_200_with_system_info(dockhand: ApiClient) -> None:
    status, data = _api(dockhand, "/api/system")
    assert status == 200 and data is not None
    assert data["version"] and data["environments"][0]["name"] == "local"


def test_get_api_system_version_returns_200_with_version_info(dockhand: ApiClient) -> None:
    status, data = _api(dockhand, "/api/system/version")
    assert status == 200 and data is not None and data["version"]


def test_get_api_environments_returns_200_with_array(dockhand: ApiClient) -> None:
    status, data = _api(dockhand, "/api/environments")
    assert status == 200 and isinstance(data, list)


def test_get_api_stacks_returns_200(dockhand: ApiClient) -> None:
    status, data = _api(dockhand, "/api/stacks")
    assert status == 200 and data is not None
    assert isinstance(data, list)  # every compose project of the engines, managed or not


def test_get_api_git_repositories_returns_200_with_array(dockhand: ApiClient) -> None:
    status, data = _api(dockhand, "/api/git/repositories")
    assert status == 200 and isinstance(data, list)


def test_get_api_git_stacks_returns_200_with_array(dockhand: ApiClient) -> None:
    status, data = _api(dockhand, "/api/git/stacks")
    assert status == 200 and isinstance(data, list)


def test_get_api_notifications_returns_200_with_array(dockhand: ApiClient) -> None:
    status, data = _api(dockhand, "/api/notifications")
    assert status == 200 and isinstance(data, list)


def test_get_api_auth_session_returns_session_status(dockhand: ApiClient) -> None:
    status, data = _api(dockhand, "/api/auth/session")
    # Dockhand: 200 if auth is disabled or the session is valid, 401 without a session.
    assert status in (200, 401)
    assert data["authenticated"] is True and data["user"]["username"] == "admin"


def test_get_non_existent_api_endpoint_returns_404(dockhand: ApiClient) -> None:
    status, data = _api(dockhand, "/api/this-endpoint-does-not-exist")
    assert status == 404
    assert data is not None and data["code"] == "not_found"  # JSON, not an HTML page


# Dockhand's check of `/api/registries` (the registries of Step 13).
def test_get_api_registries_returns_200_with_array(dockhand: ApiClient) -> None:
    status, data = _api(dockhand, "/api/registries")
    assert status == 200 and isinstance(data, list)
