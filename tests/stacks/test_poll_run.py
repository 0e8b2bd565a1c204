"""`POST /api/poll/run` in doco-cd's body shape: stacks made on first use, reused after,
each synced through the one pipeline (real git server, real engine)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from gitsync.models import Repository
from stacks.models import Deployment, GitStack
from tests.conftest import compose_file
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db


@pytest.fixture
def name() -> str:
    return f"poll-{uuid.uuid4().hex[:8]}"


def test_a_poll_run_makes_the_stack_deploys_it_and_reuses_it_after(
    api: APIClient, git_server: Any, token_credential: dict[str, Any], projects: list[str], name: str, docker_image: str
) -> None:
    projects.append(name)
    override = "services:\n  app:\n    environment:\n      FROM_REPO: from-override\n"
    repo = git_server.create_repo(
        name,
        {"app/compose.yaml": compose_file("1"), "app/over.yaml": override, "app/.env": "PLAIN=from-env-file\n"},
    )
    deployment = {
        "name": name,
        "working_dir": "/app",
        "compose_files": ["compose.yaml", "over.yaml"],
        "env_files": [".env"],
    }
    body = [{"url": repo.url, "reference": "main", "deployments": [deployment]}]

    response = api.post("/api/poll/run?wait=true", body, format="json")

    assert response.status_code == 200, response.content
    [result] = response.json()
    assert (result["stackName"], result["success"], result["deployed"]) == (name, True, True)
    assert result["commit"] == repo.head()
    stack = GitStack.objects.get(pk=result["stackId"])
    assert (stack.compose_path, stack.env_file_path, stack.branch) == ("app/compose.yaml", "app/.env", "main")
    assert stack.additional_compose_files == ["app/over.yaml"]  # both files, in the working dir
    # No credential was named: the one whose scope holds the URL was taken.
    assert stack.repository.credential_id == token_credential["id"]
    deployed = dockersupport.container_env(f"{name}-app-1")
    assert (deployed["PLAIN"], deployed["FROM_REPO"]) == ("from-env-file", "from-override")

    repo.commit({"app/compose.yaml": compose_file("2")}, "v2")
    later = api.post("/api/poll/run?wait=false", body, format="json")

    assert later.status_code == 202, later.content
    [queued] = later.json()
    assert queued["stackId"] == stack.pk  # reused, not made again
    assert GitStack.objects.filter(name=name).count() == 1 and Repository.objects.filter(url=repo.url).count() == 1
    done = Deployment.objects.get(pk=queued["deploymentId"])
    assert done.status == Deployment.Status.SUCCESS  # (the test queue runs it at once)
    assert dockersupport.container_env(f"{name}-app-1")["VERSION"] == "2"


def test_without_deployments_one_stack_named_after_the_repository_deploys(
    api: APIClient, git_server: Any, token_credential: dict[str, Any], projects: list[str], name: str, docker_image: str
) -> None:
    projects.append(name)
    repo = git_server.create_repo(name, {"compose.yaml": compose_file("1")})

    response = api.post("/api/poll/run", [{"url": repo.url}], format="json")

    assert response.status_code == 200, response.content
    assert [(r["stackName"], r["deployed"]) for r in response.json()] == [(name, True)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "body: must be a non-empty JSON array"),
        ([{"reference": "main"}], "[0].url: is required"),
        ([{"url": "file:///etc"}], "[0].url:"),
        ([{"url": "https://git.example.test/r.git", "reference": "refs/tags/v1"}], "[0].reference: only branches"),
        ([{"url": "https://git.example.test/r.git", "deployments": [{}]}], "[0].deployments[0].name: is required"),
        (
            [{"url": "https://git.example.test/r.git", "deployments": [{"name": "a", "working_dir": "../up"}]}],
            "[0].deployments[0].working_dir: '../up/compose.yaml' must not contain '..'",
        ),
        (
            [{"url": "https://git.example.test/r.git", "deployments": [{"name": "a", "env_files": ["a", "b"]}]}],
            "[0].deployments[0].env_files: at most one file",
        ),
        ([{"url": "https://git.example.test/r.git", "branch": "x"}], "[0].branch: unknown field"),
    ],
)
def test_a_bad_body_is_a_400_naming_the_field(api: APIClient, body: Any, message: str) -> None:
    response = api.post("/api/poll/run", body, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["error"].startswith(message)
    assert not Repository.objects.exists() and not GitStack.objects.exists()


def test_a_deployer_runs_stacks_but_does_not_make_them(
    api: APIClient,
    git_server: Any,
    token_credential: dict[str, Any],
    deployer: Any,
    name: str,
    projects: list[str],
    docker_image: str,
) -> None:
    projects.append(name)
    repo = git_server.create_repo(name, {"compose.yaml": compose_file("1")})
    body = [{"url": repo.url, "deployments": [{"name": name}]}]
    client = APIClient()
    client.force_login(deployer)

    refused = client.post("/api/poll/run", body, format="json")

    assert refused.status_code == 403
    assert not GitStack.objects.exists() and not Repository.objects.exists()
    assert api.post("/api/poll/run?wait=false", body, format="json").status_code == 202  # an admin makes it
    again = client.post("/api/poll/run", body, format="json")
    assert again.status_code == 200 and again.json()[0]["success"] is True


def test_without_deployments_the_repository_s_own_config_decides(
    api: APIClient, git_server: Any, token_credential: dict[str, Any], projects: list[str], name: str, docker_image: str
) -> None:
    projects.extend([f"{name}-a", f"{name}-b"])
    repo = git_server.create_repo(
        name,
        {
            "a/compose.yaml": compose_file("a"),
            "b/compose.yaml": compose_file("b"),
            ".dockhand.yaml": f"stacks:\n  - name: {name}-a\n    composePath: a/compose.yaml\n"
            f"  - name: {name}-b\n    composePath: b/compose.yaml\n",
        },
    )

    response = api.post("/api/poll/run", [{"url": repo.url}], format="json")

    assert response.status_code == 200, response.content
    assert sorted((r["stackName"], r["deployed"]) for r in response.json()) == [
        (f"{name}-a", True),
        (f"{name}-b", True),
    ]
    assert dockersupport.container_env(f"{name}-b-app-1")["VERSION"] == "b"


def test_a_deploy_write_token_runs_stacks_and_only_an_admin_token_makes_them(
    api: APIClient, git_server: Any, token_credential: dict[str, Any], name: str, projects: list[str], docker_image: str
) -> None:
    projects.append(name)
    repo = git_server.create_repo(name, {"compose.yaml": compose_file("1")})
    body = [{"url": repo.url, "deployments": [{"name": name}]}]
    raw = api.post("/api/tokens", {"name": "ci", "scopes": ["deploy:write"]}, format="json").json()["token"]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    refused = client.post("/api/poll/run", body, format="json")

    assert refused.status_code == 403
    assert refused.json()["error"] == "Making a stack needs a deploy:admin token"
    assert api.post("/api/poll/run?wait=false", body, format="json").status_code == 202
    assert client.post("/api/poll/run", body, format="json").json()[0]["success"] is True
