"""A hostile read of every role: each reader is told about what they may see and no
more. The audit trail (API and page), /api/health, /metrics and a stack's webhook
secret, read by an owner, an environment's admin, a deployer, a viewer, a user of no
environment, an environment-limited token and nobody at all."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from stacks.api.serializers import GitStackSerializer
from stacks.models import Environment, GitStack
from stacks.services.environments import environment_engine_check
from stacks.services.stacks import local_environment, stack_queryset
from stacks.services.status import stack_states

pytestmark = pytest.mark.django_db

METRICS_TOKEN = "metrics-token-for-read-scope"
HOOK_PATH = "notify-Secret-Path-6130"  # a notification URL is a secret


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _audit(client: APIClient) -> list[tuple[str, str, str]]:
    body = client.get("/api/audit?limit=200").json()
    assert body["meta"]["total"] == len(body["data"])
    return [(e["actor"], e["action"], e["object"]) for e in reversed(body["data"])]  # oldest first


@pytest.fixture
def scene(api: APIClient, viewer: Any, env_admin: Any, outsider: Any, django_user_model: Any) -> dict[str, Any]:
    """Two environments, a stack in each, a credential, a member added, logins: events
    of every kind, each recorded as the product records it."""
    prod = api.post(
        "/api/environments",
        {"name": "prod", "dockerHost": "tcp://127.0.0.1:9", "notifyUrls": [f"json://hooks.example.test/{HOOK_PATH}"]},
        format="json",
    ).json()
    forge = {
        "name": "forge",
        "authType": "token",
        "token": "forge-token-991",
        "urlPrefixes": ["https://git.example.test/"],
    }
    assert api.post("/api/git/credentials", forge, format="json").status_code == 201
    here = api.post(
        "/api/git/stacks?check=false", {"stackName": "here", "url": "https://git.example.test/here.git"}, format="json"
    ).json()
    there = api.post(
        "/api/git/stacks?check=false",
        {"stackName": "there", "url": "https://git.example.test/there.git", "environmentId": prod["id"]},
        format="json",
    ).json()
    django_user_model.objects.create_user(username="bob", password="bob-pass-123")
    local = local_environment()
    added = api.post(f"/api/environments/{local.pk}/members", {"username": "bob", "role": "viewer"}, format="json")
    assert added.status_code == 201, added.content
    assert (
        _api(env_admin).put(f"/api/git/stacks/{here['id']}?check=false", {"branch": "dev"}, format="json").status_code
        == 200
    )
    for name in ("viewer", "outsider"):
        login = APIClient().post("/api/auth/login", {"username": name, "password": f"{name}-pass-123"}, format="json")
        assert login.status_code == 200
    APIClient().post("/api/auth/login", {"username": "viewer", "password": "wrong"}, format="json")
    return {"prod": prod, "here": here, "there": there, "local": local}


def test_each_role_reads_the_audit_of_its_own_environments_and_its_own_actions(
    api: APIClient,
    scene: dict[str, Any],
    viewer: Any,
    deployer: Any,
    env_admin: Any,
    outsider: Any,
    django_user_model: Any,
) -> None:
    here, there, prod, local = scene["here"], scene["there"], scene["prod"], scene["local"]
    created_here = ("user:admin", "stack.create", f"gitstack:{here['id']} here")
    changed_here = ("user:envadmin", "stack.update", f"gitstack:{here['id']} here")
    member_added = ("user:admin", "membership.save", f"environment:{local.pk} local")
    everything = _audit(api)
    assert [e for e in everything if e[1] not in ("repository.create", "auth.login_failed")] == [
        ("user:admin", "environment.save", f"environment:{prod['id']} prod"),
        ("user:admin", "credential.create", everything[1][2]),
        created_here,
        ("user:admin", "stack.create", f"gitstack:{there['id']} there"),
        member_added,
        changed_here,
        ("user:viewer", "auth.login", f"user:{viewer.pk} viewer"),
        ("user:outsider", "auth.login", f"user:{outsider.pk} outsider"),
    ]
    assert everything[1][2].startswith("credential:")
    # Members of `prod` read its events: they name the fields changed, never a value.
    saved = api.get("/api/audit?limit=200").json()["data"][-1]
    assert (saved["action"], saved["detail"]) == ("environment.save", "changed: docker_host, name, notify_urls")

    # Who holds which role is for the environment's admins, as its member list is.
    assert _audit(_api(env_admin)) == [created_here, member_added, changed_here]
    assert _audit(_api(deployer)) == [created_here, changed_here]
    assert _audit(_api(viewer)) == [
        created_here,
        changed_here,
        ("user:viewer", "auth.login", f"user:{viewer.pk} viewer"),
    ]
    assert _audit(_api(outsider)) == [("user:outsider", "auth.login", f"user:{outsider.pk} outsider")]

    # The page shows the same rows, and none of another environment, user or setting.
    html = _page(viewer).get("/audit/").content.decode()
    assert html.count('<tr><td class="text-nowrap"') == 3
    hidden = (f"environment:{prod['id']}", f"gitstack:{there['id']}", "credential.", "membership.", "outsider")
    for text in (*hidden, "auth.login_failed", "bob"):
        assert text not in html, text
    assert f"gitstack:{here['id']} here" in html and "stack.update" in html
    nobody = django_user_model.objects.create_user(username="nobody", password="nobody-pass-123")
    assert "Nothing recorded yet" in _page(nobody).get("/audit/").content.decode()


def test_a_token_limited_to_an_environment_reads_that_environment_and_its_owners_own_actions(
    api: APIClient, scene: dict[str, Any]
) -> None:
    here, local = scene["here"], scene["local"]
    made = api.post(
        "/api/tokens",
        {"name": "local-only", "scopes": ["deploy:admin"], "environmentIds": [local.pk]},
        format="json",
    )
    assert made.status_code == 201, made.content
    bot = APIClient()
    bot.credentials(HTTP_AUTHORIZATION=f"Bearer {made.json()['token']}")
    seen = _audit(bot)
    repositories = [obj for _, action, obj in seen if action == "repository.create"]
    assert seen == [
        ("user:admin", "credential.create", seen[0][2]),  # its owner's own, about no environment
        ("user:admin", "repository.create", repositories[0]),
        ("user:admin", "stack.create", f"gitstack:{here['id']} here"),
        ("user:admin", "repository.create", repositories[1]),  # repositories belong to no environment
        ("user:admin", "membership.save", f"environment:{local.pk} local"),
        ("user:envadmin", "stack.update", f"gitstack:{here['id']} here"),
        ("user:admin", "token.create", seen[-1][2]),
    ]
    assert not any("prod" in obj or ("gitstack:" in obj and "here" not in obj) for _, _, obj in seen)


def test_health_tells_nobody_words_a_member_their_environments_and_an_owner_everything(
    api: APIClient, scene: dict[str, Any], viewer: Any, docker_image: str
) -> None:
    there = scene["there"]
    # A stack of `prod` held past its lease: the node is unhealthy, and says so to all.
    GitStack.objects.filter(pk=there["id"]).update(lock_owner=1, lock_expires=timezone.now() - timedelta(hours=1))
    local_engine = environment_engine_check(scene["local"])[1]
    assert local_engine.startswith("Docker ")

    anonymous = APIClient().get("/api/health")
    assert anonymous.status_code == 503
    assert anonymous.json() == {
        "details": "unhealthy",
        "error": "failing: worker, work",
        "code": "unavailable",
        "database": "ok",
        "disk": "ok",
        "worker": "failing",
        "work": "failing",
        "docker": "ok",
    }

    seen_by_viewer = _api(viewer).get("/api/health")
    assert seen_by_viewer.status_code == 503
    assert seen_by_viewer.json() == {
        "details": "unhealthy",
        "error": "worker: no django-q2 cluster is running; "
        "work: held past their lease, not taken back: 1 stack(s) you cannot see",
        "code": "unavailable",
        "database": "ok",
        "disk": "ok",
        "worker": "no django-q2 cluster is running",
        "work": "held past their lease, not taken back: 1 stack(s) you cannot see",
        "docker": "ok",
        "engines": {"local": local_engine},
    }

    owner = api.get("/api/health").json()
    assert owner["work"] == "held past their lease, not taken back: there"
    assert owner["engines"]["local"] == local_engine
    assert owner["engines"]["prod"].startswith("unreachable: Cannot reach the Docker engine")
    assert set(owner["engines"]) == {"local", "prod"}

    # Healthy again but for the worker: still only words for nobody.
    GitStack.objects.filter(pk=there["id"]).update(lock_owner=None, lock_expires=None)
    assert APIClient().get("/api/health").json()["work"] == "ok"


def test_health_without_the_local_engine_tells_nobody_which_engine(
    scene: dict[str, Any], viewer: Any, outsider: Any
) -> None:
    Environment.objects.filter(name="local").update(docker_host="tcp://127.0.0.1:9")
    anonymous = APIClient().get("/api/health").json()
    assert (anonymous["docker"], anonymous["error"]) == ("failing", "failing: worker, docker")
    assert "engines" not in anonymous
    for_viewer = _api(viewer).get("/api/health").json()
    assert for_viewer["docker"].startswith("Cannot reach the Docker engine")  # `local` is theirs
    for_outsider = _api(outsider).get("/api/health").json()
    assert (for_outsider["docker"], for_outsider["engines"]) == ("unreachable", {})


def test_metrics_need_the_token_even_from_this_machine(settings: Any) -> None:
    refused = "Forbidden: give the metrics token (DOCKHAND_METRICS_TOKEN) as a bearer token\n"
    for given in ({}, {"HTTP_AUTHORIZATION": "Bearer anything"}):  # no token configured: nobody scrapes
        answer = Client().get("/metrics", **given)  # from 127.0.0.1, the test client's address
        assert (answer.status_code, answer.content.decode()) == (403, refused)
    settings.METRICS_TOKEN = METRICS_TOKEN
    assert Client().get("/metrics").status_code == 403
    assert Client().get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    scraped = Client().get("/metrics", HTTP_AUTHORIZATION=f"Bearer {METRICS_TOKEN}")
    assert scraped.status_code == 200 and "dockhand_queue_depth 0.0" in scraped.content.decode()


def test_a_stacks_webhook_secret_is_for_who_may_configure_it_in_both_serializer_walks(
    api: APIClient, viewer: Any, deployer: Any, env_admin: Any, admin: Any
) -> None:
    """The written-out body and DRF's walk over the declared fields agree for every role:
    the secret for the owner and the environment's admins, null for the others."""
    created = api.post(
        "/api/git/stacks?check=false", {"stackName": "hooked", "url": "https://e.test/h.git"}, format="json"
    )
    secret = created.json()["webhookSecret"]
    stack = stack_queryset().get()
    for user, shown in ((admin, secret), (env_admin, secret), (deployer, None), (viewer, None)):
        client = _api(user)
        assert client.get(f"/api/git/stacks/{stack.pk}").json()["webhookSecret"] == shown
        request = client.get("/api/git/stacks").wsgi_request
        serializer = GitStackSerializer(stack, context={"request": request, "states": stack_states([stack])})
        written = serializer.data
        generic = serializers.ModelSerializer.to_representation(serializer, stack)
        assert written == generic and written["webhookSecret"] == shown, user.username
