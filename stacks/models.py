"""Stack-side records: environments, git stacks, their overrides and deployments."""

from __future__ import annotations

import re

from django.conf import settings
from django.db import models
from django.utils import timezone

from dockhand.crypto import EncryptedTextField
from dockhand.errors import Conflict
from stacks.engine import Endpoint


class NotifyEvent(models.TextChoices):
    SUCCESS = "success"  # a sync deployed a new commit
    FAILURE = "failure"
    SKIPPED = "skipped"  # nothing new (opt-in: every schedule tick would say it)
    ROLLBACK = "rollback"
    OUT_OF_SYNC = "out_of_sync"  # a new commit that an automatic sync may not deploy
    BRANCH_MISSING = "branch_missing"


def default_notify_events() -> list[str]:
    return [e.value for e in NotifyEvent if e != NotifyEvent.SKIPPED]


class Environment(models.Model):
    """A Docker engine that stacks deploy to; `local` is the engine next to dockhand."""

    class Policy(models.TextChoices):
        NONE = "none"
        # Refuse services that amount to root on the host (privileged, host namespaces,
        # the docker socket or / bind-mounted, SYS_ADMIN, devices).
        RESTRICTED = "restricted"

    class Protection(models.TextChoices):
        NONE = "none"  # deployers (and admins) of the environment deploy
        RESTRICTED = "restricted"  # only its admins and allowlisted members deploy
        LOCKED = "locked"  # only owners (superusers) deploy; webhooks and schedules are ignored

    name = models.CharField(max_length=100, unique=True)
    policy = models.CharField(max_length=12, choices=Policy.choices, default=Policy.NONE)
    protection = models.CharField(max_length=12, choices=Protection.choices, default=Protection.NONE)
    # A deploy by anyone but an admin of the environment (or an owner) waits as
    # `pending_approval` until an admin approves or rejects it.
    approval_required = models.BooleanField(default=False)
    # Empty means the default engine (DOCKER_HOST of the server, else the local socket).
    docker_host = models.CharField(max_length=500, blank=True)
    # Mutual TLS for a tcp:// engine (PEM): the CA that signed the engine's certificate,
    # and the client certificate and key dockhand presents (the key encrypted).
    tls_ca = models.TextField(blank=True, default="")
    tls_cert = models.TextField(blank=True, default="")
    tls_key = EncryptedTextField(blank=True, default="")
    # For ssh:// engines: the SSH key credential (and its known hosts) to log in with.
    ssh_credential = models.ForeignKey(
        "gitsync.Credential", null=True, blank=True, on_delete=models.PROTECT, related_name="environments"
    )
    # A swarm manager: its stacks deploy with `docker stack deploy` as swarm services.
    swarm = models.BooleanField(default=False)
    # Apprise URLs (one per line; they carry tokens, so encrypted) told of the events
    # listed, for every stack of the environment.
    notify_urls = EncryptedTextField(blank=True, default="")
    notify_events = models.JSONField(default=default_notify_events, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def engine_endpoint(self) -> Endpoint:
        """How to reach this environment's Docker engine."""
        ssh = self.ssh_credential if self.docker_host.startswith("ssh://") else None
        return Endpoint(
            host=self.docker_host or settings.DEFAULT_DOCKER_HOST,
            tls_ca=self.tls_ca,
            tls_cert=self.tls_cert,
            tls_key=self.tls_key,
            ssh_key=ssh.ssh_private_key if ssh else "",
            ssh_passphrase=ssh.ssh_passphrase if ssh else "",
            ssh_known_hosts=ssh.ssh_known_hosts if ssh else "",
            # Host keys first seen are kept per environment, then insisted on.
            ssh_learned_hosts=str(settings.DATA_DIR / "known_hosts" / f"environment-{self.pk}") if ssh else "",
        )


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
    # The branch head as last seen on the remote (by any sync or status check).
    remote_head = models.CharField(max_length=64, blank=True)
    # This stack's own Apprise URLs and events, beside its environment's.
    notify_urls = EncryptedTextField(blank=True, default="")
    notify_events = models.JSONField(default=default_notify_events, blank=True)

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

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["stack", "key"], name="stack_env_key_unique")]

    def __str__(self) -> str:
        return self.key


