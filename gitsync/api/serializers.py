"""JSON shapes of credentials and repositories (camelCase, spec §3)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import serializers

from gitsync.models import Credential, Repository
from gitsync.validation import branch_problem, url_problem


class CredentialSerializer(serializers.ModelSerializer[Credential]):
    authType = serializers.ChoiceField(source="auth_type", choices=Credential.AuthType.choices, default="none")
    password = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False)
    token = serializers.CharField(write_only=True, required=False, allow_blank=True, trim_whitespace=False)
    sshPrivateKey = serializers.CharField(
        source="ssh_private_key", write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    sshPassphrase = serializers.CharField(
        source="ssh_passphrase", write_only=True, required=False, allow_blank=True, trim_whitespace=False
    )
    sshKnownHosts = serializers.CharField(source="ssh_known_hosts", required=False, allow_blank=True)
    hasSecret = serializers.BooleanField(source="has_secret", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)

    class Meta:
        model = Credential
        fields = [
            "id",
            "name",
            "authType",
            "username",
            "password",
            "token",
            "sshPrivateKey",
            "sshPassphrase",
            "sshKnownHosts",
            "hasSecret",
            "createdAt",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = self.instance
        auth_type = attrs.get("auth_type", current.auth_type if current else "none")
        type_changed = current is None or auth_type != current.auth_type
        required = {"password": "password", "token": "token", "ssh": "ssh_private_key"}.get(auth_type)
        if required and type_changed and not attrs.get(required):
            api_name = {"password": "password", "token": "token", "ssh_private_key": "sshPrivateKey"}[required]
            raise serializers.ValidationError({api_name: [f"is required for authType {auth_type}"]})
        key = attrs.get("ssh_private_key")
        if key and "PRIVATE KEY" not in key:
            raise serializers.ValidationError({"sshPrivateKey": ["must be a private key in OpenSSH or PEM format"]})
        return attrs


class RepositorySerializer(serializers.ModelSerializer[Repository]):
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    branch = serializers.CharField(max_length=255, required=False, default="main")
    credentialId = serializers.PrimaryKeyRelatedField(
        source="credential", queryset=Credential.objects.all(), required=False, allow_null=True
    )
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    lastCommit = serializers.CharField(source="last_commit", read_only=True)
    webhookSecret = serializers.CharField(source="webhook_secret", max_length=200, required=False, allow_blank=True)
    webhookUrl = serializers.SerializerMethodField()

    class Meta:
        model = Repository
        fields = [
            "id",
            "name",
            "url",
            "branch",
            "credentialId",
            "createdAt",
            "lastCommit",
            "webhookSecret",
            "webhookUrl",
        ]

    def get_webhookUrl(self, obj: Repository) -> str:
        return public_url(self.context.get("request"), f"/api/git/repositories/{obj.pk}/webhook")

    def validate_url(self, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_branch(self, value: str) -> str:
        return validate_branch_name(value)


def validate_branch_name(value: str) -> str:
    """A branch name git accepts and that cannot be read as an option."""
    problem = branch_problem(value)
    if problem:
        raise serializers.ValidationError(problem)
    return value


def public_url(request: Any, path: str) -> str:
    """An absolute URL for `path`: DOCKHAND_PUBLIC_URL, else the request's own host."""
    if settings.PUBLIC_URL or request is None:
        return f"{settings.PUBLIC_URL}{path}"
    return str(request.build_absolute_uri(path))
