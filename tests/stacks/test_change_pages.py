"""The pages that say what is not applied yet and what runs: the banner after a saved
change, the diff page, and the resolved compose model beside the repository's file
(secrets masked everywhere). Real git server, real Docker engine, inline worker."""

from __future__ import annotations

import html
import re
import shutil
from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from stacks.models import Deployment
from tests.conftest import SECRET_VALUE, compose_file, unique_stack_name
from tests.support import docker as dockersupport

pytestmark = pytest.mark.django_db

# Quotes, a colon and a space: YAML must quote it, and a mask of the dumped text alone
# would miss the quoted spelling.
AWKWARD_SECRET = "It's-a-S3cret: 7b1e"


@pytest.fixture
def page(admin: Any) -> Client:
    client = Client()
    client.force_login(admin)
    return client


def _sync(api: Any, stack: dict[str, Any]) -> dict[str, Any]:
    body = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json").json()
    assert body["deployed"] is True, body
    return dict(body)


def _section(shown: str, element_id: str, tag: str) -> str:
    """The text of the `tag` element with this id, as a person reads it (up to the first
    closing `tag`: enough for these elements), white space collapsed."""
    found = re.search(rf'<{tag}[^>]* id="{element_id}"[^>]*>(.*?)</{tag}>', shown, re.S)
    assert found, f"no {tag}#{element_id} in the page"
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))).split())


def _save_overrides(page: Client, stack: dict[str, Any], plain: str) -> Any:
    """The overrides editor as a person submits it: PLAIN edited, SECRET left empty (kept)."""
    return page.post(
        f"/stacks/{stack['id']}/env/",
        {"row": ["0", "1"], "key": ["PLAIN", "SECRET"], "value": [plain, ""], "secret": ["1"]},
    )


