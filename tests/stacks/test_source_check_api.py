"""The API asks the remote before it saves a stack: a 400 naming the field that is not
there, unless `?check=false` or `skipSourceCheck` says not to (spec: automation that
creates stacks before their repositories)."""

from __future__ import annotations

from typing import Any

import pytest

from gitsync.models import Repository
from stacks.models import GitStack
from tests.conftest import unique_stack_name
from tests.support.gitserver import TestRepo

pytestmark = pytest.mark.django_db

NOWHERE = "http://127.0.0.1:9/app.git"


def _body(repo: TestRepo, credential: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {"stackName": unique_stack_name(), "url": repo.url, "credentialId": credential["id"], **fields}


def test_a_wrong_branch_is_a_400_naming_it_with_the_branches_and_nothing_is_saved(
    api: Any, app_repo: TestRepo, token_credential: dict[str, Any]
) -> None:
    response = api.post("/api/git/stacks", _body(app_repo, token_credential, branch="mian"), format="json")
    assert response.status_code == 400
    assert response.json() == {
        "error": "branch: no branch 'mian'; the remote has: main",
        "code": "validation_error",
        "fields": {"branch": ["no branch 'mian'; the remote has: main"]},
    }
    assert not GitStack.objects.exists() and not Repository.objects.exists()


def test_a_wrong_compose_path_names_the_files_found(
    api: Any, app_repo: TestRepo, token_credential: dict[str, Any]
) -> None:
    body = _body(app_repo, token_credential, composePath="docker-compose.yml", envFilePath="prod.env")
    fields = api.post("/api/git/stacks", body, format="json").json()["fields"]
    assert fields == {
        "composePath": ["no docker-compose.yml at the root of main; compose files found: compose.yaml"],
        "envFilePath": ["no prod.env at the root of main; env files found: .env"],
    }


def test_an_unreachable_remote_is_refused_unless_the_check_is_skipped(api: Any) -> None:
    body = {"stackName": "later", "url": NOWHERE}
    refused = api.post("/api/git/stacks", body, format="json")
    assert refused.status_code == 400 and refused.json()["error"].startswith("url: the remote did not answer: ")
    assert api.post("/api/git/stacks?check=false", body, format="json").status_code == 201
    skipped = api.post("/api/git/stacks", {**body, "stackName": "later-2", "skipSourceCheck": True}, format="json")
    assert skipped.status_code == 201 and "skipSourceCheck" not in skipped.json()
    odd = api.post("/api/git/stacks?check=perhaps", {**body, "stackName": "odd"}, format="json")
    assert odd.status_code == 400 and odd.json()["error"] == "check: must be true or false, not 'perhaps'"


def test_a_repository_chosen_by_id_is_checked_under_its_field(
    api: Any, app_repo: TestRepo, token_credential: dict[str, Any]
) -> None:
    gone = Repository.objects.create(name="gone", url=NOWHERE)
    response = api.post("/api/git/stacks", {"stackName": "s", "repositoryId": gone.pk}, format="json")
    assert list(response.json()["fields"]) == ["repositoryId"]
    known = Repository.objects.create(name="app", url=app_repo.url, credential_id=token_credential["id"])
    body = {"stackName": "s", "repositoryId": known.pk, "composePath": "deploy/compose.yaml"}
    assert api.post("/api/git/stacks", body, format="json").json()["fields"] == {
        "composePath": ["no deploy/compose.yaml in main; compose files found: compose.yaml"]
    }
    assert api.post("/api/git/stacks", {**body, "composePath": "compose.yaml"}, format="json").status_code == 201


def test_an_edit_is_checked_only_when_it_moves_the_source(
    api: Any, app_repo: TestRepo, token_credential: dict[str, Any]
) -> None:
    created = api.post("/api/git/stacks", _body(app_repo, token_credential, envFilePath=".env"), format="json")
    assert created.status_code == 201, created.content
    at = f"/api/git/stacks/{created.json()['id']}"
    moved = api.put(at, {"branch": "release"}, format="json")
    assert moved.status_code == 400
    assert moved.json()["fields"] == {"branch": ["no branch 'release'; the remote has: main"]}
    assert api.put(f"{at}?check=false", {"branch": "release"}, format="json").status_code == 200
    # Unchanged source fields (as the edit form posts them all) ask nothing.
    same = {"branch": "release", "composePath": "compose.yaml", "autoUpdate": True}
    assert api.put(at, same, format="json").status_code == 200
    assert api.put(at, {"branch": "main"}, format="json").status_code == 200


def test_a_stack_saved_unchecked_can_still_be_edited_elsewhere(api: Any) -> None:
    created = api.post("/api/git/stacks?check=false", {"stackName": "later", "url": NOWHERE}, format="json").json()
    assert api.put(f"/api/git/stacks/{created['id']}", {"autoUpdate": True}, format="json").status_code == 200