class Deployment(models.Model):
    """One sync attempt of a stack.

    Legal transitions, each a conditional UPDATE in one method below:
    queued → running (`start`) → success | skipped | failed | cancelled (`finish`);
    queued → skipped | failed (`finish`: found unchanged, or never queued);
    queued | running → interrupted (`interrupt`: its worker died);
    queued | pending_approval → cancelled (`cancel_waiting`); a running one is only
    asked to stop (`ask_to_cancel`) and its worker ends it;
    pending_approval → queued (`approve`) | cancelled (`reject`).
    Finished states never change again.
    """

    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval"
        QUEUED = "queued"
        RUNNING = "running"
        SUCCESS = "success"
        SKIPPED = "skipped"
        FAILED = "failed"
        CANCELLED = "cancelled"
        INTERRUPTED = "interrupted"

    class Trigger(models.TextChoices):
        MANUAL = "manual"
        API = "api"
        WEBHOOK = "webhook"
        SCHEDULE = "schedule"
        ROLLBACK = "rollback"

    FINISHED = (Status.SUCCESS, Status.SKIPPED, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED)
    WAITING = (Status.QUEUED, Status.PENDING_APPROVAL)
    WORKER_LOST = "The worker running this sync stopped before it finished."

    # Null once the stack is deleted with its history kept; `stack_name` still says whose.
    stack = models.ForeignKey(GitStack, null=True, on_delete=models.SET_NULL, related_name="deployments")
    stack_name = models.CharField(max_length=100, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    trigger = models.CharField(max_length=10, choices=Trigger.choices)
    force = models.BooleanField(default=False)
    deployed = models.BooleanField(default=False)
    commit_sha = models.CharField(max_length=64, blank=True)
    commit_message = models.TextField(blank=True)
    commit_author = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.IntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    # The remote could not be reached (the API answers 502 rather than 500).
    remote_unreachable = models.BooleanField(default=False)
    # Audit actors ("user:ana", "token:3 ci", "webhook", "schedule"): who asked for the
    # deploy and, in an approval-required environment, who approved or rejected it.
    requested_by = models.CharField(max_length=200, blank=True)
    reviewed_by = models.CharField(max_length=200, blank=True)
    # "<node>:<pid>" of the worker that runs it (see recover_after_restart).
    worker = models.CharField(max_length=200, blank=True)
    # A rollback deploys exactly this commit (and names the deployment it returns to).
    target_commit = models.CharField(max_length=64, blank=True)
    rollback_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # What a successful deploy ran: the variables it passed (secret values only as
    # keyed hashes) and the image of each service's containers.
    env_snapshot = models.JSONField(default=dict, blank=True)
    images = models.JSONField(default=dict, blank=True)
    # Set by a cancel request (who asked); the worker watching it stops compose.
    cancel_requested_by = models.CharField(max_length=200, blank=True)
    # Why a sync did nothing (skipped), in words.
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["stack", "-created_at"])]
        constraints = [
            # Asking again while a request waits joins it: one pending approval per stack.
            models.UniqueConstraint(
                fields=["stack"], condition=models.Q(status="pending_approval"), name="one_pending_approval_per_stack"
            )
        ]

    def __str__(self) -> str:
        return f"{self.stack_id}#{self.pk} {self.status}"

    def live_stack(self) -> GitStack:
        """The deployment's stack; Conflict when it was deleted (its history kept)."""
        if self.stack is None:
            raise Conflict(f"The stack {self.stack_name!r} of this deployment was deleted")
        return self.stack

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    def start(self, worker: str = "") -> bool:
        """queued → running; False if it was no longer queued (cancelled meanwhile, or
        already taken by a duplicate delivery of its task: it runs once)."""
        now = timezone.now()
        started = Deployment.objects.filter(pk=self.pk, status=self.Status.QUEUED).update(
            status=self.Status.RUNNING, started_at=now, worker=worker
        )
        if started:
            self.status, self.started_at, self.worker = self.Status.RUNNING, now, worker
        return started == 1

    def interrupt(self) -> bool:
        """queued | running → interrupted: the worker running it died."""
        return self.finish(self.Status.INTERRUPTED, error=self.WORKER_LOST)

    def cancel_waiting(self, *, by: str) -> bool:
        """queued | pending_approval → cancelled; False when it was no longer waiting."""
        return self._move(
            self.WAITING, status=self.Status.CANCELLED, error=f"Cancelled by {by}", cancel_requested_by=by
        )

    def ask_to_cancel(self, *, by: str) -> bool:
        """Tell the worker running it to stop (it ends the deployment itself, within
        half a second); False when it is not running."""
        return self._move((self.Status.RUNNING,), cancel_requested_by=by, finishes=False)

    def approve(self, *, by: str) -> bool:
        """pending_approval → queued; False when it no longer waits for approval."""
        return self._move((self.Status.PENDING_APPROVAL,), status=self.Status.QUEUED, reviewed_by=by, finishes=False)

    def reject(self, *, by: str, reason: str = "") -> bool:
        """pending_approval → cancelled, saying who rejected it and why."""
        error = f"Rejected by {by}" + (f": {reason}" if reason else "")
        return self._move((self.Status.PENDING_APPROVAL,), status=self.Status.CANCELLED, error=error, reviewed_by=by)

    @classmethod
    def cancel_pending_approvals(cls, stack: GitStack, *, error: str) -> None:
        """The stack goes away: a deploy still waiting for approval has nothing left to deploy to."""
        cls.objects.filter(stack=stack, status=cls.Status.PENDING_APPROVAL).update(
            status=cls.Status.CANCELLED, error=error, finished_at=timezone.now()
        )

    def _move(self, states: tuple[str, ...], *, finishes: bool = True, **fields: object) -> bool:
        """Write `fields` only while the deployment is in one of `states` (one
        conditional UPDATE); keep this instance in step when it happened."""
        if finishes:
            fields["finished_at"] = timezone.now()
        if not Deployment.objects.filter(pk=self.pk, status__in=states).update(**fields):
            return False
        for name, value in fields.items():
            setattr(self, name, value)
        return True

    def record(self, **fields: object) -> None:
        """Write what the sync found out along the way (commit, note, what it ran):
        facts about the attempt, not a change of its status."""
        assert "status" not in fields, "status changes go through the transitions above"
        Deployment.objects.filter(pk=self.pk).update(**fields)
        for name, value in fields.items():
            setattr(self, name, value)

    def output_text(self) -> str:
        """The whole output so far (uses prefetched lines when the caller has them)."""
        return "".join(f"{line.text}\n" for line in self.lines.all())

    def finish(
        self, status: str, *, error: str = "", deployed: bool = False, remote_unreachable: bool = False, **also: object
    ) -> bool:
        """Move to a finished state once; later calls are ignored (False). `also`: more
        fields of the same row (commit_sha, note, …) written in the same UPDATE."""
        now = timezone.now()
        begun = self.started_at or self.created_at or now
        fields: dict[str, object] = {
            **also,
            "status": status,
            "error": error,
            "deployed": deployed,
            "remote_unreachable": remote_unreachable,
            "finished_at": now,
            "duration_ms": int((now - begun).total_seconds() * 1000),
        }
        if not Deployment.objects.filter(pk=self.pk).exclude(status__in=self.FINISHED).update(**fields):
            return False
        for name, value in fields.items():
            setattr(self, name, value)
        return True


