"""A compose file in a subfolder reads the `.env` beside it, as plain
`docker compose -f apps/web/compose.yaml up` does; the stack's own layers go on top."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import SECRET_VALUE, container_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db

WEB = """\
services:
  app:
    image: {image}
    pull_policy: never
    command: ["sh", "-c", "sleep 3600"]
    stop_grace_period: 1s
    environment:
      GREETING: ${{GREETING:-unset}}
      ROOT_ONLY: ${{ROOT_ONLY:-unset}}
      FROM_FILE: ${{FROM_FILE:-unset}}
      PLAIN: ${{PLAIN:-unset}}
      SECRET: ${{SECRET:-unset}}
      BRANCH: ${{GIT_BRANCH:-unset}}
      AUTHOR: ${{GIT_COMMIT_AUTHOR:-unset}}
"""
# Every layer sets every key it can, so each key shows which layer won.
WEB_DOTENV = (
    "GREETING=hello\nFROM_FILE=dotenv\nPLAIN=dotenv\nSECRET=dotenv\nGIT_BRANCH=dotenv\nGIT_COMMIT_AUTHOR=dotenv\n"
)
ENV_FILE = "FROM_FILE=env-file\nPLAIN=env-file\nSECRET=env-file\nGIT_BRANCH=env-file\nGIT_COMMIT_AUTHOR=env-file\n"


def _unique(name: str) -> str:
    """A repository name no other test of this worker's git server uses."""
    return f"{name}-{uuid.uuid4().hex[:8]}"


def _sync(api: Any, stack: dict[str, Any]) -> dict[str, Any]:
    body: dict[str, Any] = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert body["success"] is True and body["deployed"] is True, body
    return body


def test_the_env_beside_a_compose_file_in_a_subfolder_is_read(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    repo = git_server.create_repo(
        _unique("dotenv-web"),
        {"apps/web/compose.yaml": WEB.format(image=docker_image), "apps/web/.env": "GREETING=hello\n"},
    )
    stack = make_stack(repo, composePath="apps/web/compose.yaml", envFilePath="", envVars=[])
    _sync(api, stack)
    assert dockersupport.container_env(container_name(stack))["GREETING"] == "hello"


def test_env_file_overrides_metadata_and_secrets_go_on_top_of_it_in_that_order(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    repo = git_server.create_repo(
        _unique("dotenv-layers"),
        {
            "apps/web/compose.yaml": WEB.format(image=docker_image),
            "apps/web/.env": WEB_DOTENV,
            ".env": "ROOT_ONLY=root\nGREETING=root\n",  # above the project folder: compose ignores it
            "config/prod.env": ENV_FILE,
        },
    )
    stack = make_stack(
        repo,
        composePath="apps/web/compose.yaml",
        envFilePath="config/prod.env",  # relative to the repository, not to the compose file
        envVars=[
            {"key": "PLAIN", "value": "plain-override", "isSecret": False},
            {"key": "GIT_BRANCH", "value": "plain-override", "isSecret": False},
            {"key": "SECRET", "value": SECRET_VALUE, "isSecret": True},
            {"key": "GIT_COMMIT_AUTHOR", "value": "secret-author", "isSecret": True},
        ],
    )
    _sync(api, stack)
    env = dockersupport.container_env(container_name(stack))
    assert {key: env[key] for key in ("GREETING", "ROOT_ONLY", "FROM_FILE", "PLAIN", "SECRET", "BRANCH", "AUTHOR")} == {
        "GREETING": "hello",  # compose's own .env
        "ROOT_ONLY": "unset",  # the repository root's .env is not the project's
        "FROM_FILE": "env-file",  # envFilePath over .env
        "PLAIN": "plain-override",  # a non-secret override over envFilePath
        "SECRET": SECRET_VALUE,  # a secret over everything
        "BRANCH": "main",  # git metadata over a non-secret override
        "AUTHOR": "secret-author",  # ... and a secret over git metadata
    }


def test_the_diff_resolves_the_env_beside_the_compose_file_as_the_deploy_does(
    api: Any, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    compose = WEB.format(image=docker_image).split("      ROOT_ONLY")[0]  # GREETING only: no per-commit values
    repo = git_server.create_repo(
        _unique("dotenv-diff"),
        {"apps/web/compose.yaml": compose, "apps/web/.env": "GREETING=hello\n", "README.md": "x\n"},
    )
    stack = make_stack(repo, composePath="apps/web/compose.yaml", envFilePath="", envVars=[])
    _sync(api, stack)
    repo.commit({"README.md": "docs\n"}, "docs only")
    assert api.get(f"/api/git/stacks/{stack['id']}/diff").json()["services"] == []  # rendered as deployed
    repo.commit({"apps/web/.env": "GREETING=hi\n"}, "greet differently")
    changed = api.get(f"/api/git/stacks/{stack['id']}/diff").json()
    assert (changed["services"], changed["servicesError"]) == (["app"], None)
    _sync(api, stack)
    assert dockersupport.container_env(container_name(stack))["GREETING"] == "hi"
