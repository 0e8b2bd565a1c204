"""Access records: API tokens."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils import timezone

PREFIX = "dh_"


def token_hash(raw: str) -> str:
    # A token has 256 random bits: a plain SHA-256 is enough to make the stored value
    # useless to a reader of the database (no salt or slow hash needed).
    return hashlib.sha256(raw.encode()).hexdigest()


class ApiToken(models.Model):
    """A bearer token for the API, stored hashed; its value is shown once, at creation."""

    class Scope(models.TextChoices):
        READ = "deploy:read"
        WRITE = "deploy:write"
        ADMIN = "deploy:admin"

    name = models.CharField(max_length=100)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    digest = models.CharField(max_length=64, unique=True)
    hint = models.CharField(max_length=12)  # "dh_AbCd…": enough to recognise, useless to use
    scopes = models.JSONField(default=list)
    environment_ids = models.JSONField(null=True, blank=True)  # None: every environment
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.hint}…)"

    @classmethod
    def issue(cls, **fields: object) -> tuple[ApiToken, str]:
        """Create a token; returns it with its one-time raw value."""
        raw = PREFIX + secrets.token_urlsafe(32)
        token = cls.objects.create(digest=token_hash(raw), hint=raw[:7], **fields)
        return token, raw

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def allows(self, scope: str) -> bool:
        """Scopes nest: admin includes write, write includes read."""
        order = [self.Scope.READ, self.Scope.WRITE, self.Scope.ADMIN]
        granted = max((order.index(s) for s in self.scopes if s in order), default=-1)
        return granted >= order.index(self.Scope(scope))


class AuditEvent(models.Model):
    """Who or what did what to which object. Details name fields, never their values.

    Who may read an event follows from the environment it is about and the person who
    acted (dockhand.audit.events_seen_by): both are kept as columns, not parsed back
    out of the words."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.CharField(max_length=200)  # "user:alice", "token:ci", "webhook:github", "schedule"
    # The person behind the actor (a token's owner); None for webhooks, schedules, the system.
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The environment the object belongs to; None for what belongs to none (credentials,
    # repositories, tokens, logins). A plain id: this app knows no environments.
    environment_id = models.IntegerField(null=True, blank=True, db_index=True)
    action = models.CharField(max_length=100)  # "stack.sync", "credential.update", …
    object = models.CharField(max_length=300)  # "stack:5 web"
    detail = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object}"
