"""The JSON shape of secret stores (camelCase, spec §5): token and secret id write-only."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from rest_framework import serializers

from stacks.api.registry_serializers import environment_ids_field, existing_environment_ids
from stacks.models import SecretStore
from stacks.registry import is_loopback


class SecretStoreSerializer(serializers.ModelSerializer[SecretStore]):
    kind = serializers.ChoiceField(choices=SecretStore.Kind.choices, default=SecretStore.Kind.VAULT)
    mount = serializers.CharField(max_length=200, required=False, default="secret")
    namespace = serializers.CharField(max_length=200, required=False, allow_blank=True)
    token = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=2000)
    roleId = serializers.CharField(source="role_id", max_length=200, required=False, allow_blank=True)
    secretId = serializers.CharField(
        source="secret_id", write_only=True, required=False, allow_blank=True, max_length=2000
    )
    environmentIds = environment_ids_field()
    hasToken = serializers.BooleanField(source="has_token", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = SecretStore
        fields = [
            "id",
            "name",
            "kind",
            "url",
            "mount",
            "namespace",
            "token",
            "roleId",
            "secretId",
            "environmentIds",
            "hasToken",
            "createdAt",
        ]

    def validate_name(self, value: str) -> str:
        if not value or any(ch in value for ch in "/#: ") or any(ord(ch) < 32 for ch in value):
            raise serializers.ValidationError("must be a name without '/', '#', ':', spaces or control characters")
        return value

    def validate_url(self, value: str) -> str:
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 (a bad port raises here)
        except ValueError:
            raise serializers.ValidationError("is not a URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
            raise serializers.ValidationError("must be an http:// or https:// URL without credentials in it")
        if parts.scheme == "http" and not is_loopback(parts.hostname):  # (the token would cross in clear)
            raise serializers.ValidationError("must be https:// (plain http only to this machine)")
        return value.rstrip("/")

    def validate_environmentIds(self, value: list[int]) -> list[int]:
        return existing_environment_ids(value)

    def validate_mount(self, value: str) -> str:
        value = value.strip("/")
        if not value or ".." in value.split("/"):
            raise serializers.ValidationError("must name a KV v2 mount, such as secret")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current: SecretStore | None = self.instance
        token = attrs.get("token") or (current.token if current else "")
        role = attrs.get("role_id", current.role_id if current else "")
        if attrs.get("token") and attrs.get("role_id"):
            raise serializers.ValidationError({"token": ["give a token or a roleId and secretId, not both"]})
        if not token and not role:
            raise serializers.ValidationError({"token": ["is required: a token, or a roleId and secretId"]})
        if attrs.get("role_id") and not (attrs.get("secret_id") or (current and current.secret_id)):
            raise serializers.ValidationError({"secretId": ["is required with a roleId"]})
        return attrs
