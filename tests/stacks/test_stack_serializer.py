"""Validating a stack saves nothing: a repository given by URL is found or made by the
service, in the transaction that saves the stack, so a create that fails leaves none."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import IntegrityError
from rest_framework.test import APIClient

from gitsync.models import Repository
from stacks.api.serializers import GitStackSerializer
from stacks.models import GitStack
from stacks.services.stacks import stack_create, stack_update

pytestmark = pytest.mark.django_db

URL = "https://git.example.test/inline.git"


def _validated(data: dict[str, Any]) -> GitStackSerializer:
    serializer = GitStackSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer


def test_validating_an_inline_url_saves_no_repository() -> None:
    serializer = _validated({"stackName": "web", "url": URL, "branch": "release"})
    fields, repository_url = serializer.model_fields(), serializer.repository_url()
    assert not Repository.objects.exists()

    stack = stack_create(fields=fields, repository_url=repository_url)
    assert (stack.repository.url, stack.repository.branch, stack.branch) == (URL, "release", "release")
    assert Repository.objects.count() == 1


def test_a_failed_create_leaves_no_repository_behind() -> None:
    # Two creates validated before either saves, as two racing requests are: both pass
    # the serializer's uniqueness check, and the database refuses the second.
    first = _validated({"stackName": "one", "projectName": "shared", "url": "https://git.example.test/one.git"})
    second = _validated({"stackName": "two", "projectName": "shared", "url": "https://git.example.test/two.git"})
    stack_create(fields=first.model_fields(), repository_url=first.repository_url())
    with pytest.raises(IntegrityError):
        stack_create(fields=second.model_fields(), repository_url=second.repository_url())
    assert list(Repository.objects.values_list("url", flat=True)) == ["https://git.example.test/one.git"]
    assert list(GitStack.objects.values_list("name", flat=True)) == ["one"]


def test_an_inline_url_of_a_known_repository_reuses_it_and_its_branch(api: APIClient) -> None:
    known = Repository.objects.create(name="known", url=URL, branch="develop")
    response = api.post("/api/git/stacks?check=false", {"stackName": "web", "url": URL}, format="json")
    assert response.status_code == 201, response.content
    assert (response.json()["repositoryId"], response.json()["branch"]) == (known.pk, "develop")
    assert Repository.objects.count() == 1


def test_an_update_that_fails_leaves_no_repository_behind(api: APIClient) -> None:
    for name in ("one", "two"):
        assert (
            api.post("/api/git/stacks?check=false", {"stackName": name, "url": URL}, format="json").status_code == 201
        )
    two = GitStack.objects.get(name="two")
    # Validated while the name is free; taken before the update saves.
    serializer = GitStackSerializer(
        two, data={"projectName": "taken", "url": "https://git.example.test/other.git"}, partial=True
    )
    serializer.is_valid(raise_exception=True)
    GitStack.objects.filter(name="one").update(project_name="taken")
    with pytest.raises(IntegrityError):
        stack_update(stack=two, fields=serializer.model_fields(), repository_url=serializer.repository_url())
    assert list(Repository.objects.values_list("url", flat=True)) == [URL]
