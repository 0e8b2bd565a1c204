"""Error pages read like the rest of the dashboard: the navigation when signed in (a
404, a refused action, an expired form), the ways back, and a 500 that still shows the
navigation's links without asking the database who is signed in."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.support.failing_urls import LEAK

pytestmark = pytest.mark.django_db

NAV = 'class="navbar'


def _signed_in(user: Any, **kwargs: Any) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_a_404_has_the_navigation_and_the_user_menu(admin: Any) -> None:
    html = _signed_in(admin).get("/stacks/999999/").content.decode()
    assert NAV in html and 'id="user-menu"' in html and 'data-error="404"' in html
    assert "Go back" in html and 'href="/">Overview</a>' in html


def test_a_refused_action_is_a_styled_403_with_the_navigation(viewer: Any) -> None:
    response = _signed_in(viewer).get("/users/")
    assert response.status_code == 403
    html = response.content.decode()
    assert NAV in html and 'data-error="403"' in html and "Not allowed" in html


def test_an_expired_form_is_a_styled_403_not_djangos_page(admin: Any) -> None:
    client = _signed_in(admin, enforce_csrf_checks=True)
    response = client.post("/stacks/new/", {"stackName": "x"})
    assert response.status_code == 403
    html = response.content.decode()
    assert "The form expired" in html and NAV in html and "CSRF verification failed" not in html


def test_signed_out_a_404_offers_to_sign_in() -> None:
    html = Client().get("/no-such-page/").content.decode()
    assert NAV not in html and 'href="/login/">Sign in</a>' in html


def test_a_500_has_the_navigation_links_but_no_user_menu(settings: Any, admin: Any) -> None:
    settings.ROOT_URLCONF = "tests.support.failing_urls"
    settings.DEBUG = False
    response = _signed_in(admin, raise_request_exception=False).get("/test/broken-page/")
    assert response.status_code == 500
    html = response.content.decode()
    assert NAV in html and 'href="/stacks/">Stacks</a>' in html and 'id="user-menu"' not in html
    assert LEAK not in html
