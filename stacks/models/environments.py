"""Environments (the Docker engines stacks deploy to) and who may do what in each."""

from __future__ import annotations

import posixpath

from django.conf import settings
from django.db import models

from dockhand.crypto import EncryptedTextField
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
        """What a stack may ask of the engine (stacks/services/policy.py says exactly)."""

        PRIVILEGED = "privileged"  # anything (it was called `none`)
        BASELINE = "baseline"  # nothing that amounts to root on the engine's host
        RESTRICTED = "restricted"  # baseline, and no host paths at all

    class Protection(models.TextChoices):
        NONE = "none"  # deployers (and admins) of the environment deploy
        RESTRICTED = "restricted"  # only its admins and allowlisted members deploy
        LOCKED = "locked"  # only owners (superusers) deploy; webhooks and schedules are ignored

    name = models.CharField(max_length=100, unique=True)
    policy = models.CharField(max_length=12, choices=Policy.choices, default=Policy.PRIVILEGED)
    # Host folders that stacks may bind-mount under the `baseline` policy (normalised
    # absolute paths; set by owners).
    host_paths = models.JSONField(default=list, blank=True)
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

    @property
    def engine_key(self) -> str:
        """This environment's engine, spelled one way (scheme and host case, default
        socket and port): environments with the same key share one engine, and so one
        namespace of compose project names."""
        host = (self.docker_host or settings.DEFAULT_DOCKER_HOST or "unix:///var/run/docker.sock").strip()
        scheme, _, rest = host.partition("://")
        scheme = scheme.lower()
        if scheme == "unix":
            path = posixpath.normpath("/" + rest.strip("/"))
            return f"unix://{'/var/run/docker.sock' if path == '/run/docker.sock' else path}"
        authority = rest.rstrip("/").lower()
        if scheme == "tcp" and ":" not in authority.rpartition("@")[2]:
            authority += ":2376" if self.tls_cert else ":2375"
        return f"{scheme}://{authority}"

    def sharing_engine(self) -> list[Environment]:
        """The other environments on this one's engine (a handful of rows: compared here)."""
        return [e for e in Environment.objects.exclude(pk=self.pk) if e.engine_key == self.engine_key]

    @property
    def audit_environment_id(self) -> int:
        """Whose members read its audit events (dockhand.audit.record)."""
        return self.pk

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
