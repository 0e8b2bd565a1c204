"""Bad input gets a 400 that names the field; nothing reaches git or compose."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

GOOD_URL = "https://git.example.test/team/app.git"
SCOPED = {"urlPrefixes": ["https://git.example.test/team/"]}  # where GOOD_URL's credentials may go


def _stack(api: Any, **fields: Any) -> Any:
    body = {"stackName": "web", "url": GOOD_URL, **fields}
    # GOOD_URL is well formed and nowhere: the remote is not asked (see test_source_check_api.py).
    return api.post("/api/git/stacks?check=false", body, format="json")


def _assert_400(response: Any, field: str) -> None:
    assert response.status_code == 400, response.content
    body = response.json()
    assert field in body["fields"], body
    assert body["error"].startswith(f"{field}:")


def test_an_unknown_credential_id_is_a_400(api: Any) -> None:
    _assert_400(_stack(api, credentialId=4242), "credentialId")
    _assert_400(
        api.post("/api/git/repositories", {"url": GOOD_URL, "credentialId": 4242}, format="json"), "credentialId"
    )


@pytest.mark.parametrize(
    "url",
    [
        "ext::sh -c touch% /tmp/pwned",
        "file:///etc",
        "/srv/git/app.git",
        "-uhelp",
        "--upload-pack=touch /tmp/x",
        "git://example.test/app.git",
        "https://user:hunter2@example.test/app.git",
        "",
    ],
)
def test_dangerous_or_local_urls_are_refused(api: Any, url: str) -> None:
    _assert_400(_stack(api, url=url), "url")
    _assert_400(api.post("/api/git/repositories", {"url": url}, format="json"), "url")


@pytest.mark.parametrize(
    "url",
    [GOOD_URL, "http://127.0.0.1:8080/app.git", "ssh://git@example.test/app.git", "git@example.test:team/app.git"],
)
def test_network_urls_are_accepted(api: Any, url: str) -> None:
    assert api.post("/api/git/repositories", {"url": url}, format="json").status_code == 201


@pytest.mark.parametrize("path", ["../compose.yaml", "deploy/../../etc/passwd", "/etc/passwd", "C:/compose.yaml"])
def test_compose_and_env_paths_must_stay_in_the_repository(api: Any, path: str) -> None:
    _assert_400(_stack(api, composePath=path), "composePath")
    _assert_400(_stack(api, envFilePath=path), "envFilePath")


def test_a_duplicate_stack_name_is_a_400(api: Any) -> None:
    assert _stack(api).status_code == 201
    _assert_400(_stack(api), "stackName")


def test_a_duplicate_project_name_is_a_400(api: Any) -> None:
    assert _stack(api, stackName="Web App").status_code == 201
    _assert_400(_stack(api, stackName="web-app"), "projectName")


@pytest.mark.parametrize("cron", ["every day", "0 3 * *", "61 * * * *", "0 3 * * * *", ""])
def test_an_invalid_cron_is_a_400(api: Any, cron: str) -> None:
    _assert_400(_stack(api, autoUpdateCron=cron), "autoUpdateCron")


def test_invalid_env_var_names_and_duplicates_are_400(api: Any) -> None:
    _assert_400(_stack(api, envVars=[{"key": "1BAD", "value": "x"}]), "envVars")
    _assert_400(_stack(api, envVars=[{"key": "A", "value": "1"}, {"key": "A", "value": "2"}]), "envVars")


def test_a_stack_gets_the_seed_defaults(api: Any) -> None:
    response = _stack(api, stackName="My App")
    assert response.status_code == 201
    body = response.json()
    assert body["composePath"] == "compose.yaml"
    assert body["autoUpdateCron"] == "0 3 * * *"
    assert body["projectName"] == "my-app"
    assert body["syncStatus"] == "never" and body["lastCommit"] == ""
    assert len(body["webhookSecret"]) >= 32
    assert body["webhookUrl"].endswith(f"/api/git/stacks/{body['id']}/webhook")
    envs = APIClient()
    assert envs.get("/api/environments").status_code == 401


def test_an_unknown_stack_is_a_404_in_the_seed_shape(api: Any) -> None:
    for method in ("get", "put", "delete"):
        response = getattr(api, method)("/api/git/stacks/999", {}, format="json")
        assert response.status_code == 404
        assert response.json() == {"error": "Git stack not found", "code": "not_found"}
    assert api.post("/api/git/stacks/999/sync", {}, format="json").json() == {
        "error": "Git stack not found",
        "code": "not_found",
    }


def test_credential_secrets_are_write_only_and_encrypted_at_rest(api: Any) -> None:
    token = "glpat-Only-Write-This-1234"
    created = api.post(
        "/api/git/credentials", {"name": "gl", "authType": "token", "token": token, **SCOPED}, format="json"
    )
    assert created.status_code == 201
    assert created.json()["hasSecret"] is True
    assert "token" not in created.json()
    assert token not in api.get("/api/git/credentials").content.decode()
    with connection.cursor() as cursor:
        cursor.execute("SELECT token FROM gitsync_credential")
        stored = cursor.fetchone()[0]
    assert token not in stored and stored.startswith("enc1:")
    # Changing the name alone keeps the secret.
    cid = created.json()["id"]
    assert api.put(f"/api/git/credentials/{cid}", {"name": "gitlab"}, format="json").json()["hasSecret"] is True


def test_a_credential_type_needs_its_secret(api: Any) -> None:
    _assert_400(api.post("/api/git/credentials", {"name": "x", "authType": "token", **SCOPED}, format="json"), "token")
    _assert_400(
        api.post(
            "/api/git/credentials", {"name": "y", "authType": "ssh", "sshPrivateKey": "nope", **SCOPED}, format="json"
        ),
        "sshPrivateKey",
    )


def test_a_credential_in_use_cannot_be_deleted(api: Any) -> None:
    cred = api.post(
        "/api/git/credentials",
        {"name": "c", "authType": "password", "username": "u", "password": "pw-123", **SCOPED},
        format="json",
    ).json()
    assert _stack(api, credentialId=cred["id"]).status_code == 201
    response = api.delete(f"/api/git/credentials/{cred['id']}")
    assert response.status_code == 409
    assert "used by repositories" in response.json()["error"]


def test_secret_overrides_keep_their_value_when_left_out(api: Any) -> None:
    from stacks.models import StackEnvVar

    stack = _stack(api, envVars=[{"key": "DB_PASSWORD", "value": "pw-one-2-3", "isSecret": True}]).json()
    updated = api.put(
        f"/api/git/stacks/{stack['id']}",
        {"envVars": [{"key": "DB_PASSWORD", "isSecret": True}, {"key": "MODE", "value": "prod"}]},
        format="json",
    )
    assert updated.status_code == 200, updated.content
    assert StackEnvVar.objects.get(key="DB_PASSWORD").value == "pw-one-2-3"
    assert [v["key"] for v in updated.json()["envVars"]] == ["DB_PASSWORD", "MODE"]


def test_login_does_not_say_which_half_was_wrong(admin: Any) -> None:
    client = APIClient(enforce_csrf_checks=True)
    wrong_user = client.post("/api/auth/login", {"username": "nobody", "password": "admin-pass-123"}, format="json")
    wrong_pass = client.post("/api/auth/login", {"username": "admin", "password": "nope"}, format="json")
    assert wrong_user.status_code == wrong_pass.status_code == 401
    assert (
        wrong_user.json()
        == wrong_pass.json()
        == {
            "error": "Invalid username or password",
            "code": "unauthenticated",
        }
    )
    ok = client.post("/api/auth/login", {"username": "admin", "password": "admin-pass-123"}, format="json")
    assert ok.status_code == 200
    # Cookie sessions need the CSRF token for unsafe methods.
    assert client.post("/api/git/credentials", {"name": "n"}, format="json").status_code == 403
    with_token = client.post(
        "/api/git/credentials", {"name": "n", **SCOPED}, format="json", HTTP_X_CSRFTOKEN=ok.json()["csrfToken"]
    )
    assert with_token.status_code == 201
