"""An install made by the previous main upgrades and keeps its records.

WebhookDelivery moved from gitsync to stacks (bde1c57) with SeparateDatabaseAndState:
only Django's idea of the model moved, the table `gitsync_webhookdelivery` and its rows
stay. A migration that dropped and re-created it would apply cleanly on an empty test
database and lose every delivery of a real install (and with it the replay protection),
so this test makes a real database with the old code and migrates it with the new.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
PREVIOUS_MAIN = "032ed31"
# Both runs need the same key: secrets at rest are encrypted with a key derived from it.
SECRET_KEY = "upgrade-test-key-2b7e0c4f9a1d"

OLD_RECORDS = """
import json, pathlib
from datetime import timedelta

import django

django.setup()
from django.db import connection
from django.utils import timezone

import gitsync.models
from gitsync.models import Credential, Repository, WebhookDelivery
from stacks.models import Deployment, DeploymentLine, Environment, GitStack, StackEnvVar

credential = Credential.objects.create(name="forge", auth_type="token", username="deployer", token="ghp-Old-Token-51c2")
repo = Repository.objects.create(
    name="infra", url="https://git.example.com/infra.git", credential=credential, webhook_secret="repo-hook-secret"
)
local = Environment.objects.get(name="local")
staging = Environment.objects.create(name="staging", docker_host="tcp://staging.example:2376")
Environment.objects.create(name="locked-down", docker_host="tcp://ld.example:2375", policy="restricted")
web = GitStack.objects.create(
    name="web", environment=local, repository=repo, branch="main", project_name="web",
    webhook_enabled=True, webhook_secret="stack-hook-secret", sync_status="failed", last_commit="a" * 40,
)
worker = GitStack.objects.create(
    name="worker", environment=staging, repository=repo, branch="release/2", project_name="worker",
    sync_status="syncing",
)
StackEnvVar.objects.create(stack=web, key="LOG_LEVEL", value="debug")
StackEnvVar.objects.create(stack=web, key="API_KEY", value="s3cr3t-Api-Key-77", is_secret=True)
StackEnvVar.objects.create(stack=worker, key="QUEUES", value="mail,images")


def deployment(stack, status, trigger, lines, **fields):
    made = Deployment.objects.create(stack=stack, stack_name=stack.name, status=status, trigger=trigger, **fields)
    DeploymentLine.objects.bulk_create(
        DeploymentLine(deployment=made, seq=seq, text=text) for seq, text in enumerate(lines)
    )
    return made


deployed = deployment(
    web, "success", "webhook", ["Container web-app-1  Recreate", "Container web-app-1  Started"],
    commit_sha="a" * 40, deployed=True,
)
failed = deployment(
    web, "failed", "manual", ["Container web-app-1  Error", "exit status 1"], error="docker compose up failed"
)
running = deployment(worker, "running", "webhook", ["Pulling mail"])
# A sync in flight: the lock and the follow-up it owes must survive the upgrade.
lock_expires = timezone.now() + timedelta(hours=1)
GitStack.objects.filter(pk=worker.pk).update(
    lock_owner=running.pk, lock_expires=lock_expires, sync_pending=True, pending_trigger="webhook"
)

WebhookDelivery.objects.create(
    target=f"stack:{web.pk}", stack=web, provider="github", event="push", delivery_id="gh-1001",
    ref="refs/heads/main", result="accepted", deployment=deployed,
)
WebhookDelivery.objects.create(
    target=f"repository:{repo.pk}", repository=repo, provider="gitea", event="push", delivery_id="gt-2002",
    ref="refs/heads/release/2", result="accepted",
)
WebhookDelivery.objects.create(
    target=f"repository:{repo.pk}>stack:{worker.pk}", stack=worker, repository=repo, provider="gitea",
    event="push", delivery_id="gt-2002", ref="refs/heads/release/2", result="coalesced", deployment=running,
)
WebhookDelivery.objects.create(
    target=f"stack:{web.pk}", stack=web, provider="gitlab", event="tag_push", result="ignored",
    reason="not a branch push",
)

