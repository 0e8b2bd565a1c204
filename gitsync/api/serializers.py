"""JSON shapes of credentials and repositories (camelCase, spec §3)."""

from __future__ import annotations

import copy
import re
from typing import Any

from django.conf import settings
from rest_framework import serializers

from dockhand.api import MAX_ID
from gitsync.models import Credential, Forge, Repository
from gitsync.remotes import RemoteError, is_loopback, normal_prefix, parse
from gitsync.services.forges import ForgeRefused, forge_client
from gitsync.services.scope import credential_refusal, credential_stranded
from gitsync.services.visibility import Reach, webhook_secret_shown
from gitsync.validation import branch_problem, url_problem

_AGE_KEY = re.compile(r"^AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}$")
_PREFIX_KIND = {"ssh": ("ssh://", "an SSH key"), "password": ("http", "a password"), "token": ("http", "a token")}


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
    ageKey = serializers.CharField(
        source="age_key", write_only=True, required=False, allow_blank=True, trim_whitespace=True
    )
    urlPrefixes = serializers.ListField(
        source="url_prefixes", child=serializers.CharField(max_length=1000), required=False, max_length=50
    )
    environmentIds = serializers.ListField(
        source="environment_ids",
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        required=False,
        max_length=1000,
    )
    allowPlainHttp = serializers.BooleanField(source="allow_plain_http", required=False)
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
            "ageKey",
            "urlPrefixes",
            "environmentIds",
            "allowPlainHttp",
            "hasSecret",
            "createdAt",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current = self.instance
        auth_type = attrs.get("auth_type", current.auth_type if current else "none")
        type_changed = current is None or auth_type != current.auth_type
        required = {"password": "password", "token": "token", "ssh": "ssh_private_key", "age": "age_key"}.get(auth_type)
        if required and type_changed and not attrs.get(required):
            api_name = {
                "password": "password",
                "token": "token",
                "ssh_private_key": "sshPrivateKey",
                "age_key": "ageKey",
            }[required]
            raise serializers.ValidationError({api_name: [f"is required for authType {auth_type}"]})
        key = attrs.get("ssh_private_key")
        if key and "PRIVATE KEY" not in key:
            raise serializers.ValidationError({"sshPrivateKey": ["must be a private key in OpenSSH or PEM format"]})
        if attrs.get("age_key") and not _AGE_KEY.match(attrs["age_key"]):
            raise serializers.ValidationError(
                {"ageKey": ["must be an age identity: one AGE-SECRET-KEY-1… line (age-keygen's secret key)"]}
            )
        if auth_type == Credential.AuthType.AGE:
            return attrs  # decrypts files here: sent to no server, so no URL prefixes
        if current is None and not attrs.get("url_prefixes"):
            raise serializers.ValidationError(
                {"urlPrefixes": ["is required: the URL prefixes this credential may be sent to (https://host/org/)"]}
            )
        prefixes = attrs.get("url_prefixes", current.url_prefixes if current else [])
        start, holds = _PREFIX_KIND.get(auth_type, ("", ""))
        wrong = next((p for p in prefixes if not p.startswith(start)), None)
        if wrong:
            where = "ssh:// prefixes" if start == "ssh://" else "https:// or http:// prefixes"
            raise serializers.ValidationError({"urlPrefixes": [f"{wrong} does not fit {holds}: give {where}"]})
        plain = attrs.get("allow_plain_http", current.allow_plain_http if current else False)
        crossing = next((p for p in prefixes if start == "http" and _plain_http_out(p)), None)
        if crossing and not plain:
            raise serializers.ValidationError(
                {
                    "allowPlainHttp": [
                        f"{crossing} is plain http:// to a host other than loopback: anyone on the way reads"
                        f" {holds}; use https://, or allow plain http explicitly"
                    ]
                }
            )
        if current is not None:
            self._still_serves(current, attrs)
        return attrs

    def _still_serves(self, current: Credential, attrs: dict[str, Any]) -> None:
        """A change that would leave a repository or stack using it outside its scope
        is refused (as deleting it is), naming the field that would."""
        changed = copy.copy(current)
        for name, value in attrs.items():
            setattr(changed, name, value)
        refusal = credential_stranded(changed)
        if refusal is not None:
            raise serializers.ValidationError({refusal.field: [refusal.message]})

    def validate_urlPrefixes(self, value: list[str]) -> list[str]:
        if not value:
            raise serializers.ValidationError("must name at least one URL prefix")
        normal: list[str] = []
        for prefix in value:
            try:
                shown = normal_prefix(prefix)
            except RemoteError as exc:
                raise serializers.ValidationError(f"{prefix!r} {exc}") from exc
            if shown not in normal:
                normal.append(shown)
        return normal

    def validate_environmentIds(self, value: list[int]) -> list[int]:
        return sorted(set(value))


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
    forge = serializers.ChoiceField(choices=Forge.choices, required=False, allow_blank=True)
    forgeApiUrl = serializers.CharField(source="forge_api_url", max_length=500, required=False, allow_blank=True)
    forgeRepo = serializers.CharField(source="forge_repo", max_length=300, required=False, allow_blank=True)
    forgeCredentialId = serializers.PrimaryKeyRelatedField(
        source="forge_credential", queryset=Credential.objects.all(), required=False, allow_null=True
    )

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
            "forge",
            "forgeApiUrl",
            "forgeRepo",
            "forgeCredentialId",
        ]

    def get_webhookUrl(self, obj: Repository) -> str:
        return public_url(self.context.get("request"), f"/api/git/repositories/{obj.pk}/webhook")

    def to_representation(self, instance: Repository) -> dict[str, Any]:
        shown = dict(super().to_representation(instance))
        reach = self.context.get("reach")
        if not (isinstance(reach, Reach) and webhook_secret_shown(instance, reach)):
            shown["webhookSecret"] = None  # signs pushes to its stacks: their admins only
        return shown

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current: Repository | None = self.instance
        if {"forge", "forge_api_url", "forge_repo", "forge_credential"} & attrs.keys():
            self._check_forge(attrs, current)
        if current is not None and not {"url", "credential"} & attrs.keys():
            return attrs
        credential = attrs.get("credential", current.credential if current else None)
        url = attrs.get("url", current.url if current else "")
        environments = current.stacks.values_list("environment_id", "environment__name").distinct() if current else []
        for environment in [None, *environments]:
            check_credential_use(credential, url=url, environment=environment)
        return attrs

    def validate_url(self, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_branch(self, value: str) -> str:
        return validate_branch_name(value)

    def _check_forge(self, attrs: dict[str, Any], current: Repository | None) -> None:
        """A forge needs the repository there and a token its API may be sent."""
        kind = attrs.get("forge", current.forge if current else "")
        if not kind:
            return
        if not attrs.get("forge_repo", current.forge_repo if current else "").strip():
            raise serializers.ValidationError(
                {"forgeRepo": ["is required with a forge: owner/repo, or a GitLab project id"]}
            )
        try:
            forge_client(
                kind,
                api_url=attrs.get("forge_api_url", current.forge_api_url if current else ""),
                credential=attrs.get("forge_credential", current.forge_credential if current else None),
            )
        except ForgeRefused as exc:
            raise serializers.ValidationError({exc.field: [str(exc)]}) from exc


def _plain_http_out(prefix: str) -> bool:
    """Whether a stored prefix is plain http to a host other than loopback."""
    try:
        remote = parse(prefix)
    except RemoteError:
        return False  # matches nothing (remotes.Scope): sends nothing either
    return remote.scheme == "http" and not is_loopback(remote.host)


def check_credential_use(
    credential: Credential | None,
    *,
    url: str,
    environment: tuple[int, str] | None,
    field: str = "credentialId",
) -> None:
    """A 400 naming `field` when the credential may not be sent to `url` for a stack of
    `environment` (id, name): outside its URL prefixes, its environments, or plain http."""
    if credential is None:
        return
    refusal = credential_refusal(credential, url=url, environment=environment)
    if refusal is not None:
        raise serializers.ValidationError({field: [refusal.message]})


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
