"""JSON shapes of environments and their members (camelCase, spec §3), and the
notification settings that environments and stacks share."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework import serializers
from rest_framework.utils.model_meta import FieldInfo

from dockhand import notifier
from gitsync.models import Credential
from stacks.models import Environment, GitStack, Membership, NotifyEvent

_DOCKER_HOST = re.compile(r"^(unix|tcp|ssh|npipe)://\S+$")
_APPRISE_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


def notify_urls() -> serializers.ListField:
    """Apprise URLs, write-only: they carry tokens (read back as `notifyTargets`)."""
    return serializers.ListField(
        source="notify_urls",
        child=serializers.CharField(max_length=1000),
        write_only=True,
        required=False,
        max_length=20,
    )


def notify_events() -> serializers.ListField:
    """The events the notification URLs are told of."""
    return serializers.ListField(
        source="notify_events", child=serializers.ChoiceField(choices=NotifyEvent.choices), required=False
    )


class NotifySettings:
    """What stacks and environments do with their notification fields, which each
    declares last: `notifyUrls = notify_urls()`, `notifyEvents = notify_events()` and
    `notifyTargets = serializers.SerializerMethodField()` (the URLs' scheme and host only).
    Declared there, not here, because DRF puts a base class's fields first in the body."""

    def validate_notifyUrls(self, value: list[str]) -> str:
        for url in value:
            if not _APPRISE_URL.match(url.strip()):
                raise serializers.ValidationError(f"{notifier.shown(url)} is not an Apprise URL (scheme://…)")
        return "\n".join(url.strip() for url in value)

    def get_notifyTargets(self, obj: Environment | GitStack) -> list[str]:
        return [notifier.shown(url) for url in obj.notify_urls.splitlines() if url.strip()]


def _pem(kind: str) -> serializers.CharField:
    return serializers.CharField(
        source=f"tls_{kind}", write_only=True, required=False, allow_blank=True, max_length=20000, trim_whitespace=False
    )


class EnvironmentSerializer(NotifySettings, serializers.ModelSerializer[Environment]):
    dockerHost = serializers.CharField(source="docker_host", required=False, allow_blank=True, max_length=500)
    # Mutual TLS for tcp:// (PEM), write-only; `tls` says whether it is set.
    tlsCa = _pem("ca")
    tlsCert = _pem("cert")
    tlsKey = _pem("key")
    tls = serializers.SerializerMethodField()
    sshCredentialId = serializers.PrimaryKeyRelatedField(
        source="ssh_credential",
        queryset=Credential.objects.filter(auth_type=Credential.AuthType.SSH),
        required=False,
        allow_null=True,
    )
    swarm = serializers.BooleanField(required=False)
    policy = serializers.CharField(required=False)
    hostPaths = serializers.ListField(
        source="host_paths", child=serializers.CharField(max_length=500), required=False, max_length=50
    )
    protection = serializers.ChoiceField(choices=Environment.Protection.choices, required=False)
    approvalRequired = serializers.BooleanField(source="approval_required", required=False)
    notifyUrls = notify_urls()
    notifyEvents = notify_events()
    notifyTargets = serializers.SerializerMethodField()
    # Other environments on the same engine: allowed, but they share its compose
    # project names (and its containers); said wherever the environment is shown.
    sharedEngineWith = serializers.SerializerMethodField()

    class Meta:
        model = Environment

    def get_field_names(
        self, declared_fields: Mapping[str, serializers.Field[Any, Any, Any, Any]], info: FieldInfo
    ) -> list[str]:
        """The model's `id` and `name` as the model makes them (a unique name, with the
        model's message), then the declared fields in their order."""
        return ["id", "name", *declared_fields]

    def get_tls(self, obj: Environment) -> bool:
        return bool(obj.tls_cert)

    def get_sharedEngineWith(self, obj: Environment) -> list[str]:
        """Names of the other environments on its engine that the caller may see."""
        visible = self.context.get("visible_ids")
        return [e.name for e in obj.sharing_engine() if visible is None or e.pk in visible]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current: Environment | None = self.instance
        host = attrs.get("docker_host", current.docker_host if current else "")
        ssh = attrs.get("ssh_credential", current.ssh_credential if current else None)
        if host.startswith("ssh://") and ssh is None:
            raise serializers.ValidationError({"sshCredentialId": ["an ssh:// engine needs an SSH key credential"]})
        given = {kind: attrs.get(f"tls_{kind}", getattr(current, f"tls_{kind}", "")) for kind in ("ca", "cert", "key")}
        if any(given.values()):
            markers = {"ca": "BEGIN CERTIFICATE", "cert": "BEGIN CERTIFICATE", "key": "PRIVATE KEY"}
            for kind, marker in markers.items():
                if marker not in given[kind]:
                    field = f"tls{kind.capitalize()}"
                    raise serializers.ValidationError({field: [f"give a PEM ({marker}) with the other two"]})
            if not host.startswith("tcp://"):
                raise serializers.ValidationError({"dockerHost": ["TLS certificates need a tcp:// engine address"]})
        if current is not None:
            _refuse_shared_projects(current, Environment(docker_host=host, tls_cert=given["cert"]))
        return attrs

    def validate_policy(self, value: str) -> str:
        if value == "none":  # its name before the levels were named like Kubernetes'
            return Environment.Policy.PRIVILEGED
        if value not in Environment.Policy.values:
            raise serializers.ValidationError(f"must be one of {', '.join(Environment.Policy.values)}")
        return value

    def validate_hostPaths(self, value: list[str]) -> list[str]:
        """Absolute folders, spelled one way; `/` would allow every host path: that is
        what `privileged` is for."""
        paths = []
        for path in value:
            normal = posixpath.normpath(path.strip())
            if not normal.startswith("/"):
                raise serializers.ValidationError(f"{path!r} is not an absolute path")
            if normal in ("/", "//"):
                raise serializers.ValidationError("/ would allow every host path: use the privileged policy")
            paths.append(normal)
        return sorted(set(paths))

    def validate_dockerHost(self, value: str) -> str:
        if value and not _DOCKER_HOST.match(value):
            raise serializers.ValidationError("must be a unix://, tcp:// or ssh:// address")
        return value


def _refuse_shared_projects(current: Environment, moved: Environment) -> None:
    """Moving an environment onto an engine where another environment's stacks already
    use its stacks' compose project names would hand those projects over: refused."""
    moved.pk = current.pk
    mine = set(current.stacks.values_list("project_name", flat=True))
    taken = sorted(
        mine
        & set(GitStack.objects.filter(environment__in=moved.sharing_engine()).values_list("project_name", flat=True))
    )
    if taken:
        raise serializers.ValidationError(
            {"dockerHost": [f"another environment on that engine already uses the compose projects {', '.join(taken)}"]}
        )


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    userId = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", max_length=150)
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    allowlisted = serializers.BooleanField(default=False)

    class Meta:
        model = Membership

    def get_field_names(
        self, declared_fields: Mapping[str, serializers.Field[Any, Any, Any, Any]], info: FieldInfo
    ) -> list[str]:
        """Every field is declared above."""
        return list(declared_fields)

    def validate_username(self, value: str) -> Any:
        user = get_user_model().objects.filter(username=value).first()
        if user is None:
            raise serializers.ValidationError(f"no user named {value!r}")
        return user

    def member_fields(self) -> dict[str, Any]:
        """The validated fields as `membership_save` takes them."""
        fields = self.validated_data
        return {"user": fields["user"]["username"], "role": fields["role"], "allowlisted": fields["allowlisted"]}
