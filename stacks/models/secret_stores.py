"""Secret stores: a Vault or OpenBao server whose KV v2 values overrides may name."""

from __future__ import annotations

from django.db import models

from dockhand.crypto import EncryptedTextField


class SecretStore(models.Model):
    """Where `vault://<name>/<path>#<field>` references are read, and how to log in
    (a token, or an AppRole's role id and secret id); secrets encrypted at rest. Only
    stacks of `environment_ids` may name it (empty: every environment), as registries."""

    class Kind(models.TextChoices):
        VAULT = "vault"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.VAULT)
    url = models.CharField(max_length=1000)
    mount = models.CharField(max_length=200, default="secret")
    namespace = models.CharField(max_length=200, blank=True)
    token = EncryptedTextField(blank=True)
    role_id = models.CharField(max_length=200, blank=True)
    secret_id = EncryptedTextField(blank=True)
    environment_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_token(self) -> bool:
        return bool(self.token or self.secret_id)

    def allows_environment(self, environment_id: int) -> bool:
        return not self.environment_ids or environment_id in self.environment_ids

    def secret_values(self) -> list[str]:
        """Its own secrets, for masking."""
        return [v for v in (self.token, self.secret_id) if v]
