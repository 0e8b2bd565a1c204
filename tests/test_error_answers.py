"""Errors are answers (Step 10): under /api/ every error, 500 and 503 included, is the
API's JSON `{"error"}`; pages get a styled page; nothing internal is shown."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.support.failing_urls import LEAK

pytestmark = pytest.mark.django_db


@pytest.fixture
def failing(settings: Any) -> Client:
    settings.ROOT_URLCONF = "tests.support.failing_urls"
    settings.DEBUG = False
    return Client(raise_request_exception=False)


def test_an_unknown_api_address_is_a_json_404(api: Any) -> None:
    response = api.get("/api/git/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json" and response.json() == {
        "error": "There is nothing at this address.",
        "code": "not_found",
    }


def test_an_unknown_page_is_a_styled_404(admin: Any) -> None:
    page = Client()
    page.force_login(admin)
    response = page.get("/no-such-page/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Not found" in html and 'href="/stacks/">Stacks</a>' in html and 'class="navbar' in html


def test_a_bug_in_an_api_view_is_a_json_500_without_its_details(failing: Client, admin: Any) -> None:
    failing.force_login(admin)
    for url in ("/api/test/broken-plain", "/api/test/broken"):
        response = failing.get(url)
        assert response.status_code == 500, url
        assert response.json() == {
            "error": "Internal server error: the server's log has the details",
            "code": "internal_error",
        }
        assert LEAK not in response.content.decode()


def test_a_database_that_cannot_be_written_is_a_json_503_to_retry(failing: Client, admin: Any) -> None:
    failing.force_login(admin)
    for response in (failing.get("/api/test/locked-plain"), failing.post("/api/test/broken")):
        assert response.status_code == 503
        assert response["Retry-After"] == "30"
        assert response.json()["error"].startswith("The database cannot be written right now")
        assert LEAK not in response.content.decode()


def test_a_bug_in_a_page_is_a_styled_500_without_its_details(failing: Client) -> None:
    response = failing.get("/test/broken-page/")
    assert response.status_code == 500
    html = response.content.decode()
    assert "Something went wrong" in html and "<!doctype html>" in html and LEAK not in html
