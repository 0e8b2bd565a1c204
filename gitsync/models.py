"""Git-side records: credentials and repositories."""

from __future__ import annotations

from django.db import models

from dockhand.crypto import EncryptedTextField


class Credential(models.Model):
    """How dockhand authenticates to a git server; secret fields are encrypted at rest."""

    class AuthType(models.TextChoices):
        NONE = "none"
        PASSWORD = "password"
        TOKEN = "token"
        SSH = "ssh"

    name = models.CharField(max_length=100, unique=True)
    auth_type = models.CharField(max_length=10, choices=AuthType.choices, default=AuthType.NONE)
    username = models.CharField(max_length=200, blank=True)
    password = EncryptedTextField(blank=True)
    token = EncryptedTextField(blank=True)
    ssh_private_key = EncryptedTextField(blank=True)
    ssh_passphrase = EncryptedTextField(blank=True)
    # Public data: the host keys an SSH remote must present (OpenSSH known_hosts lines).
    ssh_known_hosts = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.password or self.token or self.ssh_private_key)

    def secret_values(self) -> list[str]:
        """Every secret this credential holds, for masking output."""
        return [v for v in (self.password, self.token, self.ssh_private_key, self.ssh_passphrase) if v]


class Repository(models.Model):
    """A git remote that stacks deploy from."""

    name = models.CharField(max_length=200)
    url = models.CharField(max_length=1000)
    branch = models.CharField(max_length=255, default="main")
    credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.PROTECT, related_name="repositories"
    )
    # The newest head any stack saw on this remote (informational).
    last_commit = models.CharField(max_length=64, blank=True)
    # Signs the repository-wide webhook that fans out to its stacks.
    webhook_secret = EncryptedTextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name


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
        "stacks.GitStack", null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    repository = models.ForeignKey(
        Repository, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    provider = models.CharField(max_length=20)
    event = models.CharField(max_length=100)
    delivery_id = models.CharField(max_length=200, blank=True)
    ref = models.CharField(max_length=300, blank=True)
    result = models.CharField(max_length=10, choices=Result.choices)
    reason = models.CharField(max_length=300, blank=True)
    deployment = models.ForeignKey(
        "stacks.Deployment", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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
