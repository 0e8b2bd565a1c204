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
from typing import Any, Protocol

from django.conf import settings

from dockhand.crypto import fingerprint

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
    items = stack.env_vars.all() if overrides is None else overrides
    environment: _Environment = stack.environment
    return {
        "overrides": {
            v.key: {"secret": True, "fingerprint": fingerprint(v.value or "")}
            if v.is_secret
            else {"secret": False, "value": v.value or ""}
            for v in sorted(items, key=lambda v: v.key)
        },
        "options": {name: _plain(getattr(stack, field)) for name, field in OPTIONS.items()},
        "engine": {"host": environment.docker_host or settings.DEFAULT_DOCKER_HOST, "swarm": environment.swarm},
    }


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, list | tuple) else value


def revision(commit: str, config: Config) -> str:
    """The revision id: a hash of the commit and the config, stable across processes."""
    text = json.dumps({"commit": commit, "config": config}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def changes(applied: Config | None, desired: Config) -> list[str]:
    """What differs between the config last applied and the desired one, in words:
    `override GREETING changed`, `secret TOKEN changed`, `option profiles changed`…
    Values are never named: a plain override's value is the user's, but a reason is
    shown to everyone who may see the stack."""
    if not applied:
        return []
    reasons = []
    before, after = applied.get("overrides", {}), desired["overrides"]
    for key in sorted(set(before) | set(after)):
        old, new = before.get(key), after.get(key)
        kind = "secret" if (new or old or {}).get("secret") else "override"
        if old is None:
            reasons.append(f"{kind} {key} added")
        elif new is None:
            reasons.append(f"{kind} {key} removed")
        elif old != new:
            reasons.append(f"{kind} {key} changed")
    for name in OPTIONS:
        if applied.get("options", {}).get(name) != desired["options"][name]:
            reasons.append(f"option {name} changed")
    if applied.get("engine") != desired["engine"]:
        reasons.append("the environment's engine changed")
    return reasons