# Audit events as the old code recorded them: words only, no environment or person.
from django.contrib.auth.models import User
from dockhand.models import AuditEvent

User.objects.create_user(username="alice", password="alice-pass-123")
for actor, action, label in (
    ("user:alice", "stack.sync", f"gitstack:{web.pk} web"),
    ("webhook:gitea", "deployment.cancel", f"deployment:{running.pk} {worker.pk}#{running.pk} running"),
    ("schedule", "environment.save", f"environment:{staging.pk} staging"),
    ("user:alice", "credential.update", f"credential:{credential.pk} forge"),
    ("user:gone", "stack.delete", "gitstack:999 removed long ago"),
):
    AuditEvent.objects.create(actor=actor, action=action, object=label)

with connection.cursor() as cursor:
    cursor.execute("SELECT app, name FROM django_migrations")
    applied = sorted(cursor.fetchall())
print(json.dumps({
    "models_file": gitsync.models.__file__,
    "has_tasks_module": (pathlib.Path(gitsync.models.__file__).parent / "tasks.py").exists(),
    "applied": applied,
    "ids": {
        "web": web.pk, "worker": worker.pk, "repository": repo.pk,
        "deployed": deployed.pk, "failed": failed.pk, "running": running.pk,
    },
    "lock_expires": lock_expires.isoformat(),
}))
"""

NEW_RECORDS = """
import json

import django

django.setup()
from django.db import IntegrityError, connection, transaction

import gitsync.models
import stacks.models
from dockhand.models import AuditEvent
from gitsync.models import Repository
from stacks.models import Deployment, Environment, GitStack, WebhookDelivery


def refused(**fields):
    try:
        with transaction.atomic():
            WebhookDelivery.objects.create(provider="github", event="push", result="accepted", **fields)
    except IntegrityError:
        return True
    return False


with connection.cursor() as cursor:
    cursor.execute("SELECT app, name FROM django_migrations")
    applied = sorted(cursor.fetchall())
    cursor.execute("SELECT value FROM stacks_stackenvvar")
    at_rest = [value for (value,) in cursor.fetchall()]

stacks_ = GitStack.objects.select_related("environment", "repository__credential").prefetch_related("env_vars")
deliveries = [
    {
        "target": d.target, "provider": d.provider, "event": d.event, "delivery_id": d.delivery_id, "ref": d.ref,
        "result": d.result, "reason": d.reason, "stack": d.stack and d.stack.name,
        "repository": d.repository and d.repository.name, "deployment": d.deployment_id,
    }
    for d in WebhookDelivery.objects.select_related("stack", "repository").order_by("id")
]
web, worker = GitStack.objects.get(name="web"), GitStack.objects.get(name="worker")
repo = Repository.objects.get(name="infra")
print(json.dumps({
    "models_file": stacks.models.__file__,
    "gitsync_has_model": hasattr(gitsync.models, "WebhookDelivery"),
    "model": [WebhookDelivery._meta.app_label, WebhookDelivery._meta.db_table],
    "applied": applied,
    "at_rest": at_rest,
    "stacks": {
        s.name: {
            "environment": s.environment.name, "repository": s.repository.name, "branch": s.branch,
            "credential_token": s.repository.credential.token, "repository_webhook_secret": s.repository.webhook_secret,
            "webhook_secret": s.webhook_secret, "sync_status": s.sync_status,
            "env": {v.key: [v.value, v.is_secret] for v in s.env_vars.all()},
            "lock": [s.lock_owner, s.lock_expires and s.lock_expires.isoformat(), s.sync_pending, s.pending_trigger],
        }
        for s in stacks_
    },
    "deployments": [
        {
            "id": d.pk, "number": d.number, "stack": d.stack.name, "status": d.status, "error": d.error,
            "output": d.output_text(),
        }
        for d in Deployment.objects.select_related("stack").prefetch_related("lines").order_by("id")
    ],
    "deliveries": deliveries,
    "policies": {e.name: e.policy for e in stacks.models.Environment.objects.all()},
    "audit": [
        [e.action, e.environment_id and Environment.objects.get(pk=e.environment_id).name, e.actor_user and e.actor_user.username]
        for e in AuditEvent.objects.select_related("actor_user").order_by("id")
    ],
    "web_deliveries": sorted(d.provider for d in web.webhook_deliveries.all()),
    "repository_deliveries": repo.webhook_deliveries.count(),
    "replay_refused": refused(target=f"stack:{web.pk}", stack=web, delivery_id="gh-1001"),
    "same_id_other_target_refused": refused(target=f"stack:{worker.pk}", stack=worker, delivery_id="gh-1001"),
    "no_id_again_refused": refused(target=f"stack:{web.pk}", stack=web, delivery_id=""),
}))
"""


def _git(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True, timeout=60)


def _python(tree: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Python in `tree` (its packages first on the path, ahead of the editable install
    of this checkout) on the install in `data`, configured from scratch: the test
    settings' data dir, DATABASE_URL or Redis (under tests/scaleout.py) must not leak in."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DOCKHAND_", "DJANGO_")) and k not in {"DATABASE_URL", "PYTHONPATH"}
    }
    env = {
        **inherited,
        "DJANGO_SETTINGS_MODULE": "dockhand.settings",
        "DOCKHAND_DATA_DIR": str(data),
        "DOCKHAND_SECRET_KEY": SECRET_KEY,
        "DOCKHAND_TASKS_INLINE": "true",
        "PYTHONPATH": str(_isolation(tree)),
    }
    return subprocess.run(
        [sys.executable, *args], cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def _isolation(tree: Path) -> Path:
    """A `sitecustomize` that takes this checkout's editable install off the import path:
    with it, a package or module the tree lacks (a new `templatetags`, say) would be
    imported from this checkout into the other tree's run."""
    folder = tree.parent / f"{tree.name}-isolation"
    folder.mkdir(exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]\n"
        "sys.path_hooks[:] = [h for h in sys.path_hooks if '__editable__' not in getattr(h, '__module__', '')]\n"
        "sys.path_importer_cache.clear()\n"
    )
    return folder


