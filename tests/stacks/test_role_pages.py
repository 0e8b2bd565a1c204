"""The pages follow the role (services/abilities.py): a viewer is offered no action, a
deployer syncs and operates, an environment's admin also edits and deletes, an owner
does all; protection shows the button disabled with the reason. Disruptive actions
ask first in a modal naming the stack and what will happen; a refused post keeps what
was typed and lands on a styled page."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest
from django.test import Client

from gitsync.models import Credential, Repository
from stacks.models import Deployment, Environment, GitStack, StackEnvVar
from stacks.services.stacks import local_environment

pytestmark = pytest.mark.django_db

SECRET = "role-page-Secret-5521"
GOOD = "a1b2c3d" + "0" * 33
NOW = "f9e8d7c" + "0" * 33
ACTIONS = ("sync", "force-sync", "rollback", "stop", "start", "restart", "down", "edit", "delete")
EDITOR = ("save-env", "add-env-row")


@pytest.fixture
def stack(api: Any) -> GitStack:
    created = api.post(
        "/api/git/stacks",
        {
            "stackName": "web-frontend",
            "url": "https://git.example.test/web.git",
            "skipSourceCheck": True,  # (no such remote: the pages are what is looked at)
            "envVars": [{"key": "DB_PASSWORD", "value": SECRET, "isSecret": True}, {"key": "MODE", "value": "prod"}],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    stack = GitStack.objects.get(pk=created.json()["id"])
    # Two deploys: one of an earlier commit (something to roll back to), then what runs.
    for sha, message in ((GOOD, "Add the cart\n\nlong body"), (NOW, "Fix the cart")):
        Deployment.objects.create(
            stack=stack, trigger="manual", status="success", deployed=True, commit_sha=sha, commit_message=message
        )
    stack.last_commit = NOW
    stack.save(update_fields=["last_commit"])
    return stack


def _client(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _ids(html: str) -> set[str]:
    return set(re.findall(r'\sid="([^"]+)"', html))


def _element(html: str, element_id: str) -> str:
    """The opening tag of the element with that id."""
    found = re.search(rf'<[a-z]+[^>]*\sid="{re.escape(element_id)}"[^>]*>', html)
    assert found, f"no #{element_id}"
    return found.group(0)


def _element_and_content(html: str, element_id: str) -> str:
    """A <div> with that id and what it holds (its own nested divs balanced)."""
    start = html.index(_element(html, element_id))
    depth, at = 0, start
    for tag in re.finditer(r"<(/?)div\b[^>]*>", html[start:]):
        depth += -1 if tag.group(1) else 1
        if depth == 0:
            at = start + tag.end()
            break
    return html[start:at]


def _modal(html: str, key: str) -> str:
    """The markup of the confirmation modal #modal-<key>."""
    start = html.index(f'id="modal-{key}"')
    end = html.find('<div class="modal fade"', start)
    return html[start : end if end > 0 else None]


def _text(html: str) -> str:
    """What a reader sees of the markup: tags out, entities read."""
    return " ".join(html_lib.unescape(re.sub(r"<[^>]+>", " ", html)).split())


