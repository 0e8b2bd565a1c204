"""Git-side records: credentials and repositories (nothing here knows of stacks)."""

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
        AGE = "age"  # no git: an age identity that decrypts a stack's SOPS files

    name = models.CharField(max_length=100, unique=True)
    auth_type = models.CharField(max_length=10, choices=AuthType.choices, default=AuthType.NONE)
    username = models.CharField(max_length=200, blank=True)
    password = EncryptedTextField(blank=True)
    token = EncryptedTextField(blank=True)
    ssh_private_key = EncryptedTextField(blank=True)
    ssh_passphrase = EncryptedTextField(blank=True)
    age_key = EncryptedTextField(blank=True)  # an AGE-SECRET-KEY-1… identity
    # Public data: the host keys an SSH remote must present (OpenSSH known_hosts lines).
    ssh_known_hosts = models.TextField(blank=True)
    # Where it may be sent: normal-form URL prefixes (gitsync/remotes.py), matched on
    # whole path segments. Empty (an upgraded credential no repository used): nowhere.
    url_prefixes = models.JSONField(default=list, blank=True)
    # Environments whose stacks may use it; empty: every environment. Ids of stacks'
    # Environment, kept as numbers: gitsync knows nothing of stacks.
    environment_ids = models.JSONField(default=list, blank=True)
    # A password or token over plain http:// to a host other than loopback: only when
    # whoever manages the credential says so.
    allow_plain_http = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_secret(self) -> bool:
        return bool(self.password or self.token or self.ssh_private_key or self.age_key)

    def allows_environment(self, environment_id: int) -> bool:
        return not self.environment_ids or environment_id in self.environment_ids

    def secret_values(self) -> list[str]:
        """Every secret this credential holds, for masking output."""
        return [v for v in (self.password, self.token, self.ssh_private_key, self.ssh_passphrase, self.age_key) if v]


class Forge(models.TextChoices):
    """The forges whose commit-status and listing APIs dockhand speaks."""

    GITHUB = "github", "GitHub"
    GITLAB = "gitlab", "GitLab"
    GITEA = "gitea", "Gitea / Forgejo"


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
    # The forge that hosts it, for commit statuses and browsing (gitsync/forge.py):
    # its API, the repository there (`owner/repo`, or a GitLab project id) and a token.
    forge = models.CharField(max_length=10, choices=Forge.choices, blank=True)
    forge_api_url = models.CharField(max_length=500, blank=True)
    forge_repo = models.CharField(max_length=300, blank=True)
    forge_credential = models.ForeignKey(
        Credential, null=True, blank=True, on_delete=models.PROTECT, related_name="forge_repositories"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name
