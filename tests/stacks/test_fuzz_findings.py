"""What the API fuzz (tests/support/fuzz.py) found, kept as plain tests: each was a 500
or an answer the contract did not describe."""

from __future__ import annotations

from typing import Any

from rest_framework.test import APIClient

from tests.support.gitserver import TestRepo


def test_an_edit_with_a_variable_without_a_key_is_a_400_naming_it(
    api: APIClient, make_stack: Any, app_repo: TestRepo
) -> None:
    stack = make_stack(app_repo)
    response = api.put(
        f"/api/git/stacks/{stack['id']}", {"envVars": [{"value": None, "isSecret": True}]}, format="json"
    )
    assert response.status_code == 400, response.content
    assert response.json()["fields"]["envVars"] == ["every variable needs a key"]


def test_a_removed_stacks_deployment_answers_a_null_stack_id(
    api: APIClient, make_stack: Any, app_repo: TestRepo
) -> None:
    stack = make_stack(app_repo)
    deployed = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    assert deployed.status_code == 200, deployed.content
    removed = api.delete(f"/api/git/stacks/{stack['id']}?removeHistory=false")
    assert removed.status_code == 200, removed.content
    kept = api.get(f"/api/deployments/{deployed.json()['deploymentId']}")
    assert kept.status_code == 200 and kept.json()["stackId"] is None


HUGE_ID = 2**64 + 1  # beyond a database id: stored in a JSON list, no answer could render it again


def test_an_environment_id_beyond_any_id_is_a_400_naming_the_field(api: APIClient) -> None:
    registry = {"name": "huge", "url": "registry.example:5000", "environmentIds": [HUGE_ID]}
    credential = {"name": "huge", "authType": "token", "username": "u", "token": "t", "environmentIds": [HUGE_ID]}
    for path, body in (("/api/registries", registry), ("/api/git/credentials", credential)):
        response = api.post(path, body, format="json")
        assert response.status_code == 400, (path, response.content)
        assert "environmentIds" in response.json()["fields"], response.content
        assert api.get(path).status_code == 200  # and the list still answers
    tokens = api.post(
        "/api/tokens", {"name": "huge", "scopes": ["deploy:read"], "environmentIds": [HUGE_ID]}, format="json"
    )
    assert tokens.status_code == 400, tokens.content


def test_testing_a_store_whose_host_cannot_be_parsed_says_so(api: APIClient) -> None:
    # `a..b` passes the URL field but urllib3 cannot parse it: the test was a 500.
    created = api.post(
        "/api/secret-stores", {"name": "odd", "kind": "vault", "url": "https://a..b", "token": "t"}, format="json"
    )
    assert created.status_code == 201, created.content
    tested = api.post(f"/api/secret-stores/{created.json()['id']}/test")
    assert tested.status_code == 200, tested.content
    assert tested.json()["success"] is False and "could not be asked" in tested.json()["message"]


def test_discovery_with_a_login_the_remote_refuses_is_a_409_not_a_server_error(
    api: APIClient, git_server: Any, app_repo: TestRepo
) -> None:
    wrong = api.post(
        "/api/git/credentials",
        {"name": "wrong", "authType": "token", "token": "not-the-token", "urlPrefixes": [git_server.prefix]},
        format="json",
    )
    assert wrong.status_code == 201, wrong.content
    repository = api.post(
        "/api/git/repositories?check=false", {"url": app_repo.url, "credentialId": wrong.json()["id"]}, format="json"
    )
    assert repository.status_code == 201, repository.content
    answer = api.post(f"/api/git/repositories/{repository.json()['id']}/discover", {}, format="json")
    assert answer.status_code == 409, answer.content
    assert "authentication failed" in answer.json()["error"]
