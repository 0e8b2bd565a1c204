"""Git stacks: a compose project whose files live in a git branch, and its overrides."""

from __future__ import annotations

import re
from typing import Any

from django.db import models

from dockhand.crypto import EncryptedTextField
from stacks.models.environments import Environment, default_notify_events


def default_project_name(stack_name: str) -> str:
    """Compose project name derived from a stack name (spec §3)."""
    return re.sub(r"[^a-z0-9_-]", "-", stack_name.lower()).strip("-_") or "stack"


class PullPolicy(models.TextChoices):
    MISSING = "missing"
    ALWAYS = "always"
    NEVER = "never"


class GitStack(models.Model):
    """A compose project whose files live in a git repository branch."""

    class SyncStatus(models.TextChoices):
        NEVER = "never"
        QUEUED = "queued"
        SYNCING = "syncing"
        SUCCESS = "success"
        FAILED = "failed"

    name = models.CharField(max_length=100)
    environment = models.ForeignKey(Environment, on_delete=models.PROTECT, related_name="stacks")
    repository = models.ForeignKey("gitsync.Repository", on_delete=models.PROTECT, related_name="stacks")
    branch = models.CharField(max_length=255, default="main")
    compose_path = models.CharField(max_length=500, default="compose.yaml")
    env_file_path = models.CharField(max_length=500, blank=True)
    project_name = models.CharField(max_length=100)
    auto_update = models.BooleanField(default=False)
    auto_update_cron = models.CharField(max_length=100, default="0 3 * * *")
    next_auto_sync = models.DateTimeField(null=True, blank=True, db_index=True)  # when the cron is next due
    webhook_enabled = models.BooleanField(default=False)
    webhook_secret = EncryptedTextField(blank=True)
    watch_paths = models.JSONField(default=list, blank=True)
    # The in-repository file that declared it (`.dockhand.yaml`, `.dockhand.<target>.yaml`),
    # so that a later discovery updates it, and reports it when the file drops it.
    config_file = models.CharField(max_length=120, blank=True)

    sync_status = models.CharField(max_length=10, choices=SyncStatus.choices, default=SyncStatus.NEVER)
    sync_error = models.TextField(blank=True)
    last_sync = models.DateTimeField(null=True, blank=True)
    last_commit = models.CharField(max_length=64, blank=True)
    # The last sync found the branch gone upstream; the containers are left running.
    branch_missing = models.BooleanField(default=False)
    # The per-stack lock: who holds it (a deployment id, or a lock.Holder) and until
    # when. A lease, renewed while the sync runs; written by stacks/services/lock.py only.
    lock_owner = models.BigIntegerField(null=True, blank=True)
    lock_expires = models.DateTimeField(null=True, blank=True)
    # A webhook or schedule arrived while the lock was held: the holder hands the lock
    # to exactly one follow-up sync when it finishes (many arrivals, one follow-up).
    sync_pending = models.BooleanField(default=False)
    pending_trigger = models.CharField(max_length=10, blank=True)

    # Lifecycle. A rollback pauses automatic syncs (webhooks, schedule) until the user
    # resumes them; a stack the user stopped or took down is not redeployed by syncs.
    auto_sync_paused = models.BooleanField(default=False)
    stopped_by_user = models.BooleanField(default=False)
    # Compose options (spec §3 "Deploy options").
    additional_compose_files = models.JSONField(default=list, blank=True)
    profiles = models.JSONField(default=list, blank=True)
    build_on_deploy = models.BooleanField(default=False)
    no_build_cache = models.BooleanField(default=False)
    pull_policy = models.CharField(max_length=8, choices=PullPolicy.choices, default=PullPolicy.MISSING)
    force_recreate = models.BooleanField(default=False)
    compose_timeout = models.PositiveIntegerField(null=True, blank=True)  # None: DOCKHAND_DEPLOY_TIMEOUT
    health_timeout = models.PositiveIntegerField(default=120)  # 0: do not wait for health
    auto_rollback = models.BooleanField(default=False)
    # What the last successful deploy rendered, per service (`config --hash`): running
    # containers whose com.docker.compose.config-hash label differs were changed by hand.
    deployed_config_hashes = models.JSONField(default=dict, blank=True)
    # What the last successful deploy applied besides its commit (services/revision.py:
    # overrides with secrets as fingerprints, compose options, engine); None: never.
    applied_config = models.JSONField(null=True, blank=True)
    # The commit a `sync {"commit": …}` deployed instead of the branch head; cleared by
    # the next deploy of the branch.
    pinned_commit = models.CharField(max_length=64, blank=True)
    # The branch head as last seen on the remote (by any sync or status check).
    remote_head = models.CharField(max_length=64, blank=True)
    # The highest number a deployment of it was given: kept when that deployment is
    # deleted from the history, so "#5" is never given twice (Deployment.save).
    deployments_numbered = models.PositiveIntegerField(default=0)
    # This stack's own Apprise URLs and events, beside its environment's.
    notify_urls = EncryptedTextField(blank=True, default="")
    notify_events = models.JSONField(default=default_notify_events, blank=True)
    # Secrets from where they live (services/secret_inputs.py): the age key that decrypts
    # SOPS-encrypted env files; what the store values and decrypted files were when last
    # resolved (keyed HMACs, by input); and those values themselves, encrypted, so that
    # output, logs and pages mask them without asking the store again.
    sops_credential = models.ForeignKey(
        "gitsync.Credential", null=True, blank=True, on_delete=models.PROTECT, related_name="sops_stacks"
    )
    secret_inputs = models.JSONField(default=dict, blank=True)
    secret_mask = EncryptedTextField(blank=True, default="")
    # Images (services/images.py): the digest each tag the stack runs had at the
    # registry when last asked ({"host/repo:tag": "sha256:…"}), part of the desired
    # revision; whether the schedule deploys a newer one by itself; where built
    # images are pushed (`<registry>/<repo>`, tagged with the commit).
    image_digests = models.JSONField(default=dict, blank=True)
    auto_update_images = models.BooleanField(default=False)
    push_to = models.CharField(max_length=300, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["environment", "name"], name="stack_name_unique_per_environment"),
            models.UniqueConstraint(
                fields=["environment", "project_name"], name="stack_project_unique_per_environment"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A stack row is written whole once, when created; after that column by column
        (`update_fields`, `record`): a whole save would write back the lock and what a
        sync applied as they were when this copy was read."""
        if not self._state.adding and kwargs.get("update_fields") is None:
            raise ValueError("An existing GitStack is saved with update_fields (or GitStack.record)")
        super().save(*args, **kwargs)

    @property
    def audit_environment_id(self) -> int:
        """Whose members read its audit events (dockhand.audit.record)."""
        return self.environment_id

    def record(self, **fields: object) -> None:
        """Write what a sync or the user changed of the stack's own state (remote head,
        paused, stopped, what was deployed): one UPDATE of those columns, this instance
        kept in step. The lock's columns are written by stacks/services/lock.py only."""
        assert not {"lock_owner", "lock_expires"} & set(fields), "the lock is stacks/services/lock.py's"
        GitStack.objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)


class StackEnvVar(models.Model):
    """One environment override of a stack. Every value is stored encrypted; secret
    values are additionally never shown and never written to disk."""

    stack = models.ForeignKey(GitStack, on_delete=models.CASCADE, related_name="env_vars")
    key = models.CharField(max_length=255)
    value = EncryptedTextField(blank=True)
    is_secret = models.BooleanField(default=False)
    # `vault://<store name>/<path>#<field>`: the value is read from that store at deploy
    # time (never stored here); such an override is always a secret.
    secret_ref = models.CharField(max_length=1000, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["stack", "key"], name="stack_env_key_unique")]

    def __str__(self) -> str:
        return self.key
