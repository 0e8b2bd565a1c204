"""Stacks declared in the repository (`.dockhand.yaml`): discovered on demand and by
every repository webhook, deployed from one push (real git server, real engine)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from dockhand.models import AuditEvent
from stacks.models import GitStack
from tests.conftest import compose_file
from tests.support import docker as dockersupport
from tests.support import webhooks as hooks

pytestmark = pytest.mark.django_db


def _config(*stacks: dict[str, Any]) -> str:
    lines = ["stacks:"]
    for stack in stacks:
        first = True
        for key, value in stack.items():
            shown = "[" + ", ".join(value) + "]" if isinstance(value, list) else value
            lines.append(f"  {'- ' if first else '  '}{key}: {shown}")
            first = False
    return "\n".join(lines) + "\n"


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:6]


@pytest.fixture
def repository(api: APIClient, git_server: Any, token_credential: dict[str, Any], tag: str) -> Any:
    def _make(files: dict[str, str]) -> tuple[Any, dict[str, Any]]:
        repo = git_server.create_repo(f"cfg-{tag}-{uuid.uuid4().hex[:4]}", files)
        created = api.post(
            "/api/git/repositories", {"url": repo.url, "credentialId": token_credential["id"]}, format="json"
        )
        assert created.status_code == 201, created.content
        return repo, api.get(f"/api/git/repositories/{created.json()['id']}").json()

    return _make


def _push(repository: dict[str, Any], repo: Any, before: str, sha: str, suffix: str = "") -> Any:
    hook = hooks.github_push(repo, repository["webhookSecret"], before=before, shas=[sha])
    return APIClient().post(
        f"/api/git/repositories/{repository['id']}/webhook{suffix}",
        data=hook.body,
        content_type="application/json",
        **hook.meta(),
    )


def _with_profiled_service(version: str) -> str:
    """The app, and a service that only runs under the `prod` profile."""
    return compose_file(version) + (
        f"  extra:\n    image: {dockersupport.IMAGE}\n    pull_policy: never\n"
        '    command: ["sh", "-c", "sleep 3600"]\n    stop_grace_period: 1s\n    profiles: [prod]\n'
    )


def test_one_push_discovers_two_stacks_and_deploys_both(
    repository: Any, projects: list[str], tag: str, docker_image: str, django_user_model: Any
) -> None:
    web, api_ = f"web-{tag}", f"api-{tag}"
    projects.extend([web, api_])
    repo, repo_json = repository({"README.md": "x\n"})
    before = repo.head()
    sha = repo.commit(
        {
            "web/compose.yaml": _with_profiled_service("web-1"),
            "web/vars.env": "PLAIN=from-declared-env\n",
            "api/compose.yaml": compose_file("api-1"),
            ".dockhand.yaml": _config(
                {
                    "name": web,
                    "composePath": "web/compose.yaml",
                    "envFilePath": "web/vars.env",
                    "profiles": ["prod"],
                    "watchPaths": ["web"],
                    "projectName": web,
                },
                {"name": api_, "composePath": "api/compose.yaml", "watchPaths": ["api"], "projectName": api_},
            ),
        },
        "declare two stacks",
    )

    response = _push(repo_json, repo, before, sha)

    assert response.status_code == 202, response.content
    body = response.json()
    assert sorted(s["stackName"] for s in body["discovery"]["created"]) == sorted([web, api_])
    assert body["discovery"]["commit"] == sha
    stacks = {s.name: s for s in GitStack.objects.filter(repository_id=repo_json["id"])}
    assert sorted(d["stackId"] for d in body["deployments"]) == sorted(s.pk for s in stacks.values())
    assert dockersupport.container_env(f"{web}-app-1")["VERSION"] == "web-1"
    assert dockersupport.container_env(f"{api_}-app-1")["VERSION"] == "api-1"
    assert stacks[web].config_file == ".dockhand.yaml" and stacks[web].watch_paths == ["web"]
    # The declared env file and profile are the stack's: its variables reach the app,
    # and the service of the `prod` profile runs.
    assert (stacks[web].env_file_path, stacks[web].profiles) == ("web/vars.env", ["prod"])
    assert dockersupport.container_env(f"{web}-app-1")["PLAIN"] == "from-declared-env"
    assert {c["Names"] for c in dockersupport.containers(web)} == {f"{web}-app-1", f"{web}-extra-1"}
    shown = APIClient()
    shown.force_login(django_user_model.objects.get(username="admin"))
    assert shown.get(f"/api/git/stacks/{stacks[web].pk}").json()["configFile"] == ".dockhand.yaml"
    assert AuditEvent.objects.filter(action="repository.discover").count() == 1

    # The next push changes one stack's folder: the other is discovered unchanged and left alone.
    before = sha
    sha = repo.commit({"web/compose.yaml": _with_profiled_service("web-2")}, "bump web")
    body = _push(repo_json, repo, before, sha).json()
    assert sorted(s["stackName"] for s in body["discovery"]["unchanged"]) == sorted([web, api_])
    assert [d["stackId"] for d in body["deployments"]] == [stacks[web].pk]
    assert dockersupport.container_env(f"{web}-app-1")["VERSION"] == "web-2"


def test_discover_updates_and_reports_the_stacks_the_file_dropped(api: APIClient, repository: Any, tag: str) -> None:
    repo, repo_json = repository(
        {
            "a/compose.yaml": compose_file(),
            "b/compose.yaml": compose_file(),
            "b/other.yaml": compose_file(),
            ".dockhand.yaml": _config(
                {"name": f"a-{tag}", "composePath": "a/compose.yaml"},
                {"name": f"b-{tag}", "composePath": "b/compose.yaml", "profiles": ["prod"]},
            ),
        }
    )
    first = api.post(f"/api/git/repositories/{repo_json['id']}/discover", {}, format="json")
    assert first.status_code == 200, first.content
    assert len(first.json()["created"]) == 2
    repo.commit({".dockhand.yaml": _config({"name": f"b-{tag}", "composePath": "b/other.yaml"})}, "drop a")

    again = api.post(f"/api/git/repositories/{repo_json['id']}/discover", {}, format="json").json()

    assert [s["stackName"] for s in again["updated"]] == [f"b-{tag}"]
    assert [s["stackName"] for s in again["missing"]] == [f"a-{tag}"]
    b = GitStack.objects.get(name=f"b-{tag}")
    assert (b.compose_path, b.profiles) == ("b/other.yaml", [])  # a field the file dropped is reset
    assert GitStack.objects.filter(name=f"a-{tag}").exists()  # reported, never deleted


@pytest.mark.parametrize(
    ("stack", "message"),
    [
        ({"name": "x", "composePath": "../etc/compose.yaml"}, ".dockhand.yaml: stacks[0].composePath:"),
        ({"name": "x", "composePath": "nope.yaml"}, "stacks[0].composePath: 'nope.yaml' is not in the branch"),
        ({"name": "x", "image": "nginx"}, "stacks[0].image: unknown field"),
        ({"name": "x", "projectName": "Bad Name"}, "stacks[0].projectName: must be lower-case"),
        ({"composePath": "compose.yaml"}, "stacks[0].name: is required"),
    ],
)
def test_a_bad_file_is_a_400_naming_file_and_field(
    api: APIClient, repository: Any, stack: dict[str, Any], message: str
) -> None:
    _, repo_json = repository({"compose.yaml": compose_file(), ".dockhand.yaml": _config(stack)})

    response = api.post(f"/api/git/repositories/{repo_json['id']}/discover", {}, format="json")

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert not GitStack.objects.filter(repository_id=repo_json["id"]).exists()


def test_a_name_taken_by_a_stack_the_file_did_not_make_is_refused(
    api: APIClient, repository: Any, make_stack: Any, app_repo: Any
) -> None:
    other = make_stack(app_repo, skipSourceCheck=True)
    _, repo_json = repository({"compose.yaml": compose_file(), ".dockhand.yaml": _config({"name": other["stackName"]})})

    response = api.post(f"/api/git/repositories/{repo_json['id']}/discover", {}, format="json")

    assert response.status_code == 400
    assert "is not one this file declared" in response.json()["error"]


def test_without_the_file_discover_is_a_404(api: APIClient, repository: Any) -> None:
    _, repo_json = repository({"compose.yaml": compose_file()})
    response = api.post(f"/api/git/repositories/{repo_json['id']}/discover", {}, format="json")
    assert response.status_code == 404
    assert response.json()["error"] == ".dockhand.yaml: not found at the head of main"


def test_a_custom_target_deploys_only_the_stacks_of_its_own_file(
    repository: Any, projects: list[str], tag: str, docker_image: str
) -> None:
    main, staging = f"main-{tag}", f"staging-{tag}"
    projects.extend([main, staging])
    repo, repo_json = repository({"README.md": "x\n"})
    before = repo.head()
    sha = repo.commit(
        {
            "compose.yaml": compose_file("1"),
            ".dockhand.yaml": _config({"name": main, "projectName": main}),
            ".dockhand.staging.yaml": _config({"name": staging, "projectName": staging}),
        },
        "two targets",
    )

    response = _push(repo_json, repo, before, sha, "/staging")

    assert response.status_code == 202, response.content
    body = response.json()
    assert [s["stackName"] for s in body["discovery"]["created"]] == [staging]
    assert [d["stackId"] for d in body["deployments"]] == [GitStack.objects.get(name=staging).pk]
    assert not GitStack.objects.filter(name=main).exists()
    assert dockersupport.containers(staging)
    missing = _push(repo_json, repo, before, sha, "/production")
    assert missing.status_code == 404
    assert missing.json()["error"] == ".dockhand.production.yaml: not found at the head of main"


def test_discover_needs_admin_of_the_environment(
    repository: Any, deployer: Any, env_admin: Any, tag: str, django_user_model: Any
) -> None:
    from stacks.models import Environment, Membership

    _, repo_json = repository({"compose.yaml": compose_file(), ".dockhand.yaml": _config({"name": f"d-{tag}"})})
    url = f"/api/git/repositories/{repo_json['id']}/discover"
    client = APIClient()
    client.force_login(deployer)  # a repository no stack uses: only environment admins see it
    assert client.post(url, {}, format="json").status_code == 404
    other = Environment.objects.create(name=f"other-{tag}")
    Membership.objects.create(user=env_admin, environment=other, role="deployer")
    client.force_login(env_admin)
    refused = client.post(url, {"environmentId": other.pk}, format="json")
    assert refused.status_code == 403, refused.content
    assert not GitStack.objects.filter(repository_id=repo_json["id"]).exists()
    assert client.post(url, {}, format="json").status_code == 200  # admin of local: made there
    assert GitStack.objects.get(repository_id=repo_json["id"]).environment.name == "local"


def test_a_broken_file_is_reported_and_the_other_stacks_still_deploy(
    repository: Any, make_stack: Any, projects: list[str], docker_image: str
) -> None:
    repo, repo_json = repository({"compose.yaml": compose_file("1")})
    stack = make_stack(repo, webhookEnabled=True, envFilePath="")  # (on the same repository: its URL and credential)
    assert stack["repositoryId"] == repo_json["id"]
    before = repo.head()
    sha = repo.commit({"compose.yaml": compose_file("2"), ".dockhand.yaml": "stacks: [oops\n"}, "broken config")

    response = _push(repo_json, repo, before, sha)

    assert response.status_code == 202, response.content
    body = response.json()
    assert body["discovery"]["file"] == ".dockhand.yaml"
    assert body["discovery"]["error"].startswith(".dockhand.yaml: not valid YAML (line 2: expected ',' or ']'")
    assert [d["stackId"] for d in body["deployments"]] == [stack["id"]]
    assert dockersupport.container_env(f"{stack['projectName']}-app-1")["VERSION"] == "2"


def test_a_replayed_delivery_does_not_discover_again(
    repository: Any, git_server: Any, projects: list[str], tag: str, docker_image: str
) -> None:
    projects.append(f"r-{tag}")
    repo, repo_json = repository({"compose.yaml": compose_file()})
    before = repo.head()
    sha = repo.commit({".dockhand.yaml": _config({"name": f"r-{tag}", "projectName": f"r-{tag}"})}, "declare")
    hook = hooks.github_push(repo, repo_json["webhookSecret"], before=before, shas=[sha])
    url = f"/api/git/repositories/{repo_json['id']}/webhook"
    first = APIClient().post(url, data=hook.body, content_type="application/json", **hook.meta())
    assert first.json()["discovery"]["created"][0]["stackName"] == f"r-{tag}"
    asked = len(git_server.requests)

    again = APIClient().post(url, data=hook.body, content_type="application/json", **hook.meta())

    assert again.json() == {"duplicate": True}
    assert len(git_server.requests) == asked  # not even the remote was read again
