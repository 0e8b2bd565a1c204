"""JSON shape of a registry (camelCase, spec §5): the password write-only."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from dockhand.api import MAX_ID
from stacks.models import Registry


def _host(value: str) -> str:
    """`host[:port]`: a scheme or path given by habit is refused, naming the field."""
    value = value.strip().lower()
    if "://" in value or "/" in value or not value or any(c.isspace() for c in value):
        raise serializers.ValidationError(
            "give the registry as host[:port] (docker.io for Docker Hub), no scheme or path"
        )
    return value


class RegistrySerializer(serializers.ModelSerializer[Registry]):
    url = serializers.CharField(max_length=255)
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False)
    environmentIds = serializers.ListField(
        source="environment_ids",
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=1000,
    )
    hasPassword = serializers.BooleanField(source="has_password", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Registry
        fields = ["id", "name", "url", "username", "password", "environmentIds", "hasPassword", "createdAt"]

    def validate_url(self, value: str) -> str:
        return _host(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        username = attrs.get("username", self.instance.username if self.instance else "")
        if attrs.get("password") and not username:
            raise serializers.ValidationError({"username": ["is required with a password"]})
        return attrs