def _manage(tree: Path, data: Path, *args: str) -> str:
    result = _python(tree, data, "manage.py", *args)
    assert result.returncode == 0, f"manage.py {' '.join(args)} in {tree}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _script(tree: Path, data: Path, code: str) -> Any:
    # `python -c` puts the working directory first on sys.path, as manage.py does its own.
    result = _python(tree, data, "-c", code)
    assert result.returncode == 0, f"script in {tree}:\n{result.stdout}\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


@contextmanager
def _previous_main(where: Path) -> Iterator[Path]:
    """The previous main's code, checked out at `where` until the block ends."""
    if _git("cat-file", "-e", f"{PREVIOUS_MAIN}^{{commit}}").returncode != 0:
        pytest.fail(
            f"The previous main ({PREVIOUS_MAIN}) is not in the repository at {ROOT}: the upgrade "
            "test needs the full history (a full clone, or `git fetch --unshallow`)."
        )
    try:
        added = _git("worktree", "add", "--detach", str(where), PREVIOUS_MAIN)
        assert added.returncode == 0, added.stderr
        yield where
    finally:
        _git("worktree", "remove", "--force", str(where))


def test_an_install_of_the_previous_main_upgrades_and_keeps_its_records(tmp_path: Path) -> None:
    data = tmp_path / "data"

    with _previous_main(tmp_path / "old") as old:
        _manage(old, data, "migrate", "--no-input")
        before = _script(old, data, OLD_RECORDS)
    # The old code really ran (not this checkout's, through the editable install).
    assert Path(before["models_file"]).is_relative_to(old)
    assert before["has_tasks_module"]
    assert ["stacks", "0018_webhook_delivery"] not in before["applied"]
    ids = before["ids"]
    web_target, repo_target = f"stack:{ids['web']}", f"repository:{ids['repository']}"

    migrated = _manage(ROOT, data, "migrate", "--no-input")
    assert "Applying gitsync.0003_webhook_delivery_moves_to_stacks... OK" in migrated
    assert "Applying stacks.0018_webhook_delivery... OK" in migrated
    unchanged = _manage(ROOT, data, "makemigrations", "--check", "--dry-run")
    assert "No changes detected" in unchanged

    after = _script(ROOT, data, NEW_RECORDS)
    assert Path(after["models_file"]).is_relative_to(ROOT)
    assert ["gitsync", "0003_webhook_delivery_moves_to_stacks"] in after["applied"]
    assert ["stacks", "0018_webhook_delivery"] in after["applied"]
    assert after["gitsync_has_model"] is False
    assert after["model"] == ["stacks", "gitsync_webhookdelivery"]

    assert after["stacks"] == {
        "web": {
            "environment": "local",
            "repository": "infra",
            "branch": "main",
            "credential_token": "ghp-Old-Token-51c2",
            "repository_webhook_secret": "repo-hook-secret",
            "webhook_secret": "stack-hook-secret",
            "sync_status": "failed",
            "env": {"LOG_LEVEL": ["debug", False], "API_KEY": ["s3cr3t-Api-Key-77", True]},
            "lock": [None, None, False, ""],
        },
        "worker": {
            "environment": "staging",
            "repository": "infra",
            "branch": "release/2",
            "credential_token": "ghp-Old-Token-51c2",
            "repository_webhook_secret": "repo-hook-secret",
            "webhook_secret": "",
            "sync_status": "syncing",
            "env": {"QUEUES": ["mail,images", False]},
            "lock": [ids["running"], before["lock_expires"], True, "webhook"],
        },
    }
    assert not any("s3cr3t" in value for value in after["at_rest"])
    # Policies keep their meaning: `none` is named `privileged`, `restricted` stays.
    assert after["policies"] == {"local": "privileged", "staging": "privileged", "locked-down": "restricted"}

    assert after["deployments"] == [
        {
            "id": ids["deployed"],
            "number": 1,
            "stack": "web",
            "status": "success",
            "error": "",
            "output": "Container web-app-1  Recreate\nContainer web-app-1  Started\n",
        },
        {
            "id": ids["failed"],
            "number": 2,
            "stack": "web",
            "status": "failed",
            "error": "docker compose up failed",
            "output": "Container web-app-1  Error\nexit status 1\n",
        },
        {
            "id": ids["running"],
            "number": 1,
            "stack": "worker",
            "status": "running",
            "error": "",
            "output": "Pulling mail\n",
        },
    ]

    # Old audit events learn whose environment they are about and who acted, so the
    # members of an environment (and the person) read them after the upgrade.
    assert after["audit"] == [
        ["stack.sync", "local", "alice"],
        ["deployment.cancel", "staging", None],
        ["environment.save", "staging", None],
        ["credential.update", None, "alice"],
        ["stack.delete", None, None],
    ]

    assert after["deliveries"] == [
        {
            "target": web_target,
            "provider": "github",
            "event": "push",
            "delivery_id": "gh-1001",
            "ref": "refs/heads/main",
            "result": "accepted",
            "reason": "",
            "stack": "web",
            "repository": None,
            "deployment": ids["deployed"],
        },
        {
            "target": repo_target,
            "provider": "gitea",
            "event": "push",
            "delivery_id": "gt-2002",
            "ref": "refs/heads/release/2",
            "result": "accepted",
            "reason": "",
            "stack": None,
            "repository": "infra",
            "deployment": None,
        },
        {
            "target": f"{repo_target}>stack:{ids['worker']}",
            "provider": "gitea",
            "event": "push",
            "delivery_id": "gt-2002",
            "ref": "refs/heads/release/2",
            "result": "coalesced",
            "reason": "",
            "stack": "worker",
            "repository": "infra",
            "deployment": ids["running"],
        },
        {
            "target": web_target,
            "provider": "gitlab",
            "event": "tag_push",
            "delivery_id": "",
            "ref": "",
            "result": "ignored",
            "reason": "not a branch push",
            "stack": "web",
            "repository": None,
            "deployment": None,
        },
    ]
    assert after["web_deliveries"] == ["github", "gitlab"]
    assert after["repository_deliveries"] == 2

    # Replay protection still holds on the moved model: a delivery id once per target.
    assert after["replay_refused"] is True
    assert after["same_id_other_target_refused"] is False
    assert after["no_id_again_refused"] is False


