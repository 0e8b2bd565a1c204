"""Secret stores belong to environments, as registries do: an override may name a store
only from a stack of one of its environments (empty: every environment), checked when
saved and again at each deploy; members see only the stores of environments they see."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from stacks.models import Environment, GitStack, SecretStore
from stacks.services import secret_inputs
from stacks.services.deploy_errors import DeployError

pytestmark = pytest.mark.django_db

REF = "vault://scoped/app/db#password"


def _as(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _environment(api: APIClient, name: str) -> dict[str, Any]:
    made = api.post("/api/environments", {"name": name}, format="json")
    assert made.status_code == 201, made.content
    return dict(made.json())


def _store(api: APIClient, name: str = "scoped", **body: Any) -> dict[str, Any]:
    sent = {"name": name, "url": "https://vault.example.com", "token": "t0ken-CANARY", **body}
    made = api.post("/api/secret-stores", sent, format="json")
    assert made.status_code == 201, made.content
    return dict(made.json())


def test_an_override_may_name_only_a_store_of_its_environment(api: APIClient, app_repo: Any) -> None:
    prod = _environment(api, "prod")
    store = _store(api, environmentIds=[prod["id"]])
    assert store["environmentIds"] == [prod["id"]]
    body = {"url": app_repo.url, "skipSourceCheck": True, "envVars": [{"key": "DB", "secretRef": REF}]}
    refused = api.post("/api/git/stacks", {**body, "stackName": "in-local"}, format="json")
    assert refused.status_code == 400, refused.content
    assert "envVars" in refused.json()["fields"]
    assert "secret store 'scoped' may not be used in environment 'local'" in refused.json()["error"]
    made = api.post("/api/git/stacks", {**body, "stackName": "in-prod", "environmentId": prod["id"]}, format="json")
    assert made.status_code == 201, made.content
    # Moving the stack to an environment the store is not for: refused, naming the field.
    local = Environment.objects.get(name="local")
    moved = api.put(f"/api/git/stacks/{made.json()['id']}", {"environmentId": local.pk}, format="json")
    assert moved.status_code == 400 and "envVars" in moved.json()["fields"], moved.content


def test_a_deploy_refuses_a_store_its_environment_may_no_longer_use(api: APIClient, app_repo: Any) -> None:
    prod, staging = _environment(api, "prod"), _environment(api, "staging")
    store = _store(api, environmentIds=[prod["id"]])
    body = {"url": app_repo.url, "skipSourceCheck": True, "envVars": [{"key": "DB", "secretRef": REF}]}
    made = api.post("/api/git/stacks", {**body, "stackName": "s", "environmentId": prod["id"]}, format="json")
    assert made.status_code == 201, made.content
    narrowed = api.put(f"/api/secret-stores/{store['id']}", {"environmentIds": [staging["id"]]}, format="json")
    assert narrowed.status_code == 200, narrowed.content
    stack = GitStack.objects.get(pk=made.json()["id"])
    with pytest.raises(DeployError, match="secret store 'scoped' may not be used in environment 'prod'"):
        secret_inputs.resolve_refs(stack, secret_inputs.Resolved())
    # The sync says so too (before any store is asked: the URL is not even real).
    failed = api.post(f"/api/git/stacks/{stack.pk}/sync", {}, format="json").json()
    assert failed["success"] is False and "may not be used in environment 'prod'" in failed["error"], failed


def test_the_store_environments_must_exist(api: APIClient) -> None:
    refused = api.post(
        "/api/secret-stores",
        {"name": "x", "url": "https://v.example.com", "token": "t", "environmentIds": [9999]},
        format="json",
    )
    assert refused.status_code == 400 and "environmentIds" in refused.json()["error"]


def test_members_see_only_the_stores_of_their_environments(api: APIClient, env_admin: Any, outsider: Any) -> None:
    other = _environment(api, "other")
    _store(api, name="everywhere")
    _store(api, name="other-only", environmentIds=[other["id"]])
    admin_of_local = _as(env_admin)
    assert [s["name"] for s in admin_of_local.get("/api/secret-stores").json()] == ["everywhere"]
    hidden = SecretStore.objects.get(name="other-only")
    assert admin_of_local.get(f"/api/secret-stores/{hidden.pk}").status_code == 404
    assert _as(outsider).get("/api/secret-stores").json() == []
    page = admin_of_local.get("/secret-stores/").content.decode()
    assert "everywhere" in page and "other-only" not in page
    assert "other-only" not in _as(outsider).get("/secret-stores/").content.decode()
    # The owner sees both, with their environments, and sets them on the page.
    listed = api.get("/secret-stores/").content.decode()
    assert "other-only" in listed
    saved = api.post(
        f"/secret-stores/{hidden.pk}/edit/",
        {"name": "other-only", "url": "https://v.example.com", "mount": "secret", "environmentIds": []},
    )
    assert saved.status_code == 302
    assert SecretStore.objects.get(pk=hidden.pk).environment_ids == []
