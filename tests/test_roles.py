"""Roles per environment, enforced alike in the API, the pages and the live socket:
404 where a stack is not even visible, 403 where it is seen but not allowed."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from rest_framework.test import APIClient

from dockhand.asgi import application
from stacks.models import Deployment
from tests.conftest import session_headers

pytestmark = pytest.mark.django_db


@pytest.fixture
def stack(api: Any) -> dict[str, Any]:
    # An unreachable remote: a sync that passes the permission check fails fast at git.
    return dict(
        api.post(
            "/api/git/stacks?check=false", {"stackName": "shop", "url": "http://127.0.0.1:9/shop.git"}, format="json"
        ).json()
    )


def _api(user: Any) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


def _admin_of_local() -> Any:
    from django.contrib.auth import get_user_model

    from stacks.models import Membership
    from stacks.services.stacks import local_environment

    user = get_user_model().objects.create_user(username="local-admin", password="local-admin-pass-1")
    Membership.objects.create(user=user, environment=local_environment(), role=Membership.Role.ADMIN)
    return user


def _page(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_a_user_with_no_role_sees_nothing(outsider: Any, stack: dict[str, Any]) -> None:
    client = _api(outsider)
    assert client.get("/api/git/stacks").json() == []
    assert client.get(f"/api/git/stacks/{stack['id']}").status_code == 404
    assert client.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").status_code == 404
    assert _page(outsider).get(f"/stacks/{stack['id']}/").status_code == 404
    assert 'data-stack="shop"' not in _page(outsider).get("/stacks/").content.decode()


def test_a_viewer_sees_but_may_not_sync_or_change(viewer: Any, stack: dict[str, Any]) -> None:
    client = _api(viewer)
    assert client.get(f"/api/git/stacks/{stack['id']}").status_code == 200
    refused = client.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert refused.status_code == 403 and "needs deployer" in refused.json()["error"]
    assert client.put(f"/api/git/stacks/{stack['id']}", {"branch": "dev"}, format="json").status_code == 403
    assert _page(viewer).post(f"/stacks/{stack['id']}/sync/").status_code == 403
    assert Deployment.objects.count() == 0


def test_only_the_stacks_admins_see_its_webhook_secret(viewer: Any, deployer: Any, api: Any) -> None:
    created = api.post(
        "/api/git/stacks?check=false", {"stackName": "hooked", "url": "http://127.0.0.1:9/h.git"}, format="json"
    )
    secret = created.json()["webhookSecret"]
    assert len(secret) >= 32  # its owner sees it
    for user in (viewer, deployer):  # with it they could sign a push and deploy
        client = _api(user)
        assert client.get(f"/api/git/stacks/{created.json()['id']}").json()["webhookSecret"] is None
        assert [s["webhookSecret"] for s in client.get("/api/git/stacks").json()] == [None]
        page = _page(user).get(f"/stacks/{created.json()['id']}/").content.decode()
        assert secret not in page and 'id="webhook-secret-hidden"' in page
    assert secret in _page(_admin_of_local()).get(f"/stacks/{created.json()['id']}/").content.decode()


def test_a_deployer_may_sync_but_not_change_the_stack(deployer: Any, stack: dict[str, Any]) -> None:
    client = _api(deployer)
    synced = client.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert synced.status_code == 502  # allowed: it ran and met the unreachable remote
    assert client.put(f"/api/git/stacks/{stack['id']}", {"branch": "dev"}, format="json").status_code == 403
    assert client.delete(f"/api/git/stacks/{stack['id']}").status_code == 403
    assert (
        client.post("/api/git/stacks", {"stackName": "x", "url": "https://e.test/x.git"}, format="json").status_code
        == 403
    )
    assert (
        _page(deployer).post(f"/stacks/{stack['id']}/env/", {"row": ["0"], "key": ["A"], "value": ["1"]}).status_code
        == 403
    )


def test_only_administrators_manage_credentials_repositories_and_environments(deployer: Any) -> None:
    client = _api(deployer)
    assert client.post("/api/git/credentials", {"name": "c"}, format="json").status_code == 403
    assert client.post("/api/environments", {"name": "e"}, format="json").status_code == 403
    assert _page(deployer).post("/credentials/new/", {"name": "c", "authType": "none"}).status_code == 403
    assert client.get("/api/git/credentials").status_code == 200


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
async def test_the_live_socket_refuses_a_user_who_may_not_see_the_deployment(
    outsider: Any, viewer: Any, deployment: Deployment
) -> None:
    refused = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment.pk}/", headers=await sync_to_async(session_headers)(outsider)
    )
    connected, code = await refused.connect()
    assert not connected and code == 4404
    allowed = WebsocketCommunicator(
        application, f"/ws/deployments/{deployment.pk}/", headers=await sync_to_async(session_headers)(viewer)
    )
    assert (await allowed.connect())[0]
    await allowed.disconnect()
