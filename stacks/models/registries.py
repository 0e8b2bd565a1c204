"""Container registries: where stacks pull private images from and push built ones to."""

from __future__ import annotations

from django.db import models

from dockhand.crypto import EncryptedTextField


class Registry(models.Model):
    """A registry login (`url` is `host[:port]`, docker.io for Docker Hub); the password
    is encrypted at rest and never shown. Only deploys in `environment_ids` get it
    (empty: every environment), and only when one of their images is on its host."""

    name = models.CharField(max_length=100, unique=True)
    url = models.CharField(max_length=255)
    username = models.CharField(max_length=200, blank=True)
    password = EncryptedTextField(blank=True)
    environment_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def has_password(self) -> bool:
        return bool(self.password)

    def allows_environment(self, environment_id: int) -> bool:
        return not self.environment_ids or environment_id in self.environment_ids
