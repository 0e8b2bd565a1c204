"""Stacks declared in the repository itself: `.dockhand.yaml` at the root of the branch
(or `.dockhand.<target>.yaml` for a webhook's custom target, as doco-cd's
`.doco-cd.<target>.yaml`)::

    stacks:
      - name: web
        composePath: web/compose.yaml
        envFilePath: web/.env        # optional
        profiles: [prod]             # optional
        watchPaths: [web]            # optional
        projectName: web             # optional

Discovery reads the file at the branch head, checks every stack as the stack API would
(its serializer: the same rules and messages, named by file and field), then creates or
updates them through the stack services. Stacks the file no longer declares are reported,
never deleted. This module sits beside `api/` (not in `services/`) because it validates
with the API's serializer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from django.db import transaction

from dockhand.audit import record
from gitsync import git
from gitsync.models import Repository
from gitsync.services.auth import git_auth
from stacks.api.serializers import GitStackSerializer
from stacks.models import Environment, GitStack
from stacks.services.stacks import local_environment, stack_create, stack_update

CONFIG_FILE = ".dockhand.yaml"
TARGET = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# The file's names for the stack API's fields (the same words, but `name`).
_FIELDS = {
    "name": "stackName",
    "composePath": "composePath",
    "envFilePath": "envFilePath",
    "profiles": "profiles",
    "watchPaths": "watchPaths",
    "projectName": "projectName",
}
# What a stack gets when the file leaves a field out (a field dropped from the file
# goes back to this): `projectName` is the exception, kept (renaming it would leave
# the old project's containers running).
_DEFAULTS: dict[str, Any] = {"composePath": "compose.yaml", "envFilePath": "", "profiles": [], "watchPaths": []}


class ConfigInvalid(ValueError):
    """The file is not valid: the message names the file and the field (a 400)."""


class ConfigMissing(ConfigInvalid):
    """The branch has no such file."""


def config_file_for(target: str = "") -> str:
    """`.dockhand.yaml`, or `.dockhand.<target>.yaml` for a custom webhook target."""
    if not target:
        return CONFIG_FILE
    if not TARGET.match(target) or ".." in target:
        raise ConfigInvalid(f"target {target!r}: letters, digits, '.', '_' or '-' only")
    return f".dockhand.{target}.yaml"


@dataclass
class Discovery:
    """What one discovery did, per stack."""

    file: str
    commit: str
    environment: Environment
    created: list[GitStack] = field(default_factory=list)
    updated: list[GitStack] = field(default_factory=list)
    unchanged: list[GitStack] = field(default_factory=list)
    missing: list[GitStack] = field(default_factory=list)  # declared before, not any more

    @property
    def declared(self) -> list[GitStack]:
        return [*self.created, *self.updated, *self.unchanged]

    @property
    def changed_ids(self) -> set[int]:
        return {stack.pk for stack in (*self.created, *self.updated)}

    def body(self) -> dict[str, Any]:
        def listed(stacks: list[GitStack]) -> list[dict[str, Any]]:
            return [{"id": s.pk, "stackName": s.name} for s in stacks]

        return {
            "file": self.file,
            "commit": self.commit,
            "environmentId": self.environment.pk,
            "created": listed(self.created),
            "updated": listed(self.updated),
            "unchanged": listed(self.unchanged),
            "missing": listed(self.missing),
        }


def discovery_environment(repository: Repository, file: str) -> Environment:
    """Where a discovery without an environment puts the stacks: where this file's
    stacks are, else where the repository's stacks are (when that is one place), else
    `local`."""
    from_file = GitStack.objects.filter(repository=repository, config_file=file)
    for stacks in (from_file, GitStack.objects.filter(repository=repository)):
        ids = set(stacks.values_list("environment_id", flat=True))
        if len(ids) == 1:
            return Environment.objects.get(pk=ids.pop())
    return local_environment()


def _entries(text: str, file: str) -> list[dict[str, Any]]:
    """The stacks the file declares, each with only known fields of the right shape."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1}: {getattr(exc, 'problem', '')})" if where is not None else ""
        raise ConfigInvalid(f"{file}: not valid YAML{line}") from None
    if not isinstance(data, dict) or set(data) - {"stacks"}:
        raise ConfigInvalid(f"{file}: must be a mapping with one key, `stacks` (a list of stacks)")
    stacks = data.get("stacks")
    if not isinstance(stacks, list) or not stacks:
        raise ConfigInvalid(f"{file}: stacks: must be a non-empty list")
    if len(stacks) > 100:
        raise ConfigInvalid(f"{file}: stacks: at most 100 stacks")
    names: set[str] = set()
    for index, entry in enumerate(stacks):
        where = f"{file}: stacks[{index}]"
        if not isinstance(entry, dict):
            raise ConfigInvalid(f"{where}: must be a mapping (name, composePath, …)")
        unknown = sorted(str(key) for key in entry if key not in _FIELDS)
        if unknown:
            raise ConfigInvalid(f"{where}.{unknown[0]}: unknown field (known: {', '.join(_FIELDS)})")
        if not isinstance(entry.get("name"), str) or not entry["name"].strip():
            raise ConfigInvalid(f"{where}.name: is required (a string)")
        if entry["name"] in names:
            raise ConfigInvalid(f"{where}.name: {entry['name']!r} is declared twice")
        names.add(entry["name"])
    return stacks