class DeploymentLine(models.Model):
    """One masked output line of a deployment, in order.

    Append-only rows rather than one growing text column: an insert per line stays
    cheap for long build logs, and the web process tails them by `seq` to stream a
    deploy that runs in the worker process (no shared channel layer needed).
    """

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="lines")
    seq = models.PositiveIntegerField()
    text = models.TextField()

    class Meta:
        ordering = ["seq"]
        constraints = [models.UniqueConstraint(fields=["deployment", "seq"], name="deployment_line_seq_unique")]

    def __str__(self) -> str:
        return f"{self.deployment_id}:{self.seq}"


class Membership(models.Model):
    """A user's role in one environment. Superusers are admins everywhere; everyone
    else sees only environments they are a member of."""

    class Role(models.TextChoices):
        VIEWER = "viewer"  # sees stacks, deployments and output
        DEPLOYER = "deployer"  # may also sync
        ADMIN = "admin"  # may also create, change and delete stacks

    user = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="memberships")
    environment = models.ForeignKey(Environment, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices)
    # May deploy while the environment is `restricted` without being its admin.
    allowlisted = models.BooleanField(default=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "environment"], name="one_role_per_environment")]

    def __str__(self) -> str:
        return f"{self.user_id}@{self.environment_id}:{self.role}"


class WebhookDelivery(models.Model):
    """A verified webhook request and what it did for one target.

    `target` is "stack:<id>" for a stack's own webhook, "repository:<id>" for the
    receipt of a repository webhook and "repository:<id>>stack:<id>" for each stack it
    fanned out to. A delivery id is accepted once per target (replays are refused).
    Secrets and signatures are never stored.
    """

    class Result(models.TextChoices):
        ACCEPTED = "accepted"
        COALESCED = "coalesced"  # a sync was running: one follow-up will run after it
        IGNORED = "ignored"

    target = models.CharField(max_length=100)
    stack = models.ForeignKey(
        "GitStack", null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    repository = models.ForeignKey(
        "gitsync.Repository", null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    provider = models.CharField(max_length=20)
    event = models.CharField(max_length=100)
    delivery_id = models.CharField(max_length=200, blank=True)
    ref = models.CharField(max_length=300, blank=True)
    result = models.CharField(max_length=10, choices=Result.choices)
    reason = models.CharField(max_length=300, blank=True)
    deployment = models.ForeignKey("Deployment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        # The table keeps the name it had when the model lived in gitsync.
        db_table = "gitsync_webhookdelivery"
        ordering = ["-received_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["target", "delivery_id"],
                condition=~models.Q(delivery_id=""),
                name="webhook_delivery_once_per_target",
            )
        ]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.target} {self.provider} {self.event} {self.result}"