OLD_DEPLOYED_STACK = """
import json, sys

import django

django.setup()
from dockhand.crypto import fingerprint
from gitsync.models import Credential, Repository
from stacks.models import Deployment, Environment, GitStack, StackEnvVar

url, user, token, head = sys.argv[1:5]
credential = Credential.objects.create(name="forge", auth_type="token", username=user, token=token)
repo = Repository.objects.create(name="app", url=url, credential=credential)
# What the last deploy ran, as that version recorded it (secrets as fingerprints).
ran = {"PLAIN": "plain-override", "SECRET": fingerprint("s3cr3t-Value-9d41"), "GIT_COMMIT_SHA": head}
made = {}
# shop: saved as it ran. cart: PLAIN saved after that deploy, never applied (Sync said
# "Already up to date" in that version).
for name, plain in (("shop", "plain-override"), ("cart", "saved-not-applied")):
    stack = GitStack.objects.create(
        name=name, environment=Environment.objects.get(name="local"), repository=repo, branch="main",
        project_name=name, env_file_path=".env", profiles=["web"], sync_status="success", last_commit=head,
        remote_head=head, deployed_config_hashes={"app": "0" * 64},
    )
    StackEnvVar.objects.create(stack=stack, key="PLAIN", value=plain)
    StackEnvVar.objects.create(stack=stack, key="SECRET", value="s3cr3t-Value-9d41", is_secret=True)
    Deployment.objects.create(
        stack=stack, stack_name=name, status="success", trigger="api", commit_sha=head, deployed=True, env_snapshot=ran
    )
    made[name] = stack.pk
print(json.dumps(made))
"""

