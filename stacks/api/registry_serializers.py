"""JSON shape of a registry (camelCase, spec §5): the password write-only."""

from __future__ import annotations

import re
from typing import Any

from rest_framework import serializers

from dockhand.api import MAX_ID
from stacks.models import Environment, Registry

_HOST = re.compile(
    r"^(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*|\[[0-9a-f:.]+\])(?::(\d{1,5}))?$"
)


def _host(value: str) -> str:
    """`host[:port]` and nothing else (no scheme, userinfo, path, query or fragment; a
    port of 1 to 65535), naming the field otherwise."""
    value = value.strip().lower()
    found = _HOST.match(value)
    if not found or not 0 < int(found[1] or 443) < 65536:
        raise serializers.ValidationError(
            "give the registry as host[:port] (docker.io for Docker Hub), no scheme, login or path"
        )
    return value


def environment_ids_field() -> serializers.ListField:
    """Which environments' stacks may use a registry or secret store (empty: all)."""
    return serializers.ListField(
        source="environment_ids",
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=1000,
    )


def existing_environment_ids(value: list[int]) -> list[int]:
    """The ids, each naming an environment that exists (a typo would scope to nothing)."""
    missing = sorted(set(value) - set(Environment.objects.filter(pk__in=value).values_list("pk", flat=True)))
    if missing:
        raise serializers.ValidationError(f"no environment has the id {', '.join(map(str, missing))}")
    return sorted(set(value))


class RegistrySerializer(serializers.ModelSerializer[Registry]):
    url = serializers.CharField(max_length=255)
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False)
    environmentIds = environment_ids_field()
    hasPassword = serializers.BooleanField(source="has_password", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Registry
        fields = ["id", "name", "url", "username", "password", "environmentIds", "hasPassword", "createdAt"]

    def validate_url(self, value: str) -> str:
        return _host(value)

    def validate_environmentIds(self, value: list[int]) -> list[int]:
        return existing_environment_ids(value)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        username = attrs.get("username", self.instance.username if self.instance else "")
        if attrs.get("password") and not username:
            raise serializers.ValidationError({"username": ["is required with a password"]})
        return attrs