def test_a_saved_override_shows_the_banner_until_a_sync_applies_it(
    api: Any, page: Client, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    url = f"/stacks/{stack['id']}/"
    # Never deployed: nothing is "not applied yet", though overrides are set.
    assert 'id="pending-changes"' not in page.get(url).content.decode()
    _sync(api, stack)
    assert 'id="pending-changes"' not in page.get(url).content.decode()

    saved = _save_overrides(page, stack, "changed-on-the-page")
    assert saved.status_code == 302 and saved["Location"] == url
    shown = page.get(url).content.decode()
    assert "Saved changes are not applied yet" in shown
    assert _section(shown, "pending-changes", "div").count("override PLAIN changed") == 1
    assert f'action="/stacks/{stack["id"]}/sync/"' in shown and 'id="apply-sync"' in shown
    # Said once: the out-of-sync line keeps the other reasons only.
    assert 'id="out-of-sync"' not in shown
    assert SECRET_VALUE not in shown

    synced = page.post(f"/stacks/{stack['id']}/sync/")
    assert synced.status_code == 302
    assert Deployment.objects.filter(stack_id=stack["id"]).first().status == "success"  # type: ignore[union-attr]
    shown = page.get(url).content.decode()
    assert 'id="pending-changes"' not in shown and "Saved changes are not applied yet" not in shown
    assert '<span id="sync-state"><span class="badge text-bg-success" data-status="Synced">' in shown
    assert dockersupport.container_env(f"{stack['projectName']}-app-1")["PLAIN"] == "changed-on-the-page"


def test_an_option_saved_with_the_stack_form_shows_the_banner(
    api: Any, page: Client, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    _sync(api, stack)
    form = {
        "stackName": stack["stackName"],
        "repositoryId": str(stack["repositoryId"]),
        "composePath": "compose.yaml",
        "envFilePath": ".env",
        "autoUpdateCron": "0 3 * * *",
        "healthTimeout": "0",
        "pullPolicy": "missing",
        "profiles": "debug",
    }
    saved = page.post(f"/stacks/{stack['id']}/edit/", form)
    assert saved.status_code == 302 and saved["Location"] == f"/stacks/{stack['id']}/"
    banner = _section(page.get(saved["Location"]).content.decode(), "pending-changes", "div")
    assert "option profiles changed" in banner and "override" not in banner


def test_the_diff_page_shows_line_diffs_override_keys_options_and_a_sync_button(
    api: Any, page: Client, app_repo: Any, make_stack: Any, docker_image: str
) -> None:
    stack = make_stack(app_repo)
    _sync(api, stack)
    hostile = "# <script>alert('diff')</script>\n"
    rotated = "r0tated-Secret-31c7"
    # Someone committed the secret's value too: the diff masks it.
    app_repo.commit(
        {"compose.yaml": hostile + compose_file("2"), ".env": f"SECRET={rotated}\nFROM_REPO=repo-value\n"}, "v2"
    )
    overrides = [
        {"key": "PLAIN", "value": "changed", "isSecret": False},
        {"key": "SECRET", "value": rotated, "isSecret": True},
        {"key": "EXTRA", "value": "1", "isSecret": False},
    ]
    response = api.put(f"/api/git/stacks/{stack['id']}", {"envVars": overrides, "profiles": ["debug"]}, format="json")
    assert response.status_code == 200, response.content

    shown = page.get(f"/stacks/{stack['id']}/diff/").content.decode()
    # Repository contents are text, never markup.
    assert "<script>alert" not in shown and "&lt;script&gt;alert(&#x27;diff&#x27;)&lt;/script&gt;" in shown
    assert '<span class="diff-del">-      VERSION: &quot;1&quot;</span>' in shown
    assert '<span class="diff-add">+      VERSION: &quot;2&quot;</span>' in shown
    assert '<span class="diff-del">-SECRET=from-repo-env</span>' in shown
    assert '<span class="diff-add">+SECRET=********</span>' in shown
    assert SECRET_VALUE not in shown and rotated not in shown
    overrides_shown = _section(shown, "overrides", "ul")
    assert "added EXTRA" in overrides_shown and "changed PLAIN" in overrides_shown
    assert "changed SECRET secret" in overrides_shown
    assert "profiles none → debug" in _section(shown, "options", "table")
    assert "<li>app</li>" in shown
    assert f'action="/stacks/{stack["id"]}/sync/"' in shown and 'id="diff-sync"' in shown


def test_the_stack_page_shows_the_resolved_model_with_secrets_masked_beside_the_repository_file(
    api: Any, page: Client, git_server: Any, make_stack: Any, docker_image: str
) -> None:
    compose = (
        "services:\n"
        "  app:\n"
        f"    image: {dockersupport.IMAGE}\n"
        "    pull_policy: never\n"
        '    command: ["sh", "-c", "sleep 3600"]\n'
        "    stop_grace_period: 1s\n"
        "    environment:\n"
        "      SECRET: ${SECRET}\n"
        "      AWKWARD: ${AWKWARD}\n"
        '      DSN: "postgres://app:${SECRET}@db/app"\n'
        "      PLAIN: ${PLAIN}\n"
    )
    repo = git_server.create_repo(f"resolved-{unique_stack_name()}", {"compose.yaml": compose, ".env": ""})
    stack = make_stack(
        repo,
        envVars=[
            {"key": "PLAIN", "value": "plain-override", "isSecret": False},
            {"key": "SECRET", "value": SECRET_VALUE, "isSecret": True},
            {"key": "AWKWARD", "value": AWKWARD_SECRET, "isSecret": True},
        ],
    )
    assert 'id="what-runs"' not in page.get(f"/stacks/{stack['id']}/").content.decode()  # nothing runs yet
    deployed = _sync(api, stack)
    assert dockersupport.container_env(f"{stack['projectName']}-app-1")["AWKWARD"] == AWKWARD_SECRET

    shown = page.get(f"/stacks/{stack['id']}/").content.decode()
    resolved = _section(shown, "resolved", "pre")
    assert "SECRET: '********'" in resolved and "AWKWARD: '********'" in resolved
    assert "DSN: postgres://app:********@db/app" in resolved and "PLAIN: plain-override" in resolved
    what_runs = _section(shown, "what-runs", "section")
    assert "SECRET: ${SECRET}" in what_runs and f"in the repository at {deployed['commit'][:12]}" in what_runs
    everything = [shown]
    for url in (
        f"/api/git/stacks/{stack['id']}/deployments",
        f"/api/deployments/{deployed['deploymentId']}",
        f"/api/git/stacks/{stack['id']}",
    ):
        everything.append(api.get(url).content.decode())
    for text in everything:
        assert SECRET_VALUE not in text and "S3cret: 7b1e" not in text and "It&#x27;s-a-S3cret" not in text
    detail = api.get(f"/api/deployments/{deployed['deploymentId']}").json()
    assert detail["revision"] == Deployment.objects.get(pk=deployed["deploymentId"]).revision
    assert re.fullmatch(r"[0-9a-f]{64}", detail["revision"])

    # A deployment from before the model was recorded, and a server without the working
    # copy: each says so instead of showing something else.
    Deployment.objects.filter(pk=deployed["deploymentId"]).update(resolved="")
    shutil.rmtree(settings.STACKS_DIR / str(stack["id"]) / "repo")
    shown = page.get(f"/stacks/{stack['id']}/").content.decode()
    assert 'id="resolved-missing"' in shown and 'id="repository-files-note"' in shown
    assert 'data-repository-file="compose.yaml"' not in shown
