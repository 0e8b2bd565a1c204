"""Deployments: one record per sync attempt, its output lines, and the webhook
deliveries that asked for syncs."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.utils import timezone

from dockhand.errors import Conflict
from stacks.models.gitstack import GitStack


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
        RECOVERY = "recovery"  # runs again a deployment that a stop or a crash interrupted
        ADOPT = "adopt"  # a running project taken over as it ran: nothing was deployed

    FINISHED = (Status.SUCCESS, Status.SKIPPED, Status.FAILED, Status.CANCELLED, Status.INTERRUPTED)
    WAITING = (Status.QUEUED, Status.PENDING_APPROVAL)
    WORKER_LOST = "The worker running this sync stopped before it finished."
    STOPPED = "dockhand was stopped before this deploy finished; it runs again on start."

    # Null once the stack is deleted with its history kept; `stack_name` still says whose.
    stack = models.ForeignKey(GitStack, null=True, on_delete=models.SET_NULL, related_name="deployments")
    stack_name = models.CharField(max_length=100, blank=True)
    # "#12": the stack's twelfth deployment. Given on creation (save), per stack, so a
    # stack's history reads 1, 2, 3 whatever the other stacks did meanwhile.
    number = models.PositiveIntegerField(editable=False)
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
    # A `recovery` deployment runs again the one a stop or a crash interrupted (at most once).
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    # What a successful deploy ran: the variables it passed (secret values only as
    # keyed hashes) and, per service, the image it ran: [{"service", "image",
    # "digest" (`repo@sha256:…`, "" for a local build), "imageId"}].
    env_snapshot = models.JSONField(default=dict, blank=True)
    images = models.JSONField(default=list, blank=True)
    # The image a build was pushed as (`<pushTo>:<commit>`), when the stack has pushTo.
    pushed_image = models.CharField(max_length=400, blank=True)
    # Set by a cancel request (who asked); the worker watching it stops compose.
    cancel_requested_by = models.CharField(max_length=200, blank=True)
    # Why a sync did nothing (skipped), in words.
    note = models.CharField(max_length=300, blank=True)
    # A follow-up (the sync asked for while another ran) asks for the branch head before
    # it fetches, and does not start before `not_before` (services/lock.py).
    followup = models.BooleanField(default=False, editable=False)
    not_before = models.DateTimeField(null=True, blank=True, editable=False)
    # The desired-state revision it deployed (services/revision.py) and what it is made
    # of besides the commit; set once the commit is known.
    revision = models.CharField(max_length=64, blank=True)
    config = models.JSONField(null=True, blank=True)
    # What `compose config` resolved for a successful deploy, as YAML with every secret
    # value masked: what ran, shown beside the repository's files.
    resolved = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["stack", "-created_at"])]
        constraints = [
            models.UniqueConstraint(fields=["stack", "number"], name="deployment_number_per_stack"),
            # Asking again while a request waits joins it: one pending approval per stack.
            models.UniqueConstraint(
                fields=["stack"], condition=models.Q(status="pending_approval"), name="one_pending_approval_per_stack"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.stack_id}#{self.pk} {self.status}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """A new deployment takes the next number of its stack. Every creation path
        (sync, approval request, follow-up, recovery, rollback) goes through here."""
        if not self._state.adding or self.number is not None:
            super().save(*args, **kwargs)
            return
        with transaction.atomic():
            # The stack's row lock makes "highest number + 1, insert" one step for
            # concurrent creators (PostgreSQL); SQLite's IMMEDIATE transactions already
            # run one writer at a time. The unique constraint stays the last word.
            stack = GitStack.objects.select_for_update().filter(pk=self.stack_id)
            numbered = stack.values_list("deployments_numbered", flat=True).first() or 0
            mine = Deployment.objects.filter(stack_id=self.stack_id)
            if self.stack_id is None:
                mine = mine.filter(stack_name=self.stack_name)
            self.number = max(mine.aggregate(last=models.Max("number"))["last"] or 0, numbered) + 1
            super().save(*args, **kwargs)
            stack.update(deployments_numbered=self.number)

    @classmethod
    def applied_of(cls, stack: GitStack) -> Deployment | None:
        """The deployment whose deploy runs now: the stack's last successful one that
        deployed (what its page shows as applied, and what a rollback starts from)."""
        applied = cls.objects.filter(stack=stack, status=cls.Status.SUCCESS, deployed=True)
        return applied.order_by("-finished_at", "-id").first()

    @property
    def audit_environment_id(self) -> int | None:
        """Whose members read its audit events (dockhand.audit.record); None once its
        stack is gone."""
        return self.stack.environment_id if self.stack is not None else None

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

    def interrupt(self, error: str = WORKER_LOST) -> bool:
        """queued | running → interrupted: the worker running it died (or the node was
        stopped before it finished: `STOPPED`)."""
        return self.finish(self.Status.INTERRUPTED, error=error)

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
