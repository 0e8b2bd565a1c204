"""The JSON shape of git stacks (camelCase, spec §3).

Each field is declared once. The body is written by a walk worked out once from those
declarations, not by DRF's field-by-field walk (~0.3 ms a stack): the list answers
every stack (benchmark #5). A test holds the two to the same body.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import cache, cached_property
from operator import attrgetter
from typing import Any, TypeVar

import orjson
from croniter import croniter
from django.utils import timezone
from rest_framework import serializers
from rest_framework.utils.model_meta import FieldInfo

from dockhand.renderers import dumps
from gitsync.api.serializers import check_credential_use, public_url, validate_branch_name
from gitsync.models import Credential, Repository
from gitsync.validation import url_problem
from stacks import registry
from stacks.api.environment_serializers import NotifySettings, notify_events, notify_urls
from stacks.models import Environment, GitStack, PullPolicy, StackEnvVar, default_project_name
from stacks.services.access import admin_environment_ids, is_admin_of
from stacks.services.deploy import relative_path_problem
from stacks.services.schedules import CRON_PRESETS
from stacks.services.secret_inputs import ref_problem, refs_problem
from stacks.services.source import StackSource
from stacks.services.stacks import EnvVarInput, RepositoryUrl, local_environment
from stacks.services.status import StackState

_T = TypeVar("_T")

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PROJECT = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
_PROFILE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")


def validate_cron(value: str) -> None:
    """Five cron fields that croniter accepts."""
    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise serializers.ValidationError(f"{value!r} is not a valid 5-field cron expression")


class EnvVarSerializer(serializers.Serializer[StackEnvVar]):
    key = serializers.CharField(max_length=255)
    value = serializers.CharField(allow_blank=True, allow_null=True, required=False, trim_whitespace=False)
    isSecret = serializers.BooleanField(source="is_secret", default=False)
    # vault://<store name>/<path>#<field>: read from the store at deploy time, never stored.
    secretRef = serializers.CharField(source="secret_ref", max_length=1000, required=False, allow_blank=True)

    def validate_key(self, value: str) -> str:
        if not _ENV_KEY.match(value):
            raise serializers.ValidationError(f"{value!r} is not a valid variable name")
        return value

    def validate_secretRef(self, value: str) -> str:
        problem = ref_problem(value) if value else None
        if problem:  # (the message names the field: the envelope names only envVars)
            raise serializers.ValidationError(f"secretRef {problem}")
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("secret_ref") and attrs.get("value"):
            raise serializers.ValidationError({"secretRef": ["secretRef: give a value or a secretRef, not both"]})
        if attrs.get("secret_ref"):
            attrs["is_secret"] = True  # what a store holds is a secret, whatever was said
        return attrs

    def to_representation(self, instance: StackEnvVar) -> dict[str, Any]:
        if instance.secret_ref:  # the reference, never what it resolves to
            return {
                "key": instance.key,
                "value": None,
                "isSecret": True,
                "hasValue": True,
                "secretRef": instance.secret_ref,
            }
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


class _ForItsAdmins(serializers.CharField):
    """A value shown only to who may configure the stack (`GitStackSerializer._owned`),
    None to anyone else: with the webhook secret, a viewer could sign a push and deploy."""

    def get_attribute(self, instance: GitStack) -> Any:
        parent = self.parent
        assert isinstance(parent, GitStackSerializer)
        return super().get_attribute(instance) if parent._owned(instance) else None


def validate_push_to(value: str) -> None:
    """pushTo is `<registry>/<repo>` without a tag: the commit sha is the tag."""
    if not value:
        return
    try:
        ref = registry.parse(value)
    except ValueError as exc:
        raise serializers.ValidationError(str(exc)) from exc
    if ref.digest or value.rsplit("/", 1)[-1].count(":"):
        raise serializers.ValidationError("give <registry>/<repository> without a tag or digest: the commit is the tag")


class GitStackSerializer(NotifySettings, serializers.ModelSerializer[GitStack]):
    """A stack as the API shows and takes it: its `id`, then the declared fields in the
    body's order."""

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
    webhookEnabled = serializers.BooleanField(source="webhook_enabled", required=False)
    webhookSecret = _ForItsAdmins(source="webhook_secret", max_length=200, required=False, allow_blank=True)
    watchPaths = serializers.ListField(
        source="watch_paths", child=serializers.CharField(max_length=500), required=False
    )
    envVars = EnvVarSerializer(source="env_vars", many=True, required=False)
    # The age key (a credential of authType "age") that decrypts SOPS-encrypted env files.
    sopsCredentialId = serializers.PrimaryKeyRelatedField(
        source="sops_credential", queryset=Credential.objects.all(), required=False, allow_null=True
    )
    deployNow = serializers.BooleanField(write_only=True, required=False, default=False)
    # Save without asking the remote (stacks/services/source.py): for automation that
    # creates a stack before its repository, branch or files exist.
    skipSourceCheck = serializers.BooleanField(write_only=True, required=False, default=False)
    autoUpdateSchedule = serializers.ChoiceField(choices=sorted(CRON_PRESETS), write_only=True, required=False)
    nextSync = serializers.SerializerMethodField()
    projectName = serializers.CharField(source="project_name", max_length=100, required=False)
    lastSync = serializers.DateTimeField(source="last_sync", read_only=True, allow_null=True)
    lastCommit = serializers.CharField(source="last_commit", read_only=True)
    syncStatus = serializers.CharField(source="sync_status", read_only=True)
    syncError = serializers.SerializerMethodField()
    branchMissing = serializers.BooleanField(source="branch_missing", read_only=True)
    # The in-repository file that declared it (`.dockhand.yaml`), "" for a stack made here.
    configFile = serializers.CharField(source="config_file", read_only=True)
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
    # Step 13: the schedule deploys a newer digest of a tag by itself; builds pushed to.
    autoUpdateImages = serializers.BooleanField(source="auto_update_images", required=False)
    pushTo = serializers.CharField(
        source="push_to", max_length=300, required=False, allow_blank=True, validators=[validate_push_to]
    )
    autoSyncPaused = serializers.BooleanField(source="auto_sync_paused", required=False)
    stoppedByUser = serializers.BooleanField(source="stopped_by_user", read_only=True)
    syncState = serializers.SerializerMethodField()
    health = serializers.SerializerMethodField()
    webhookUrl = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at", read_only=True)
    updatedAt = serializers.DateTimeField(source="updated_at", read_only=True)
    notifyUrls = notify_urls()
    notifyEvents = notify_events()
    notifyTargets = serializers.SerializerMethodField()

    class Meta:
        model = GitStack
        # Uniqueness per environment is checked in validate(), with messages naming the field.
        validators: list[Any] = []

    def get_field_names(
        self, declared_fields: Mapping[str, serializers.Field[Any, Any, Any, Any]], info: FieldInfo
    ) -> list[str]:
        return ["id", *declared_fields]

    def to_representation(self, instance: GitStack) -> dict[str, Any]:
        """What the row decides (in a list, once per version of the row), then what the
        request decides over it. tests/stacks/test_list_scale.py holds the body to what
        DRF's walk over the declared fields says."""
        pk = instance.pk  # a property: read once
        given = self._from_request(instance, pk)
        shown = dict(self._from_row(instance, pk, given))  # a copy: the memo's dict is shared
        shown.update(given)
        return shown

    def to_json(self, instance: GitStack) -> orjson.Fragment:
        """to_representation as the list writes it out, in JSON: the row's part once per
        version of the row (kept in its memo as bytes), the request's part each time,
        after it: ~8 % less CPU for the 1,000-stack list than writing its memoised dicts
        out again (benchmark #5); the keys come in another order, nothing else differs."""
        pk = instance.id  # (`pk` is a property: ~7 % of the 1,000-stack list in all)
        given = self._from_request(instance, pk)
        # _kept written out: this runs for every stack of every list.
        memo, key = self._memos.get(pk), self._json_key
        row = memo.get(key) if memo is not None else None
        if row is None:
            row = self._row_json(instance, given)
            if memo is not None:
                memo[key] = row
        return orjson.Fragment(row + dumps(given)[1:])

    def _row_json(self, instance: GitStack, given: dict[str, Any]) -> bytes:
        """The row's fields as JSON without the closing brace: `{"id":1,…,`."""
        written = _row_walk(type(self), frozenset(given)).written(self, instance)
        return dumps({name: value for name, value in written.items() if name not in given})[:-1] + b","

    def _from_request(self, instance: GitStack, pk: int) -> dict[str, Any]:
        """The secret (its owners only), the overrides (another table's rows), the state
        (the engine's) and the webhook URL (the request's host). The method fields'
        reads are written out: this runs for every stack of every list."""
        state = self._states.get(pk)
        return {
            "webhookSecret": instance.webhook_secret if self._owned(instance) else None,
            "envVars": [_ENV_VAR.to_representation(v) for v in self._env_vars(instance)],
            "syncState": state.sync_state if state else "Unknown",
            "health": state.health if state else "Unknown",
            "webhookUrl": f"{self._hooks_at}{pk}/webhook",
        }

    def _from_row(self, instance: GitStack, pk: int, given: dict[str, Any]) -> dict[str, Any]:
        """The body as the row alone decides it (and the time zone), None where the
        request gives the value. A list keeps it in the row's memo
        (stacks/services/listed.py) while the row is unchanged."""
        return self._kept(pk, self._memo_key, lambda: _row_walk(type(self), frozenset(given)).written(self, instance))

    def _kept(self, pk: int, key: Hashable, make: Callable[[], _T]) -> _T:
        """`make()`, kept in the row's memo under `key` while the row is unchanged (in a
        list; elsewhere there is no memo and it is made each time)."""
        memo = self._memos.get(pk)
        if memo is not None and key in memo:
            return memo[key]  # type: ignore[no-any-return]
        value = make()
        if memo is not None:
            memo[key] = value
        return value

    def _env_vars(self, obj: GitStack) -> Iterable[StackEnvVar]:
        listed = self._listed_env_vars
        return listed[obj.id] if listed is not None else obj.env_vars.all()

    def _owned(self, obj: GitStack) -> bool:
        """Whether the caller may configure the stack (an owner or an admin of its
        environment), who alone is shown its webhook secret. Without a request (the
        server filling its own edit form) it is shown."""
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
    def _json_key(self) -> tuple[str, str, tzinfo]:
        return ("json", *self._memo_key)

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

    def get_syncError(self, obj: GitStack) -> str | None:
        return obj.sync_error or None

    def get_nextSync(self, obj: GitStack) -> str | None:
        return self._when(obj.next_auto_sync if obj.auto_update else None)

    def _when(self, value: datetime | None) -> str | None:
        return _when(value, self._zone)

    def get_webhookUrl(self, obj: GitStack) -> str:
        return f"{self._hooks_at}{obj.pk}/webhook"

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

    def validate_sopsCredentialId(self, value: Credential | None) -> Credential | None:
        if value is not None and value.auth_type != Credential.AuthType.AGE:
            raise serializers.ValidationError(f'credential {value.name!r} is not an age key (authType "age")')
        return value

    def validate_envVars(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        # A PUT is partial, and DRF makes a partial serializer's nested fields optional
        # too: a variable without a key got this far (the API fuzz found it, as a 500).
        if any("key" not in item for item in value):
            raise serializers.ValidationError("every variable needs a key")
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
        # Compose project names are the engine's, not the environment's: a stack of
        # another environment on the same engine must never be taken over (or downed).
        engine = environment or local_environment()
        sharing = GitStack.objects.filter(environment__in=engine.sharing_engine(), project_name=project)
        if current is not None:  # (moving a stack to another environment on its engine)
            sharing = sharing.exclude(pk=current.pk)
        if sharing.exists():
            raise serializers.ValidationError(
                {
                    "projectName": [
                        f"compose project {project!r} is already used on this engine by another environment's stack"
                    ]
                }
            )
        if current is None or {"url", "repository", "environment"} & attrs.keys():
            self._check_credential(attrs, current, environment or local_environment())
        age = attrs.get("sops_credential", current.sops_credential if current else None)
        where = environment or local_environment()
        if age is not None and not age.allows_environment(where.pk):
            raise serializers.ValidationError(
                {"sopsCredentialId": [f"credential {age.name!r} may not be used in environment {where.name!r}"]}
            )
        moved = current is not None and "environment" in attrs  # (its references move with it)
        overrides = attrs.get("env_vars", current.env_vars.values() if moved and current else [])
        problem = refs_problem((v.get("secret_ref", "") for v in overrides), where)
        if problem:
            raise serializers.ValidationError({"envVars": [f"secretRef {problem}"]})
        return attrs

    def _check_credential(self, attrs: dict[str, Any], current: GitStack | None, environment: Environment) -> None:
        """The credential may be sent to the repository's URL from this environment
        (gitsync's rules: its URL prefixes, environments and plain-http opt-in)."""
        where = (environment.pk, environment.name)
        if "url" in attrs:
            check_credential_use(attrs.get("credentialId"), url=attrs["url"], environment=where)
            return
        repository = attrs.get("repository") or (current.repository if current else None)
        if repository is not None:
            check_credential_use(repository.credential, url=repository.url, environment=where, field="repositoryId")

    def model_fields(self) -> dict[str, Any]:
        """Model fields from the validated payload; an inline url is repository_url()'s."""
        fields = dict(self.validated_data)
        for transient in ("env_vars", "deployNow", "url", "credentialId", "skipSourceCheck"):
            fields.pop(transient, None)
        return fields

    def repository_url(self) -> RepositoryUrl | None:
        """The repository given by url (and credential) instead of by id. The service
        finds or creates it with the stack: validating saves nothing."""
        url = self.validated_data.get("url")
        return RepositoryUrl(url=url, credential=self.validated_data.get("credentialId")) if url else None

    def stack_source(self) -> StackSource | None:
        """Where the stack's files will come from once this is saved, when that is new (a
        create) or changes (repository, credential, branch or paths); None otherwise."""
        return source_of(self.validated_data, self.instance, changed_only=True)

    def env_var_inputs(self) -> list[EnvVarInput] | None:
        """The submitted overrides, or None when the request did not mention them."""
        items = self.validated_data.get("env_vars")
        if items is None:
            return None
        return [
            EnvVarInput(
                key=i["key"],
                value=i.get("value"),
                is_secret=i.get("is_secret", False),
                secret_ref=i.get("secret_ref", ""),
            )
            for i in items
        ]


def source_of(attrs: Mapping[str, Any], current: GitStack | None, *, changed_only: bool) -> StackSource | None:
    """The source a stack would have with the validated `attrs` (field-level validation
    is enough: the stack form asks while other fields are still being typed), None when
    there is no repository yet, or when `changed_only` and an edit leaves it alone."""
    if "url" in attrs:
        url, credential, url_field = attrs["url"], attrs.get("credentialId"), "url"
        # The repository stack_create will use: the one there is, or a new one on main.
        known = Repository.objects.filter(url=url, credential=credential).first()
    else:
        known = attrs.get("repository") or (current.repository if current else None)
        if known is None:
            return None
        url, credential, url_field = known.url, known.credential, "repositoryId"
    given = current or GitStack()  # (a new stack's defaults)
    branch = attrs.get("branch") or (current.branch if current else known.branch if known else given.branch)
    source = StackSource(
        url=url,
        credential=credential,
        branch=branch,
        compose_path=attrs.get("compose_path", given.compose_path),
        env_file_path=attrs.get("env_file_path", given.env_file_path),
        additional_compose_files=tuple(attrs.get("additional_compose_files", given.additional_compose_files)),
        url_field=url_field,
    )
    if changed_only and current is not None and _where(source) == _where(_source_of(current)):
        return None
    return source


def _source_of(stack: GitStack) -> StackSource:
    repository = stack.repository
    return StackSource(
        url=repository.url,
        credential=repository.credential,
        branch=stack.branch,
        compose_path=stack.compose_path,
        env_file_path=stack.env_file_path,
        additional_compose_files=tuple(stack.additional_compose_files),
    )


def _where(source: StackSource) -> tuple[Any, ...]:
    """What the remote is asked about (the credential by id: an edit may reload it)."""
    credential = source.credential.pk if source.credential else None
    return (
        source.url,
        credential,
        source.branch,
        source.compose_path,
        source.env_file_path,
        source.additional_compose_files,
    )


_Read = Callable[[GitStackSerializer, GitStack], Any]
# Fields whose stored value is already what DRF writes (a str, bool, int or id).
_AS_STORED = (
    serializers.BooleanField,
    serializers.CharField,
    serializers.ChoiceField,
    serializers.IntegerField,
    serializers.PrimaryKeyRelatedField,
)


@dataclass(frozen=True)
class _RowWalk:
    """DRF's walk over a serializer's readable declared fields, worked out once for the
    class: the fields written as stored are read in one call, the others each by a
    converter; the fields the request gives stay None."""

    body: dict[str, None]  # every readable field, in the body's order
    stored: tuple[str, ...]
    read_stored: Callable[[GitStack], tuple[Any, ...]]
    converted: tuple[tuple[str, _Read], ...]  # times, lists, method fields

    def written(self, serializer: GitStackSerializer, stack: GitStack) -> dict[str, Any]:
        written = self.body.copy()
        written.update(zip(self.stored, self.read_stored(stack), strict=True))
        for name, read in self.converted:
            written[name] = read(serializer, stack)
        return written


@cache
def _row_walk(cls: type[GitStackSerializer], given: frozenset[str]) -> _RowWalk:
    """For each readable declared field: the attribute its `source` names, converted as
    the field would (a time as `_when` writes it, a list as a copy, a method field by its
    method, a relation as its id, any other value as stored)."""
    body: dict[str, None] = {}
    stored: list[str] = []
    sources: list[str] = []
    converted: list[tuple[str, _Read]] = []
    for name, field in cls().fields.items():
        if field.write_only:
            continue
        body[name] = None
        if name in given:
            continue
        if isinstance(field, serializers.SerializerMethodField):
            converted.append((name, getattr(cls, field.method_name)))
            continue
        source = ".".join(field.source_attrs)
        if isinstance(field, serializers.PrimaryKeyRelatedField):
            source = f"{source}_id"  # the id as DRF reads it (Django's attname): no query
        if isinstance(field, serializers.DateTimeField):
            converted.append((name, _time(attrgetter(source))))
        elif isinstance(field, serializers.ListField):
            converted.append((name, _copy(attrgetter(source))))
        elif isinstance(field, _AS_STORED):
            stored.append(name)
            sources.append(source)
        else:
            raise TypeError(f"{cls.__name__}.{name}: no plain read for a {type(field).__name__}")
    assert len(sources) > 1, "attrgetter returns a tuple for two attributes or more"
    return _RowWalk(body, tuple(stored), attrgetter(*sources), tuple(converted))


def _time(get: Callable[[GitStack], datetime | None]) -> _Read:
    return lambda serializer, stack: _when(get(stack), serializer._zone)


def _copy(get: Callable[[GitStack], list[Any]]) -> _Read:
    return lambda serializer, stack: list(get(stack))  # the memo outlives the instance
