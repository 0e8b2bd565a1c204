"""A secret is masked in each form it is printed in: `$`-escaped as `docker compose
config` prints it (`pa$$word`), line by line when it has several lines, and a registry
login as DOCKER_CONFIG holds it (`user:password` in base64)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from dockhand.masking import MASK, mask
from stacks.models import Deployment, GitStack, Registry
from stacks.services.deploy import stack_secrets

pytestmark = pytest.mark.django_db

DOLLAR = "CANARY-pa$word-5e1d"
KEY = "-----BEGIN KEY-----\nCANARY-line-one-8c2a\nCANARY-line-two-41f0\n-----END KEY-----"


def test_every_printed_form_is_masked() -> None:
    assert mask("x=CANARY-pa$$word-5e1d y", [DOLLAR]) == f"x={MASK} y"
    assert mask("x=CANARY-pa$word-5e1d", [DOLLAR]) == f"x={MASK}"
    one_line = mask("read CANARY-line-two-41f0 at 3", [KEY])
    assert "CANARY" not in one_line and MASK in one_line


def test_a_dollar_secret_is_masked_in_the_stored_resolved_model(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    from tests.conftest import compose_file

    repo = git_server.create_repo("dollar-secret", {"compose.yaml": compose_file()})
    stack = make_stack(repo, envFilePath="", envVars=[{"key": "SECRET", "value": DOLLAR, "isSecret": True}])
    ran = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert ran["deployed"] is True, ran
    deployment = Deployment.objects.get(pk=ran["deploymentId"])
    assert deployment.resolved and "SECRET" in deployment.resolved
    assert "pa$$word" not in deployment.resolved and "pa$word" not in deployment.resolved
    page = api.get(f"/stacks/{stack['id']}/").content.decode()
    assert "pa$$word" not in page and "pa$word" not in page


def test_a_registry_login_is_masked_in_its_docker_config_form(
    api: Any, git_server: Any, make_stack: Any, app_repo: Any
) -> None:
    Registry.objects.create(name="r", url="r.example.com", username="me", password="CANARY-reg-pass-3b9d")
    stack = make_stack(app_repo, envFilePath="")
    secrets = stack_secrets(GitStack.objects.get(pk=stack["id"]))
    auth = base64.b64encode(b"me:CANARY-reg-pass-3b9d").decode()
    assert auth in secrets
    assert mask(f'{{"auths": {{"r.example.com": {{"auth": "{auth}"}}}}}}', secrets).count(MASK) == 1
