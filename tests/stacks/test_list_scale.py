"""The stacks list does the same work for ten stacks or a thousand: a constant number
of queries (the regression guard of benchmark #5), one page of rows on the dashboard."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from gitsync.models import Repository
from stacks.api.serializers import GitStackSerializer
from stacks.models import Deployment, GitStack, StackEnvVar
from stacks.services.stacks import stack_create, stack_queryset
from stacks.services.status import stack_states
from stacks.views import STACKS_PER_PAGE

pytestmark = pytest.mark.django_db


def _add_stacks(count: int, start: int) -> None:
    repo = Repository.objects.get_or_create(name="r", url="https://git.example.test/r.git")[0]
    for i in range(start, start + count):
        stack = stack_create(fields={"name": f"s{i:04d}", "repository": repo, "branch": "main"})
        for n in (1, 2):  # history: only the newest deployed commit is shown
            Deployment.objects.create(
                stack=stack, trigger="api", status="success", deployed=True, commit_message=f"commit {n} of {i}"
            )
        GitStack.objects.filter(pk=stack.pk).update(last_commit="a" * 40)


def _queries(client: Any, path: str) -> int:
    with CaptureQueriesContext(connection) as seen:
        assert client.get(path).status_code == 200
    return len(seen.captured_queries)


def test_the_list_costs_the_same_queries_for_3_stacks_or_80(api: APIClient, admin: Any, docker_image: str) -> None:
    page = Client()
    page.force_login(admin)
    # Asked of the database once per connection, by whichever query needs it first: a
    # whole run asks it before, this file run alone would count it in the first list.
    assert connection.features.supports_json_field
    _add_stacks(3, 0)
    few = {
        path: _queries(client, path)
        for client, path in ((page, "/stacks/"), (api, "/api/git/stacks"), (page, "/stacks/rows/"))
    }
    _add_stacks(77, 3)
    many = {
        path: _queries(client, path)
        for client, path in ((page, "/stacks/"), (api, "/api/git/stacks"), (page, "/stacks/rows/"))
    }
    assert many == few

    shown = page.get("/stacks/").content.decode()
    assert shown.count("<tr data-stack=") == STACKS_PER_PAGE
    assert "Page 1 of 2 (80 stacks)" in shown and "commit 2 of 0" in shown and "commit 1 of 0" not in shown
    assert page.get("/stacks/?page=2").content.decode().count("<tr data-stack=") == 80 - STACKS_PER_PAGE
    assert len(api.get("/api/git/stacks").json()) == 80


def test_the_api_list_pages_on_request(api: APIClient) -> None:
    _add_stacks(5, 0)
    response = api.get("/api/git/stacks?limit=2&offset=3")
    assert [s["stackName"] for s in response.json()] == ["s0003", "s0004"] and response["X-Total-Count"] == "5"
    bad = api.get("/api/git/stacks?limit=0")
    assert bad.status_code == 400 and "limit" in bad.json()["fields"]


def test_the_written_out_stack_body_says_what_the_declared_fields_say(api: APIClient, admin: Any) -> None:
    """GitStackSerializer.to_representation is written out for speed: it must not drift
    from DRF's generic walk over the declared fields (one case per kind of field)."""
    _add_stacks(1, 0)
    GitStack.objects.update(
        auto_update=True,
        next_auto_sync=timezone.now(),
        last_sync=timezone.now(),
        sync_error="boom",
        watch_paths=["app"],
        profiles=["debug"],
        additional_compose_files=["more.yaml"],
        compose_timeout=60,
    )
    stack = stack_queryset().get()
    StackEnvVar.objects.create(stack=stack, key="PLAIN", value="p", is_secret=False)
    StackEnvVar.objects.create(stack=stack, key="TOKEN", value="t", is_secret=True)
    stack = stack_queryset().get()
    request = api.get("/api/git/stacks").wsgi_request
    serializer = GitStackSerializer(stack, context={"request": request, "states": stack_states([stack])})
    written = serializer.data
    generic = serializers.ModelSerializer.to_representation(serializer, stack)
    assert written == generic and list(written) == list(generic)
    assert written["envVars"][1] == {"key": "TOKEN", "value": None, "isSecret": True, "hasValue": True}


def test_the_list_writes_each_stack_as_its_serializer_does(api: APIClient, admin: Any) -> None:
    """The list writes each stack out as JSON (GitStackSerializer.to_json, the row's part
    kept per version of the row): the same values as to_representation, again from the
    memo, after the row changed, and asked to be indented."""
    _add_stacks(2, 0)
    GitStack.objects.filter(name="s0001").update(sync_error="line\u2028end", watch_paths=["app"])
    stack = stack_queryset().get(name="s0001")
    StackEnvVar.objects.create(stack=stack, key="TOKEN", value="t", is_secret=True)

    def expected() -> list[dict[str, Any]]:
        request = api.get("/api/git/stacks/0").wsgi_request
        stacks = list(stack_queryset().order_by("name"))
        context = {"request": request, "states": stack_states(stacks)}
        return [GitStackSerializer(s, context=context).data for s in stacks]

    first, again = api.get("/api/git/stacks"), api.get("/api/git/stacks")
    assert first.json() == again.json() == expected()
    assert b"\\u2028" in first.content and "\u2028".encode() not in first.content
    GitStack.objects.filter(name="s0000").update(auto_sync_paused=True)
    changed = api.get("/api/git/stacks").json()
    assert changed == expected() and changed[0]["autoSyncPaused"] is True
    assert api.get("/api/git/stacks", HTTP_ACCEPT="application/json; indent=2").json() == changed