def _page(user: Any, stack: GitStack) -> str:
    response = _client(user).get(f"/stacks/{stack.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def test_a_viewer_is_offered_no_action_on_the_stack_page(viewer: Any, stack: GitStack) -> None:
    html = _page(viewer, stack)
    assert not _ids(html) & {*ACTIONS, *EDITOR, "resume", "apply-sync"}, _ids(html) & {*ACTIONS, *EDITOR}
    assert 'id="modal-' not in html and "data-rollback" not in html  # nor any confirmation of a stack action
    for action in ("sync", "rollback", "stop", "restart", "down", "delete", "env", "resume"):
        assert f'action="/stacks/{stack.pk}/{action}/"' not in html, action
    assert 'id="diff"' in html  # reading is theirs
    # The overrides are shown, not offered for editing; a secret stays a secret.
    readonly = html[html.index('id="env-readonly"') :]
    assert ">MODE<" in readonly and ">prod<" in readonly and "secret, set" in readonly
    assert SECRET not in html and 'name="key"' not in html


def test_a_viewer_is_offered_no_cancel_and_a_deployer_is(viewer: Any, deployer: Any, stack: GitStack) -> None:
    queued = Deployment.objects.create(stack=stack, trigger="manual")
    url = f"/deployments/{queued.pk}/"
    assert 'id="cancel"' not in _client(viewer).get(url).content.decode()
    assert f'action="/deployments/{queued.pk}/cancel/"' in _client(deployer).get(url).content.decode()
    done = Deployment.objects.filter(stack=stack, status="success").first()
    # An ended run's Cancel is there only hidden (the live header shows it while a run may still be cancelled).
    assert (
        done is not None
        and 'id="cancel-form" hidden' in _client(deployer).get(f"/deployments/{done.pk}/").content.decode()
    )


def test_a_deployer_syncs_and_operates_but_does_not_edit_or_delete(deployer: Any, stack: GitStack) -> None:
    html = _page(deployer, stack)
    ids = _ids(html)
    assert {"sync", "force-sync", "rollback", "stop", "restart", "down"} <= ids
    assert not ids & {"edit", "delete", "resume", *EDITOR, "modal-delete"}
    assert f'action="/stacks/{stack.pk}/sync/"' in html  # Sync posts straight away: no confirmation
    assert "sync" not in {m for m in re.findall(r'id="modal-([^"]+)"', html)}
    assert "action-hints" not in ids  # nothing shown disabled


def test_an_environment_admin_also_edits_and_deletes(env_admin: Any, stack: GitStack) -> None:
    ids = _ids(_page(env_admin, stack))
    assert {"sync", "stop", "edit", "delete", "modal-delete", *EDITOR} <= ids


def test_an_owner_is_offered_everything_even_in_a_locked_environment(admin: Any, stack: GitStack) -> None:
    Environment.objects.filter(pk=stack.environment_id).update(protection=Environment.Protection.LOCKED)
    html = _page(admin, stack)
    assert {*ACTIONS, *EDITOR} - {"start"} <= _ids(html)
    assert "disabled" not in _element(html, "sync") and "action-hints" not in _ids(html)


def test_disruptive_actions_ask_first_in_a_modal_naming_the_stack(admin: Any, stack: GitStack) -> None:
    html = _page(admin, stack)
    for key in ("stop", "restart", "down", "force-sync", "rollback", "delete"):
        trigger = _element(html, key)
        # The button opens the modal; only the modal's own button posts.
        assert f'data-bs-target="#modal-{key}"' in trigger and "<button" not in trigger, trigger
        modal = _modal(html, key)
        assert "web-frontend" in modal and 'method="post"' in modal and f'id="confirm-{key}"' in modal
        assert f'id="cancel-{key}"' in modal and 'data-bs-dismiss="modal"' in modal
    for key in ("stop", "restart", "down"):
        forms = re.findall(rf'<form[^>]*action="/stacks/{stack.pk}/{key}/"', html)
        assert len(forms) == 1 and f'id="modal-{key}"' in html[: html.index(forms[0])]
    stop = html_lib.unescape(_modal(html, "stop"))
    assert "Stop stops every container of web-frontend; it stays stopped" in stop and "until you start it" in stop
    down = _modal(html, "down")
    assert "removes the containers and networks of web-frontend" in down and 'name="volumes"' in down
    rollback = html_lib.unescape(_modal(html, "rollback"))
    assert "Roll back redeploys commit a1b2c3d “Add the cart”" in rollback and "pauses auto-sync" in rollback
    target = Deployment.objects.get(commit_sha=GOOD)
    assert f'name="deployment" value="{target.pk}"' in rollback
    assert "Force redeploy recreates every container of web-frontend" in html_lib.unescape(_modal(html, "force-sync"))
    delete = html_lib.unescape(_modal(html, "delete"))
    assert "Delete removes the stack web-frontend" in delete and 'name="removeHistory"' in delete
    # The delete link still leads to the delete page where the modal cannot open.
    assert f'href="/stacks/{stack.pk}/delete/"' in _element(html, "delete")
    # Each earlier good deploy has its own "Roll back to this", asking first too.
    row = _element(html, f"modal-rollback-{target.pk}")
    assert row and f'data-bs-target="#modal-rollback-{target.pk}"' in html


def test_a_locked_environment_shows_sync_disabled_with_the_reason(deployer: Any, stack: GitStack) -> None:
    Environment.objects.filter(pk=stack.environment_id).update(protection=Environment.Protection.LOCKED)
    html = _page(deployer, stack)
    reason = "Environment local is locked: only an owner deploys to it"
    for key in ("sync", "force-sync", "rollback", "stop", "restart", "down"):
        assert "disabled" in _element(html, key), key
    assert f'title="{reason}"' in html
    hints = _text(_element_and_content(html, "action-hints"))
    assert hints == f"Sync, Force redeploy, Roll back, Start, Stop, Restart and Down unavailable to you here. {reason}."
    assert 'id="modal-' not in html and f'action="/stacks/{stack.pk}/sync/"' not in html
    diff = _client(deployer).get(f"/stacks/{stack.pk}/diff/").content.decode()
    assert "disabled" in _element(diff, "diff-sync") and f'title="{reason}"' in diff


def test_approval_lets_a_deployer_ask_but_not_operate(deployer: Any, stack: GitStack) -> None:
    Environment.objects.filter(pk=stack.environment_id).update(approval_required=True)
    html = html_lib.unescape(_page(deployer, stack))
    assert "disabled" not in _element(html, "sync") and "Sync asks for one" in html
    assert "disabled" in _element(html, "stop")
    hints = _text(_element_and_content(html, "action-hints"))
    assert "Start, Stop, Restart and Down unavailable to you here. In this environment only its admins start" in hints
    assert "It waits for an admin's approval before it deploys." in _modal(html, "force-sync")


def test_a_refused_overrides_save_keeps_what_was_typed(viewer: Any, stack: GitStack) -> None:
    rows = {
        "row": ["0", "1", "2"],
        "key": ["MODE", "NEW_FLAG", "API_TOKEN"],
        "value": ["staging", "typed-by-hand", "typed-Secret-774"],
        "secret": ["2"],
        "remove": [],
    }
    refused = _client(viewer).post(f"/stacks/{stack.pk}/env/", rows)
    html = refused.content.decode()
    assert refused.status_code == 403 and 'class="navbar' in html
    assert "Your role in this environment does not allow this (needs admin)" in html
    assert 'value="NEW_FLAG"' in html and 'value="typed-by-hand"' in html and 'value="staging"' in html
    assert 'value="API_TOKEN"' in html and "typed-Secret-774" not in html  # a secret is never sent back
    assert 'id="save-env"' not in html  # still not theirs to save
    assert {v.key: v.value for v in StackEnvVar.objects.filter(stack=stack)} == {"DB_PASSWORD": SECRET, "MODE": "prod"}


def test_an_invalid_overrides_save_keeps_new_rows(admin: Any, stack: GitStack) -> None:
    rows = {"row": ["0", "1"], "key": ["MODE", "bad key"], "value": ["prod", "kept-value"]}
    invalid = _client(admin).post(f"/stacks/{stack.pk}/env/", rows)
    html = invalid.content.decode()
    assert invalid.status_code == 400 and "is not a valid variable name" in html
    assert 'value="bad key"' in html and 'value="kept-value"' in html


def test_a_refused_stack_form_keeps_what_was_typed(deployer: Any, env_admin: Any, stack: GitStack) -> None:
    # A deployer holding an edit page from before: the form again, with their input.
    assert _client(deployer).get(f"/stacks/{stack.pk}/edit/").status_code == 403
    form = {"stackName": "renamed-by-hand", "composePath": "deploy/compose.yaml", "branch": "release"}
    refused = _client(deployer).post(f"/stacks/{stack.pk}/edit/", form)
    html = html_lib.unescape(refused.content.decode())
    assert refused.status_code == 403 and 'id="form-refused"' in html and "(needs admin)" in html
    assert 'value="renamed-by-hand"' in html and 'value="deploy/compose.yaml"' in html and 'value="release"' in html
    assert GitStack.objects.get(pk=stack.pk).name == "web-frontend"

    # An environment's admin creating a stack in an environment that is not theirs.
    prod = Environment.objects.create(name="prod")
    new = {"stackName": "sneaky", "environmentId": str(prod.pk), "url": "https://git.example.test/s.git"}
    refused = _client(env_admin).post("/stacks/new/", {**new, "repositoryId": "new", "composePath": "compose.yaml"})
    html = html_lib.unescape(refused.content.decode())
    assert refused.status_code == 403 and 'value="sneaky"' in html and 'value="https://git.example.test/s.git"' in html
    assert re.search(r'data-error-for="environmentId">[^<]*needs admin', html)
    assert not GitStack.objects.filter(name="sneaky").exists()
    # Their form offers only the environments they administer.
    offered = _client(env_admin).get("/stacks/new/").content.decode()
    assert f'<option value="{local_environment().pk}"' in offered and f'<option value="{prod.pk}"' not in offered


@pytest.mark.parametrize(
    ("url", "form", "kept", "secret"),
    [
        ("/environments/new/", {"name": "edge-typed", "dockerHost": "tcp://10.0.0.9:2376"}, "edge-typed", ""),
        (
            "/credentials/new/",
            {"name": "typed-cred", "authType": "token", "token": "glpat-typed-7781", "urlPrefixes": "https://e.test/"},
            "typed-cred",
            "glpat-typed-7781",
        ),
        (
            "/repositories/new/",
            {"name": "typed-repo", "url": "https://e.test/typed.git", "branch": "main"},
            "typed-repo",
            "",
        ),
    ],
)
def test_a_refused_shared_form_keeps_what_was_typed(
    env_admin: Any, url: str, form: dict[str, str], kept: str, secret: str
) -> None:
    page = _client(env_admin)
    assert page.get(url).status_code == 403  # not offered: the styled refusal
    refused = page.post(url, form)
    html = refused.content.decode()
    assert refused.status_code == 403 and 'class="navbar' in html and 'id="form-refused"' in html
    assert "Only administrators manage" in html and f'value="{kept}"' in html
    assert not secret or secret not in html
    assert not Environment.objects.filter(name="edge-typed").exists()
    assert not Credential.objects.exists() and not Repository.objects.filter(name="typed-repo").exists()


def test_lists_offer_new_edit_and_delete_to_whoever_may(
    viewer: Any, env_admin: Any, admin: Any, stack: GitStack
) -> None:
    Credential.objects.create(name="c", auth_type="none", url_prefixes=["https://e.test/"])
    for user, sees_stacks, sees_shared in ((viewer, False, False), (env_admin, True, False), (admin, True, True)):
        page = _client(user)
        assert ('id="new-stack"' in page.get("/stacks/").content.decode()) is sees_stacks
        assert ('href="/stacks/new/"' in page.get("/").content.decode()) is sees_stacks
        for plural in ("credentials", "repositories", "environments"):
            listed = page.get(f"/{plural}/").content.decode()
            assert (f'href="/{plural}/new/"' in listed) is sees_shared, (user, plural)
            assert ("/edit/" in listed) is sees_shared, (user, plural)
    assert _client(viewer).get("/stacks/new/").status_code == 403


def test_a_refused_button_lands_on_the_styled_page(viewer: Any, stack: GitStack) -> None:
    for action in ("stop", "down", "rollback", "delete"):
        refused = _client(viewer).post(f"/stacks/{stack.pk}/{action}/")
        html = refused.content.decode()
        assert refused.status_code == 403 and 'class="navbar' in html and "does not allow this" in html, action
    assert GitStack.objects.filter(pk=stack.pk).exists()