NEW_SYNCS = """
import json, sys

import django

django.setup()
from stacks.models import Deployment, GitStack
from stacks.services.status import revision_reasons
from stacks.services.sync import stack_sync

stacks = GitStack.objects.select_related("environment", "repository__credential")
stack = stacks.get(pk=int(sys.argv[1]))
reasons = revision_reasons(stack)
never_applied = revision_reasons(stacks.get(pk=int(sys.argv[2])))
here = stack_sync(stack=stack, trigger="api", by=None, check_here=True)  # a waiting caller
stack.refresh_from_db()
worker = stack_sync(stack=stack, trigger="webhook", by=None)  # through the (inline) worker
worker.refresh_from_db()
applied = Deployment.objects.filter(stack=stack, status="success").get()
print(json.dumps({
    "reasons": reasons,
    "never_applied": never_applied,
    "syncs": [[d.status, d.deployed, d.note] for d in (here, worker)],
    "applied_revision": bool(applied.revision),
}))
"""


def test_a_stack_deployed_by_the_previous_main_syncs_nothing_after_the_upgrade(
    tmp_path: Path, app_repo: Any, projects: list[str]
) -> None:
    from tests.conftest import GIT_TOKEN, GIT_USER

    projects += ["shop", "cart"]  # removed afterwards, should a broken upgrade deploy them
    data = tmp_path / "data"
    with _previous_main(tmp_path / "old") as old:
        _manage(old, data, "migrate", "--no-input")
        code = f"import sys; sys.argv[1:] = {[app_repo.url, GIT_USER, GIT_TOKEN, app_repo.head()]!r}\n"
        made = _script(old, data, code + OLD_DEPLOYED_STACK)
    _manage(ROOT, data, "migrate", "--no-input")

    after = _script(ROOT, data, f"import sys; sys.argv[1:] = [{made['shop']!r}, {made['cart']!r}]\n" + NEW_SYNCS)

    # What it runs is what it was configured with: nothing to apply, no compose run.
    assert after["reasons"] == [] and after["applied_revision"] is True
    # What was saved after the last deploy but never applied is still a reason to sync.
    assert after["never_applied"] == ["override PLAIN changed"]
    unchanged = "Already up to date: no new commit and no change since the last deploy"
    assert after["syncs"] == [["skipped", False, unchanged], ["skipped", False, unchanged]]
