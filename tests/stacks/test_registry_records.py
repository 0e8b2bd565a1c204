"""Registries as records and the registry module's pure parts: the API's shape (the
password write-only and encrypted), who may read and manage them, image references,
the per-run DOCKER_CONFIG and how a failed pull is told."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from stacks import registry
from stacks.models import Registry

pytestmark = pytest.mark.django_db

PASSWORD = "Registry-Pass-77e1c0"


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def test_the_password_is_write_only_and_encrypted(api: APIClient) -> None:
    body = {"name": "ghcr", "url": "ghcr.io", "username": "bot", "password": PASSWORD}
    created = api.post("/api/registries", body, format="json")
    assert created.status_code == 201, created.content
    shown = created.json()
    assert set(shown) == {"id", "name", "url", "username", "environmentIds", "hasPassword", "createdAt"}
    assert shown["hasPassword"] is True and shown["environmentIds"] == []
    assert PASSWORD not in api.get("/api/registries").content.decode()
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT password FROM stacks_registry")
        assert PASSWORD not in cursor.fetchone()[0]
    kept = api.put(f"/api/registries/{shown['id']}", {"username": "bot2", "password": ""}, format="json")
    assert kept.status_code == 200 and Registry.objects.get().password == PASSWORD
    assert api.delete(f"/api/registries/{shown['id']}").status_code == 204
    assert not Registry.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "a", "url": "https://ghcr.io"}, "url"),
        ({"name": "a", "url": "ghcr.io/team"}, "url"),
        ({"name": "a", "url": "ghcr.io", "password": "x"}, "username"),
        ({"url": "ghcr.io"}, "name"),
    ],
)
def test_a_bad_registry_is_a_400_naming_the_field(api: APIClient, body: dict[str, Any], field: str) -> None:
    refused = api.post("/api/registries", body, format="json")
    assert refused.status_code == 400 and field in refused.json()["error"]


def test_owners_manage_registries_and_members_read_those_of_their_environments(
    api: APIClient, env_admin: Any, outsider: Any
) -> None:
    other = api.post("/api/environments", {"name": "other"}, format="json").json()
    api.post("/api/registries", {"name": "everywhere", "url": "docker.io"}, format="json")
    api.post("/api/registries", {"name": "other-only", "url": "q.io", "environmentIds": [other["id"]]}, format="json")
    admin_of_local = _as(env_admin)
    assert [r["name"] for r in admin_of_local.get("/api/registries").json()] == ["everywhere"]
    assert admin_of_local.post("/api/registries", {"name": "x", "url": "x.io"}, format="json").status_code == 403
    hidden = Registry.objects.get(name="other-only")
    assert admin_of_local.get(f"/api/registries/{hidden.pk}").status_code == 404
    assert _as(outsider).get("/api/registries").json() == []
    assert _as(outsider).get("/registries/").status_code == 200


def test_the_registry_pages_create_and_list(api: APIClient) -> None:
    made = api.post("/registries/new/", {"name": "hub", "url": "docker.io", "username": "me", "password": PASSWORD})
    assert made.status_code == 302
    page = api.get("/registries/").content.decode()
    assert "hub" in page and "docker.io" in page and PASSWORD not in page
    edit = api.get(f"/registries/{Registry.objects.get().pk}/edit/").content.decode()
    assert PASSWORD not in edit and "leave empty to keep" in edit


@pytest.mark.parametrize(
    ("reference", "host", "repository", "tag", "name"),
    [
        ("busybox", "docker.io", "library/busybox", "latest", "library/busybox"),
        ("team/app:stable", "docker.io", "team/app", "stable", "team/app"),
        ("127.0.0.1:5000/team/app:1.2", "127.0.0.1:5000", "team/app", "1.2", "127.0.0.1:5000/team/app"),
        ("localhost/app", "localhost", "app", "latest", "localhost/app"),
        ("ghcr.io/o/r/app@sha256:" + "a" * 64, "ghcr.io", "o/r/app", "", "ghcr.io/o/r/app"),
    ],
)
def test_image_references_parse_as_docker_reads_them(
    reference: str, host: str, repository: str, tag: str, name: str
) -> None:
    ref = registry.parse(reference)
    assert (ref.host, ref.repository, ref.tag, ref.name) == (host, repository, tag, name)


@pytest.mark.parametrize("reference", ["", "Team/App", "app@sha256:zz", "a b"])
def test_what_is_no_image_reference_is_refused(reference: str) -> None:
    with pytest.raises(ValueError, match="not an image reference"):
        registry.parse(reference)


def test_a_run_docker_config_holds_only_its_logins_and_goes_away(tmp_path: Path) -> None:
    logins = [
        registry.Login("127.0.0.1:5000", "u", PASSWORD),
        registry.Login("docker.io", "hub", "hub-pass"),
        registry.Login("elsewhere.io", "e", "e-pass"),
    ]
    wanted = registry.matching(logins, registry.hosts_of(["127.0.0.1:5000/team/app:1", "busybox"]))
    with registry.docker_config(tmp_path, wanted) as where:
        assert stat.S_IMODE(where.stat().st_mode) == 0o700
        config = where / "config.json"
        assert stat.S_IMODE(config.stat().st_mode) == 0o600
        auths = json.loads(config.read_text())["auths"]
        assert set(auths) == {"127.0.0.1:5000", "https://index.docker.io/v1/"}
    assert not where.exists()


def test_a_failed_pull_is_told_by_kind_naming_the_registry() -> None:
    refs = ["127.0.0.1:5000/team/app:stable"]
    said = 'Error response from daemon: Head "http://127.0.0.1:5000/v2/team/app/manifests/stable": no basic auth credentials'
    failure = registry.pull_failure(said, refs)
    assert failure is not None and failure.kind == "authentication" and "127.0.0.1:5000" in str(failure)
    missing = registry.pull_failure("127.0.0.1:5000/team/app:stable: manifest unknown", refs)
    assert missing is not None and missing.kind == "not found"
    down = registry.pull_failure('Get "http://127.0.0.1:5000/v2/team/app": dial tcp: connection refused', refs)
    assert down is not None and down.kind == "unreachable"
    assert registry.pull_failure("some other compose error", refs) is None


# The daemon's words when its ping of a registry's API root fails, before any pull: they
# name the registry's URL, never the image.
PING_FAILURES = [
    (
        "127.0.0.1:5000",
        'Get "http://127.0.0.1:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused',
        "connection refused",
    ),
    (
        "registry.example:5000",
        'Get "https://registry.example:5000/v2/": dial tcp: lookup registry.example on 10.255.255.53:53: no such host',
        "the name registry.example does not resolve",
    ),
    (
        "registry.example:5000",
        'Get "https://registry.example:5000/v2/": tls: failed to verify certificate: x509: certificate signed '
        "by unknown authority",
        "its TLS certificate is not trusted (is its CA in /etc/docker/certs.d/registry.example:5000/ca.crt?)",
    ),
]


@pytest.mark.parametrize(("host", "said", "cause"), PING_FAILURES)
def test_a_registry_that_cannot_be_reached_is_told_unreachable_naming_it(host: str, said: str, cause: str) -> None:
    refs = ["busybox:1", f"{host}/team/app:stable", "127.0.0.1:5001/team/app:stable"]
    failure = registry.pull_failure(f"app Error {said} / Error response from daemon: {said}", refs)
    assert failure is not None and failure.kind == "unreachable"
    assert str(failure) == f"Registry {host} is unreachable: pulling {host}/team/app:stable: {cause}"


def test_docker_hubs_api_is_docker_hub_and_a_longer_host_is_not_the_registry() -> None:
    hub = 'Get "https://registry-1.docker.io/v2/": dial tcp: i/o timeout'
    failure = registry.pull_failure(hub, ["127.0.0.1:5000/team/app:1", "busybox:1"])
    assert str(failure) == "Registry docker.io is unreachable: pulling busybox:1: no answer in time"
    assert (
        registry.pull_failure('Get "http://11.127.0.0.1:5000/v2/": connection refused', ["127.0.0.1:5000/a:1"]) is None
    )


def test_only_what_dockerd_dialled_or_looked_up_is_a_registry_unreachable() -> None:
    # Another host on the registry's name (a remote engine's port), and an app's own words
    # naming docker.io, are no registry's failure: compose's own message stays.
    engine = 'Get "https://build.lan:2376/v1.41/info": dial tcp build.lan:2376: connect: connection refused'
    assert registry.pull_failure(engine, ["build.lan:5000/team/app:1"]) is None
    assert registry.pull_failure("app-1 | db: Connection refused (see docker.io)", ["postgres:16"]) is None
    # The name told is the one dockerd looked up: here Docker Hub's token server.
    token = 'Get "https://auth.docker.io/token?scope=repository:library/postgres:pull": dial tcp: lookup auth.docker.io: no such host'
    assert str(registry.pull_failure(token, ["postgres:16"])).endswith("the name auth.docker.io does not resolve")
    # dockerd reads no certs.d for Docker Hub: no such path is suggested.
    hub_tls = 'Get "https://registry-1.docker.io/v2/": x509: certificate signed by unknown authority'
    assert "certs.d" not in str(registry.pull_failure(hub_tls, ["postgres:16"]))
