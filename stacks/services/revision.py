"""The desired-state revision of a stack (spec §4): the commit plus everything else
that decides what runs — the overrides (secrets only as keyed HMACs), every compose
option and the engine. A sync deploys when the desired revision differs from the one
last applied; `changes` says why, in words a person reads.

Read from the database alone: finding that nothing changed costs no checkout and no
compose run. What the repository's own files say is covered by the commit.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings

from dockhand.crypto import fingerprint
from stacks.services import secret_inputs
from stacks.services.images import image_changes, images_config

# Compose options, by the name the API gives them (the reasons use it).
OPTIONS = {
    "composePath": "compose_path",
    "envFilePath": "env_file_path",
    "additionalComposeFiles": "additional_compose_files",
    "profiles": "profiles",
    "projectName": "project_name",
    "pullPolicy": "pull_policy",
    "buildOnDeploy": "build_on_deploy",
    "noBuildCache": "no_build_cache",
    "forceRecreate": "force_recreate",
    # Compose gets GIT_BRANCH and GIT_REPO too: another branch at the same commit runs differently.
    "branch": "branch",
    "repositoryId": "repository_id",
}

Config = dict[str, Any]


class _Override(Protocol):
    key: str
    value: str
    is_secret: bool


class _Environment(Protocol):
    docker_host: str
    swarm: bool


def stack_config(stack: Any, overrides: Iterable[_Override] | None = None) -> Config:
    """Everything but the commit that decides what runs for `stack`, as stored on its
    deployments: JSON, secret values replaced by their keyed fingerprints.

    `overrides` defaults to the stack's own (prefetched ones are used as they are). The
    first migration of revisions calls this with historical models too.
    """
    items = list(stack.env_vars.all() if overrides is None else overrides)
    environment: _Environment = stack.environment
    return {
        "overrides": {v.key: _override(v) for v in sorted(items, key=lambda v: v.key)},
        "options": {name: _plain(getattr(stack, field)) for name, field in OPTIONS.items()},
        "engine": {"host": environment.docker_host or settings.DEFAULT_DOCKER_HOST, "swarm": environment.swarm},
        **secret_inputs.config_part(stack, items),
        **images_config(stack),
    }


def _override(v: _Override) -> dict[str, Any]:
    ref = getattr(v, "secret_ref", "")  # (a historical model of the first migration has none)
    if ref:  # the value lives in a store: the reference here, its HMAC under secretInputs
        return {"secret": True, "ref": ref}
    if v.is_secret:
        return {"secret": True, "fingerprint": fingerprint(v.value or "")}
    return {"secret": False, "value": v.value or ""}


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def revision(commit: str, config: Config) -> str:
    """The revision id: a hash of the commit and the config, stable across processes."""
    text = json.dumps({"commit": commit, "config": config}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class ConfigDiff:
    """Between an applied and a desired config: override keys (secrets named, never
    shown), and options and engine as (name, before, after)."""

    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)  # which of those keys are secrets
    options: list[tuple[str, Any, Any]] = field(default_factory=list)
    secret_inputs: list[str] = field(default_factory=list)  # store values / decrypted files changed


def config_diff(applied: Config | None, desired: Config) -> ConfigDiff:
    """What differs between the config last applied and the desired one (nothing when
    none was applied yet: then everything is new, and the commit says so)."""
    if not applied:
        return ConfigDiff()
    diff = ConfigDiff(secret_inputs=secret_inputs.changed_keys(applied, desired))
    before, after = applied.get("overrides", {}), desired["overrides"]
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        if (new or old or {}).get("secret"):
            diff.secrets.add(key)
        if old is None:
            diff.added.append(key)
        elif new is None:
            diff.removed.append(key)
        elif old != new:
            diff.changed.append(key)
    for name in OPTIONS:
        was, now = applied.get("options", {}).get(name), desired["options"][name]
        if was != now:
            diff.options.append((name, was, now))
    if applied.get("engine") != desired["engine"]:
        diff.options.append(("engine", (applied.get("engine") or {}).get("host"), desired["engine"]["host"]))
    return diff


def changes(applied: Config | None, desired: Config) -> list[str]:
    """The config diff in words: `override GREETING changed`, `secret TOKEN changed`,
    `option profiles changed`… Values are never named: a reason is shown to everyone
    who may see the stack."""
    diff = config_diff(applied, desired)
    reasons = []
    for verb, keys in (("added", diff.added), ("changed", diff.changed), ("removed", diff.removed)):
        reasons += [(key, f"{'secret' if key in diff.secrets else 'override'} {key} {verb}") for key in keys]
    words = [reason for _, reason in sorted(reasons)]
    for name, _, _ in diff.options:
        words.append("the environment's engine changed" if name == "engine" else f"option {name} changed")
    return words + secret_inputs.changed_words(applied, desired) + image_changes(applied, desired)
