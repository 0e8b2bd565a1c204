"""JSON shapes of environments, git stacks and deployments (camelCase, spec §3)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, tzinfo
from functools import cached_property
from typing import Any

from croniter import croniter
from django.contrib.auth import get_user_model
from django.utils import timezone
from rest_framework import serializers

from dockhand import notifier
from gitsync.api.serializers import public_url, validate_branch_name
from gitsync.models import Credential, Repository
from gitsync.services.repositories import repository_for_url
from gitsync.validation import url_problem
from stacks.models import (
    Deployment,
    Environment,
    GitStack,
    Membership,
    NotifyEvent,
    PullPolicy,
    StackEnvVar,
    WebhookDelivery,
    default_project_name,
)
from stacks.services.access import admin_environment_ids, is_admin_of
from stacks.services.deploy import relative_path_problem
from stacks.services.schedules import CRON_PRESETS
from stacks.services.stacks import EnvVarInput
from stacks.services.status import StackState

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PROFILE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
_DOCKER_HOST = re.compile(r"^(unix|tcp|ssh|npipe)://\S+$")


_APPRISE_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+$")


class NotifySettings(serializers.Serializer):  # type: ignore[type-arg]
    """Apprise URLs (write-only: they carry tokens; read back as `notifyTargets`, scheme
    and host only) and the events they are told of. Shared by stacks and environments."""

    notifyUrls = serializers.ListField(
        source="notify_urls",
        child=serializers.CharField(max_length=1000),
        write_only=True,
        required=False,
        max_length=20,
    )
    notifyEvents = serializers.ListField(
        source="notify_events", child=serializers.ChoiceField(choices=NotifyEvent.choices), required=False
    )
    notifyTargets = serializers.SerializerMethodField()

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
    swarm = serializers.BooleanField(required=False)
    sshCredentialId = serializers.PrimaryKeyRelatedField(
        source="ssh_credential",
        queryset=Credential.objects.filter(auth_type=Credential.AuthType.SSH),
        required=False,
        allow_null=True,
    )

    policy = serializers.ChoiceField(choices=Environment.Policy.choices, required=False)
    protection = serializers.ChoiceField(choices=Environment.Protection.choices, required=False)
    approvalRequired = serializers.BooleanField(source="approval_required", required=False)

    class Meta:
        model = Environment
        fields = [
            "id", "name", "dockerHost", "tlsCa", "tlsCert", "tlsKey", "tls", "sshCredentialId", "swarm", "policy", "protection",
            "approvalRequired", "notifyUrls", "notifyEvents", "notifyTargets",
        ]  # fmt: skip

    def get_tls(self, obj: Environment) -> bool:
        return bool(obj.tls_cert)

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
        return attrs

    def validate_dockerHost(self, value: str) -> str:
        if value and not _DOCKER_HOST.match(value):
            raise serializers.ValidationError("must be a unix://, tcp:// or ssh:// address")
        return value


def validate_cron(value: str) -> None:
    """Five cron fields that croniter accepts."""
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise serializers.ValidationError(f"{value!r} is not a valid 5-field cron expression")


class EnvVarSerializer(serializers.Serializer[StackEnvVar]):
    key = serializers.CharField(max_length=255)
    value = serializers.CharField(allow_blank=True, allow_null=True, required=False, trim_whitespace=False)
    isSecret = serializers.BooleanField(source="is_secret", default=False)

    def validate_key(self, value: str) -> str:
        if not _ENV_KEY.match(value):
            raise serializers.ValidationError(f"{value!r} is not a valid variable name")
        return value

    def to_representation(self, instance: StackEnvVar) -> dict[str, Any]:
        if instance.is_secret:
            # Write-only: the value never leaves the server once stored.
            return {"key": instance.key, "value": None, "isSecret": True, "hasValue": bool(instance.value)}
        return {"key": instance.key, "value": instance.value, "isSecret": False, "hasValue": bool(instance.value)}


_ENV_VAR = EnvVarSerializer()


def _when(value: datetime | None, zone: tzinfo) -> str | None:
    """A time as DRF's DateTimeField shows it (ISO 8601 in the current time zone, UTC
    as `Z`), or None; written out as it runs a few thousand times for one list."""
    if not value:
        return None
    shown = value.astimezone(zone).isoformat()
    return shown[:-6] + "Z" if shown.endswith("+00:00") else shown


class GitStackSerializer(NotifySettings, serializers.ModelSerializer[GitStack]):
    stackName = serializers.CharField(source="name", max_length=100)
    environmentId = serializers.PrimaryKeyRelatedField(
        source="environment", queryset=Environment.objects.all(), required=False
    )
    repositoryId = serializers.PrimaryKeyRelatedField(
        source="repository", queryset=Repository.objects.all(), required=False
    )
    url = serializers.CharField(write_only=True, required=False, max_length=1000)
    credentialId = serializers.PrimaryKeyRelatedField(
        queryset=Credential.objects.all(), write_only=True, required=False, allow_null=True
    )
    branch = serializers.CharField(max_length=255, required=False)
    composePath = serializers.CharField(source="compose_path", max_length=500, required=False)
    envFilePath = serializers.CharField(source="env_file_path", max_length=500, required=False, allow_blank=True)
    autoUpdate = serializers.BooleanField(source="auto_update", required=False)
    autoUpdateCron = serializers.CharField(
        source="auto_update_cron", max_length=100, required=False, validators=[validate_cron]
    )
    autoUpdateSchedule = serializers.ChoiceField(choices=sorted(CRON_PRESETS), write_only=True, required=False)
    nextSync = serializers.SerializerMethodField()
    webhookEnabled = serializers.BooleanField(source="webhook_enabled", required=False)
    webhookSecret = serializers.CharField(source="webhook_secret", max_length=200, required=False, allow_blank=True)
    watchPaths = serializers.ListField(
        source="watch_paths", child=serializers.CharField(max_length=500), required=False
    )
    envVars = EnvVarSerializer(source="env_vars", many=True, required=False)
    deployNow = serializers.BooleanField(write_only=True, required=False, default=False)
    projectName = serializers.CharField(source="project_name", max_length=100, required=False)
    lastSync = serializers.DateTimeField(source="last_sync", read_only=True)
    lastCommit = serializers.CharField(source="last_commit", read_only=True)
    syncStatus = serializers.CharField(source="sync_status", read_only=True)
    syncError = serializers.SerializerMethodField()
    branchMissing = serializers.BooleanField(source="branch_missing", read_only=True)
    additionalComposeFiles = serializers.ListField(
        source="additional_compose_files", child=serializers.CharField(max_length=500), required=False, max_length=20
    )
    profiles = serializers.ListField(child=serializers.CharField(max_length=100), required=False, max_length=20)
    buildOnDeploy = serializers.BooleanField(source="build_on_deploy", required=False)
    noBuildCache = serializers.BooleanField(source="no_build_cache", required=False)
    pullPolicy = serializers.ChoiceField(source="pull_policy", choices=PullPolicy.choices, required=False)
    forceRecreate = serializers.BooleanField(source="force_recreate", required=False)
    composeTimeout = serializers.IntegerField(
        source="compose_timeout", min_value=10, max_value=86400, allow_null=True, required=False
    )
    healthTimeout = serializers.IntegerField(source="health_timeout", min_value=0, max_value=3600, required=False)
    autoRollback = serializers.BooleanField(source="auto_rollback", required=False)
    autoSyncPaused = serializers.BooleanField(source="auto_sync_paused", required=False)
    stoppedByUser = serializers.BooleanField(source="stopped_by_user", read_only=True)
    syncState = serializers.SerializerMethodField()
    health = serializers.SerializerMethodField()
    webhookUrl = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)

    class Meta:
        model = GitStack
        fields = [
            "id", "stackName", "environmentId", "repositoryId", "url", "credentialId", "branch", "composePath",
            "envFilePath", "autoUpdate", "autoUpdateCron", "webhookEnabled", "webhookSecret", "watchPaths",
            "envVars", "deployNow", "autoUpdateSchedule", "nextSync", "projectName", "lastSync", "lastCommit", "syncStatus", "syncError", "branchMissing",
            "additionalComposeFiles", "profiles", "buildOnDeploy", "noBuildCache", "pullPolicy", "forceRecreate",
            "composeTimeout", "healthTimeout", "autoRollback", "autoSyncPaused", "stoppedByUser", "syncState", "health",
            "webhookUrl", "createdAt", "updatedAt", "notifyUrls", "notifyEvents", "notifyTargets",
        ]  # fmt: skip
        # Uniqueness per environment is checked in validate(), with messages naming the field.
        validators: list[Any] = []

    def get_syncError(self, obj: GitStack) -> str | None:
        return obj.sync_error or None

    def to_representation(self, instance: GitStack) -> dict[str, Any]:
        """The declared read fields, written out: the list answers every stack, and DRF's
        field-by-field walk cost ~0.3 ms a stack (benchmark #5). A test holds this to
        what the generic walk says (tests/stacks/test_list_scale.py)."""
        pk = instance.pk
        shown = dict(self._from_row(instance, pk))  # a copy: the memo's dict is shared
        state = self._state(instance)
        shown["webhookSecret"] = instance.webhook_secret if self._owned(instance) else None
        shown["envVars"] = [_ENV_VAR.to_representation(v) for v in self._env_vars(instance)]
        shown["syncState"] = state.sync_state if state else "Unknown"
        shown["health"] = state.health if state else "Unknown"
        shown["webhookUrl"] = f"{self._hooks_at}{pk}/webhook"
        return shown

    def _from_row(self, instance: GitStack, pk: int) -> dict[str, Any]:
        """What the stack's row alone decides (and the time zone), in the body's order
        (the keys set per request are placeholders here). A list keeps it in the row's
        memo (stacks/services/listed.py) while the row is unchanged."""
        memo = self._memos.get(pk)
        key = self._memo_key
        if memo is not None and key in memo:
            return memo[key]  # type: ignore[no-any-return]
        written = {
            "id": pk,
            "stackName": instance.name,
            "environmentId": instance.environment_id,
            "repositoryId": instance.repository_id,
            "branch": instance.branch,
            "composePath": instance.compose_path,
            "envFilePath": instance.env_file_path,
            "autoUpdate": instance.auto_update,
            "autoUpdateCron": instance.auto_update_cron,
            "webhookEnabled": instance.webhook_enabled,
            "webhookSecret": None,
            "watchPaths": list(instance.watch_paths),
            "envVars": None,
            "nextSync": self.get_nextSync(instance),
            "projectName": instance.project_name,
            "lastSync": self._when(instance.last_sync),
            "lastCommit": instance.last_commit,
            "syncStatus": instance.sync_status,
            "syncError": instance.sync_error or None,
            "branchMissing": instance.branch_missing,
            "additionalComposeFiles": list(instance.additional_compose_files),
            "profiles": list(instance.profiles),
            "buildOnDeploy": instance.build_on_deploy,
            "noBuildCache": instance.no_build_cache,
            "pullPolicy": instance.pull_policy,
            "forceRecreate": instance.force_recreate,
            "composeTimeout": instance.compose_timeout,
            "healthTimeout": instance.health_timeout,
            "autoRollback": instance.auto_rollback,
            "autoSyncPaused": instance.auto_sync_paused,
            "stoppedByUser": instance.stopped_by_user,
            "syncState": None,
            "health": None,
            "webhookUrl": None,
            "createdAt": self._when(instance.created_at),
            "updatedAt": self._when(instance.updated_at),
            "notifyEvents": list(instance.notify_events),
            "notifyTargets": self.get_notifyTargets(instance),
        }
        if memo is not None:
            memo[key] = written
        return written

    def _env_vars(self, obj: GitStack) -> Iterable[StackEnvVar]:
        listed = self._listed_env_vars
        return listed[obj.pk] if listed is not None else obj.env_vars.all()

    def _owned(self, obj: GitStack) -> bool:
        """The webhook secret is shown to its owners only (owners, environment admins):
        with it, a viewer could sign a push and deploy. Without a request (the server
        filling its own edit form) it is shown."""
        return is_admin_of(self._admin_of, obj.environment_id)

    # Read once per response (a list shares one child serializer), not once per stack:
    # DRF's `context` walks up to the root serializer on every read.
    @cached_property
    def _admin_of(self) -> set[int] | None:
        """None without a request; otherwise what admin_environment_ids says."""
        request = self.context.get("request")
        return None if request is None else admin_environment_ids(request.user)

    @cached_property
    def _states(self) -> dict[int, StackState]:
        return self.context.get("states") or {}  # the view's, for the whole page at once

    @cached_property
    def _memos(self) -> dict[int, dict[Any, Any]]:
        return self.context.get("memos") or {}  # stacks_listed's, by stack id

    @cached_property
    def _memo_key(self) -> tuple[str, tzinfo]:
        return ("api", self._zone)  # the body depends on the time zone as well as the row

    @cached_property
    def _listed_env_vars(self) -> dict[int, list[StackEnvVar]] | None:
        return self.context.get("env_vars")  # stacks_listed's, by stack id

    @cached_property
    def _zone(self) -> tzinfo:
        return timezone.get_current_timezone()  # a context-local lookup each time

    @cached_property
    def _hooks_at(self) -> str:
        return public_url(self.context.get("request"), "/api/git/stacks/")

    def _state(self, obj: GitStack) -> StackState | None:
        return self._states.get(obj.pk)

    def get_syncState(self, obj: GitStack) -> str:
        state = self._state(obj)
        return state.sync_state if state else "Unknown"

    def get_health(self, obj: GitStack) -> str:
        state = self._state(obj)
        return state.health if state else "Unknown"

    def validate_additionalComposeFiles(self, value: list[str]) -> list[str]:
        for path in value:
            problem = relative_path_problem(path) or (None if path else "must not be empty")
            if problem:
                raise serializers.ValidationError(f"{path!r} {problem}")
        return value

    def validate_profiles(self, value: list[str]) -> list[str]:
        for profile in value:
            if not _PROFILE.match(profile):
                raise serializers.ValidationError(f"{profile!r} is not a valid profile name")
        return value

    def get_nextSync(self, obj: GitStack) -> str | None:
        return self._when(obj.next_auto_sync if obj.auto_update else None)

    def _when(self, value: datetime | None) -> str | None:
        return _when(value, self._zone)

    def get_webhookUrl(self, obj: GitStack) -> str:
        return f"{self._hooks_at}{obj.pk}/webhook"

    def validate_stackName(self, value: str) -> str:
        if not value.strip() or any(ord(ch) < 32 or ch in "/\\" for ch in value):
            raise serializers.ValidationError("must be a non-empty name without slashes or control characters")
        return value.strip()

    def validate_url(self, value: str) -> str:
        problem = url_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_branch(self, value: str) -> str:
        return validate_branch_name(value)

    def validate_composePath(self, value: str) -> str:
        problem = relative_path_problem(value) if value else "is required"
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_envFilePath(self, value: str) -> str:
        problem = relative_path_problem(value)
        if problem:
            raise serializers.ValidationError(problem)
        return value

    def validate_watchPaths(self, value: list[str]) -> list[str]:
        for path in value:
            problem = relative_path_problem(path.strip("/"))
            if problem:
                raise serializers.ValidationError(f"{path!r} {problem}")
        return [p.strip("/") for p in value if p.strip("/")]

    def validate_projectName(self, value: str) -> str:
        if not _PROJECT.match(value):
            raise serializers.ValidationError(
                "must be lower-case letters, digits, '-' or '_', starting with a letter or digit"
            )
        return value

    def validate_envVars(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        keys = [item["key"] for item in value]
        duplicate = next((k for k in keys if keys.count(k) > 1), None)
        if duplicate:
            raise serializers.ValidationError(f"{duplicate!r} is given more than once")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        current: GitStack | None = self.instance
        preset = attrs.pop("autoUpdateSchedule", None)
        if preset:
            if "auto_update_cron" in attrs and attrs["auto_update_cron"] != CRON_PRESETS[preset]:
                raise serializers.ValidationError(
                    {"autoUpdateSchedule": ["give a preset or a cron expression, not both"]}
                )
            attrs["auto_update_cron"] = CRON_PRESETS[preset]
        if current is None and "repository" not in attrs and "url" not in attrs:
            raise serializers.ValidationError({"url": ["give repositoryId or url"]})
        if "repository" in attrs and "url" in attrs:
            raise serializers.ValidationError({"url": ["give repositoryId or url, not both"]})
        environment = attrs.get("environment") or (current.environment if current else None)
        env_filter = {"environment": environment} if environment else {"environment__name": "local"}
        others = GitStack.objects.filter(**env_filter)
        if current is not None:
            others = others.exclude(pk=current.pk)
        name = attrs.get("name", current.name if current else "")
        if others.filter(name=name).exists():
            raise serializers.ValidationError(
                {"stackName": [f"a stack named {name!r} already exists in this environment"]}
            )
        project = attrs.get("project_name") or (current.project_name if current else default_project_name(name))
        if others.filter(project_name=project).exists():
            raise serializers.ValidationError(
                {"projectName": [f"compose project {project!r} is already used by another stack in this environment"]}
            )
        return attrs

    def model_fields(self) -> dict[str, Any]:
        """Model fields from the validated payload; an inline url becomes a repository."""
        fields = dict(self.validated_data)
        for transient in ("env_vars", "deployNow", "credentialId"):
            fields.pop(transient, None)
        url = fields.pop("url", None)
        if url:
            fields["repository"] = repository_for_url(
                url=url, branch=fields.get("branch", "main"), credential=self.validated_data.get("credentialId")
            )
        if "repository" in fields and "branch" not in fields and self.instance is None:
            fields["branch"] = fields["repository"].branch
        return fields

    def env_var_inputs(self) -> list[EnvVarInput] | None:
        """The submitted overrides, or None when the request did not mention them."""
        items = self.validated_data.get("env_vars")
        if items is None:
            return None
        return [EnvVarInput(key=i["key"], value=i.get("value"), is_secret=i.get("is_secret", False)) for i in items]


class DeploymentSerializer(serializers.ModelSerializer[Deployment]):
    stackId = serializers.IntegerField(source="stack_id", read_only=True)
    commitSha = serializers.CharField(source="commit_sha", read_only=True)
    commitMessage = serializers.CharField(source="commit_message", read_only=True)
    commitAuthor = serializers.CharField(source="commit_author", read_only=True)
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    startedAt = serializers.DateTimeField(source="started_at", read_only=True)
    finishedAt = serializers.DateTimeField(source="finished_at", read_only=True)
    durationMs = serializers.IntegerField(source="duration_ms", read_only=True)
    output = serializers.CharField(source="output_text", read_only=True)
    requestedBy = serializers.CharField(source="requested_by", read_only=True)
    reviewedBy = serializers.CharField(source="reviewed_by", read_only=True)
    targetCommit = serializers.CharField(source="target_commit", read_only=True)
    rollbackTo = serializers.IntegerField(source="rollback_to_id", read_only=True, allow_null=True)
    envSnapshot = serializers.JSONField(source="env_snapshot", read_only=True)

    class Meta:
        model = Deployment
        fields = [
            "id", "stackId", "status", "trigger", "force", "deployed", "commitSha", "commitMessage", "commitAuthor",
            "createdAt", "startedAt", "finishedAt", "durationMs", "output", "error", "requestedBy", "reviewedBy",
            "note", "targetCommit", "rollbackTo", "envSnapshot", "images",
        ]  # fmt: skip
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer[WebhookDelivery]):
    at = serializers.DateTimeField(source="received_at", read_only=True)
    deliveryId = serializers.CharField(source="delivery_id", read_only=True)
    deploymentId = serializers.IntegerField(source="deployment_id", read_only=True, allow_null=True)
    via = serializers.SerializerMethodField()

    class Meta:
        model = WebhookDelivery
        fields = ["id", "at", "via", "provider", "event", "deliveryId", "ref", "result", "reason", "deploymentId"]
        read_only_fields = fields

    def get_via(self, obj: WebhookDelivery) -> str:
        return "repository" if obj.target.startswith("repository:") else "stack"


class MembershipSerializer(serializers.ModelSerializer[Membership]):
    userId = serializers.IntegerField(source="user_id", read_only=True)
    username = serializers.CharField(source="user.username", max_length=150)
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    allowlisted = serializers.BooleanField(default=False)

    class Meta:
        model = Membership
        fields = ["userId", "username", "role", "allowlisted"]

    def validate_username(self, value: str) -> Any:
        user = get_user_model().objects.filter(username=value).first()
        if user is None:
            raise serializers.ValidationError(f"no user named {value!r}")
        return user