def _first_error(errors: Any) -> tuple[str, str]:
    """The first field and message of a serializer's errors (lists: `profiles[1]`)."""
    name, value = next(iter(errors.items()))
    while isinstance(value, (dict, list)):
        if isinstance(value, dict):
            key, value = next(iter(value.items()))
            name = f"{name}[{key}]"
        else:
            value = value[0]
    return name, str(value)


def stack_fields(
    data: dict[str, Any], existing: GitStack | None, *, where: str, names: dict[str, str]
) -> dict[str, Any]:
    """The model fields of a stack given in the stack API's words (`data`), checked by
    the API's own serializer (a create, or a partial edit of `existing`); ConfigInvalid
    naming `where` and the field, called by `names` (API name to the caller's)."""
    serializer = GitStackSerializer(existing, data=data, partial=existing is not None)
    if not serializer.is_valid():
        name, message = _first_error(serializer.errors)
        raise ConfigInvalid(f"{where}.{names.get(name, name)}: {message}")
    return serializer.model_fields()


@dataclass(frozen=True)
class _Checked:
    entry: dict[str, Any]
    existing: GitStack | None
    fields: dict[str, Any]


def _check(
    entry: dict[str, Any], where: str, *, repository: Repository, environment: Environment, file: str, files: list[str]
) -> _Checked:
    """One stack of the file, validated as the stack API validates a create or edit."""
    existing = GitStack.objects.filter(environment=environment, name=entry["name"].strip()).first()
    if existing is not None and (existing.repository_id != repository.pk or existing.config_file != file):
        raise ConfigInvalid(
            f"{where}.name: a stack named {existing.name!r} already exists in {environment.name}"
            " and is not one this file declared"
        )
    given = {_FIELDS[key]: value for key, value in entry.items()}
    data = {**_DEFAULTS, **given, "environmentId": environment.pk, "repositoryId": repository.pk}
    fields = stack_fields(data, existing, where=where, names={api: key for key, api in _FIELDS.items()})
    for key, path in (("composePath", fields["compose_path"]), ("envFilePath", fields["env_file_path"])):
        if path and path not in files:
            raise ConfigInvalid(f"{where}.{key}: {path!r} is not in the branch")
    return _Checked(entry=entry, existing=existing, fields=fields)


def repository_discover(
    *, repository: Repository, environment: Environment | None = None, target: str = ""
) -> Discovery:
    """Create or update the stacks the repository's config file declares at the head of
    its branch, in `environment` (default: `discovery_environment`). ConfigMissing when
    the branch has no such file, ConfigInvalid naming the file and field (nothing is
    changed then), GitError when the remote cannot be read."""
    file = config_file_for(target)
    environment = environment or discovery_environment(repository, file)
    head = git.head_file(url=repository.url, branch=repository.branch, path=file, auth=git_auth(repository.credential))
    if head.text is None:
        raise ConfigMissing(f"{file}: not found at the head of {repository.branch}")
    entries = _entries(head.text, file)
    checked = [
        _check(
            entry,
            f"{file}: stacks[{index}]",
            repository=repository,
            environment=environment,
            file=file,
            files=head.files,
        )
        for index, entry in enumerate(entries)
    ]
    found = Discovery(file=file, commit=head.commit, environment=environment)
    with transaction.atomic():
        for item in checked:
            _apply(item, found, repository=repository, environment=environment, file=file)
        declared = [s.pk for s in found.declared]
        gone = GitStack.objects.filter(repository=repository, environment=environment, config_file=file)
        found.missing = list(gone.exclude(pk__in=declared))
        if not found.changed_ids:
            return found  # (every push discovers: one that changes nothing leaves no trace)
        record(
            "repository.discover",
            repository,
            f"file={file} commit={head.commit[:12]} environment={environment.name}"
            f" created={_names(found.created)} updated={_names(found.updated)} missing={_names(found.missing)}",
        )
    return found


def _names(stacks: list[GitStack]) -> str:
    return ",".join(s.name for s in stacks) or "none"


def _apply(item: _Checked, found: Discovery, *, repository: Repository, environment: Environment, file: str) -> None:
    if item.existing is None:
        # The repository's webhook deploys it: discovered stacks listen to it.
        fields = {**item.fields, "webhook_enabled": True, "config_file": file}
        found.created.append(stack_create(fields=fields))
        return
    stack = item.existing
    changes = {name: value for name, value in item.fields.items() if getattr(stack, name) != value}
    changes.pop("environment", None)
    changes.pop("repository", None)
    if not changes:
        found.unchanged.append(stack)
        return
    found.updated.append(stack_update(stack=stack, fields=changes))
