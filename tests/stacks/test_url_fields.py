"""What a registry's and a secret store's addresses may be: a store's token crosses in
clear only to this machine; a registry is `host[:port]` and nothing else; environments
named must exist; a URL that does not parse is a 400 naming `url`, never a 500."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "url",
    [
        "http://vault.example.com:8200",
        "http://10.0.0.5:8200",
        "http://[::1",
        "https://v.example.com:99999",
        "https://[x]/",
    ],
)
def test_a_store_url_that_is_plain_http_elsewhere_or_unparseable_is_a_400(api: APIClient, url: str) -> None:
    refused = api.post("/api/secret-stores", {"name": "s", "url": url, "token": "t"}, format="json")
    assert refused.status_code == 400, refused.content
    assert "url" in refused.json()["fields"], refused.json()


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8200", "http://localhost:8200", "http://[::1]:8200", "https://v.example.com"]
)
def test_a_store_url_over_https_or_to_this_machine_is_kept(api: APIClient, url: str) -> None:
    made = api.post("/api/secret-stores", {"name": "s", "url": url, "token": "t"}, format="json")
    assert made.status_code == 201, made.content


@pytest.mark.parametrize(
    "url",
    [
        "user:pw@ghcr.io",
        "ghcr.io?x=1",
        "ghcr.io#frag",
        "ghcr.io:0",
        "ghcr.io:70000",
        "ghcr.io:port",
        "-ghcr.io",
        "ghcr..io",
        "[::1",
    ],
)
def test_a_registry_url_is_host_and_port_only(api: APIClient, url: str) -> None:
    refused = api.post("/api/registries", {"name": "r", "url": url}, format="json")
    assert refused.status_code == 400, refused.content
    assert "url" in refused.json()["fields"], refused.json()


@pytest.mark.parametrize("url", ["ghcr.io", "docker.io", "127.0.0.1:5000", "[::1]:5000", "Registry.Example.com:443"])
def test_a_registry_url_of_host_and_port_is_kept(api: APIClient, url: str) -> None:
    made = api.post("/api/registries", {"name": "r", "url": url}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["url"] == url.lower()


def test_registry_environments_must_exist(api: APIClient) -> None:
    refused = api.post("/api/registries", {"name": "r", "url": "ghcr.io", "environmentIds": [9999]}, format="json")
    assert refused.status_code == 400 and "environmentIds" in refused.json()["fields"], refused.content
