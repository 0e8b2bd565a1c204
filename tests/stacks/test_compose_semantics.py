"""Compose semantics are those of `docker compose -f <composePath>` run by hand in a clone
(spec §4 item 6), with the compose binary itself as the oracle.

For each layout, the model dockhand resolves for a deploy (`stack_model`, the deploy's
own path) must equal what `docker compose -p … -f … config` prints when a user runs it in
a plain clone of the same commit, with the overrides and git metadata exported in the
shell as they would export them. Only `config` runs: no engine, no containers.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from gitsync import git
from gitsync.services.auth import git_auth
from stacks.models import GitStack
from stacks.services.deploy import stack_model
from tests.conftest import SECRET_VALUE, need
from tests.support.gitserver import git as run_git

pytestmark = pytest.mark.django_db

# Every service shows the variables each layer may set; `unset` marks one nobody set.
VARIABLES = ("GREETING", "ROOT_ONLY", "EXTRA", "FROM_FILE", "PLAIN", "SECRET", "GIT_BRANCH", "GIT_COMMIT_SHA")


def _service(name: str, extra: str = "") -> str:
    env = "".join(f"      {key}: ${{{key}:-unset}}\n" for key in VARIABLES)
    return f"  {name}:\n    image: dockhand-test/busybox:1\n    pull_policy: never\n    environment:\n{env}{extra}"


WEB = "services:\n" + _service("app", "    volumes: [./data:/data]\n    build: {context: ., dockerfile: Dockerfile}\n")
OVERRIDES = [
    {"key": "PLAIN", "value": "plain-override", "isSecret": False},
    {"key": "SECRET", "value": SECRET_VALUE, "isSecret": True},
]


@dataclass(frozen=True)
class Layout:
    """A repository, the stack options that deploy it, and a few values the oracle
    must show (so that two equally empty models cannot pass)."""

    files: dict[str, str]
    options: dict[str, Any] = field(default_factory=dict)
    expect: dict[str, dict[str, str]] = field(default_factory=dict)  # service -> variable -> value
    services: tuple[str, ...] = ("app",)
    links: dict[str, str] = field(default_factory=dict)  # path -> symlink target


LAYOUTS = {
    "root": Layout(
        files={"compose.yaml": WEB, ".env": "GREETING=root\nPLAIN=dotenv\n"},
        options={"composePath": "compose.yaml"},
        expect={"app": {"GREETING": "root", "PLAIN": "plain-override"}},
    ),
    "subfolder": Layout(
        files={"apps/web/compose.yaml": WEB, "apps/web/.env": "GREETING=web\nSECRET=dotenv\n"},
        expect={"app": {"GREETING": "web", "SECRET": SECRET_VALUE}},
    ),
    "no-dotenv": Layout(files={"apps/web/compose.yaml": WEB}, expect={"app": {"GREETING": "unset"}}),
    "dotenv-at-both-levels": Layout(
        files={
            "apps/web/compose.yaml": WEB,
            "apps/web/.env": "GREETING=web\n",
            ".env": "GREETING=root\nROOT_ONLY=root\n",
        },
        expect={"app": {"GREETING": "web", "ROOT_ONLY": "unset"}},
    ),
    "dotenv-linked-inside": Layout(
        files={"apps/web/compose.yaml": WEB, "config/common.env": "GREETING=linked\n"},
        links={"apps/web/.env": "../../config/common.env"},
        expect={"app": {"GREETING": "linked"}},
    ),
    "dotenv-is-a-folder": Layout(
        files={"apps/web/compose.yaml": WEB, "apps/web/.env/README": "not a dotenv\n"},
        expect={"app": {"GREETING": "unset"}},
    ),
    "service-env_file": Layout(
        files={
            "apps/web/compose.yaml": WEB.replace("    volumes:", "    env_file: [app.env]\n    volumes:"),
            "apps/web/app.env": "SERVICE_ONLY=service\nFROM_DOTENV=${GREETING}\n",
            "apps/web/.env": "GREETING=web\n",
        },
        expect={"app": {"SERVICE_ONLY": "service", "FROM_DOTENV": "web", "GREETING": "web"}},
    ),
    "include": Layout(
        files={
            "apps/web/compose.yaml": "include:\n  - ../../shared/side.yaml\n" + WEB,
            "apps/web/.env": "GREETING=web\n",
            # The included project reads its own .env too, under the including one's.
            "shared/side.yaml": "services:\n" + _service("side", "    volumes: [./side-data:/data]\n"),
            "shared/.env": "GREETING=shared\nEXTRA=shared\n",
        },
        expect={"side": {"GREETING": "web", "EXTRA": "shared"}},
        services=("app", "side"),
    ),
    "additional-compose-file": Layout(
        files={
            "apps/web/compose.yaml": WEB,
            "apps/web/.env": "GREETING=web\nEXTRA=web\n",
            # Relative paths of a second -f file resolve against the project folder.
            "deploy/prod.yaml": "services:\n  app:\n    volumes: [./prod-data:/prod]\n    labels: ['tier=${EXTRA}']\n",
            "deploy/.env": "EXTRA=deploy\n",
        },
        options={"additionalComposeFiles": ["deploy/prod.yaml"]},
        expect={"app": {"EXTRA": "web"}},
    ),
    "profiles": Layout(
        files={
            "apps/web/compose.yaml": WEB + _service("debug", "    profiles: [debug]\n"),
            "apps/web/.env": "GREETING=web\n",
        },
        options={"profiles": ["debug"]},
        expect={"debug": {"GREETING": "web"}},
        services=("app", "debug"),
    ),
    "profiles-from-dotenv": Layout(
        files={
            "apps/web/compose.yaml": WEB + _service("debug", "    profiles: [debug]\n"),
            "apps/web/.env": "COMPOSE_PROFILES=debug\n",
        },
        services=("app", "debug"),
    ),
    "env-file-overrides-and-metadata": Layout(
        files={
            "apps/web/compose.yaml": WEB,
            "apps/web/.env": "GREETING=web\nFROM_FILE=dotenv\nPLAIN=dotenv\nGIT_BRANCH=dotenv\n",
            "config/prod.env": "FROM_FILE=env-file\nPLAIN=env-file\nSECRET=env-file\nGIT_BRANCH=env-file\n",
        },
        options={
            "envFilePath": "config/prod.env",
            "envVars": [*OVERRIDES, {"key": "GIT_BRANCH", "value": "plain-override", "isSecret": False}],
        },
        expect={
            "app": {
                "GREETING": "web",
                "FROM_FILE": "env-file",
                "PLAIN": "plain-override",
                "SECRET": SECRET_VALUE,
                "GIT_BRANCH": "main",
            }
        },
    ),
}


def _by_hand(clone: Path, stack: GitStack, exported: dict[str, str]) -> dict[str, Any]:
    """`docker compose config` as a user runs it in the clone's root, variables exported."""
    files = [stack.compose_path, *stack.additional_compose_files]
    cmd = ["docker", "compose", "-p", stack.project_name, *(a for f in files for a in ("-f", f))]
    cmd += [a for p in stack.profiles for a in ("--profile", p)]
    shell = {k: os.environ[k] for k in ("PATH", "HOME", "DOCKER_CONFIG") if k in os.environ}
    done = subprocess.run(
        [*cmd, "config", "--format", "json"],
        cwd=clone,
        env={**shell, **exported},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    model: dict[str, Any] = json.loads(done.stdout)
    return model


def _dotenv(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _rooted(value: Any, root: Path) -> Any:
    """`value` with the checkout's absolute path replaced by a placeholder."""
    if isinstance(value, dict):
        return {k: _rooted(v, root) for k, v in value.items()}
    if isinstance(value, list):
        return [_rooted(v, root) for v in value]
    if isinstance(value, str) and (value == str(root) or value.startswith(f"{root}/")):
        return "<checkout>" + value[len(str(root)) :]
    return value


@pytest.mark.parametrize("name", LAYOUTS)
def test_dockhand_resolves_the_project_as_compose_run_by_hand_in_a_clone(
    name: str, git_server: Any, make_stack: Any, tmp_path: Path
) -> None:
    need("docker compose", subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0)
    layout = LAYOUTS[name]
    repo = git_server.create_repo(f"oracle-{name}-{uuid.uuid4().hex[:6]}", layout.files)
    for path, target in layout.links.items():
        os.symlink(target, repo.work / path)
    if layout.links:
        repo.commit({}, "links")
    options = {"composePath": "apps/web/compose.yaml", "envFilePath": "", "envVars": OVERRIDES, **layout.options}
    stack = GitStack.objects.get(pk=make_stack(repo, **options)["id"])

    # Dockhand: its own checkout, as a sync makes it, and the deploy's resolution.
    workdir = settings.STACKS_DIR / str(stack.pk) / "repo"
    commit = git.checkout(workdir=workdir, url=repo.url, branch=repo.branch, auth=git_auth(stack.repository.credential))
    metadata = {
        "GIT_REPO": repo.url,
        "GIT_BRANCH": repo.branch,
        "GIT_COMMIT_SHA": commit.sha,
        "GIT_COMMIT_MESSAGE": commit.message,
        "GIT_COMMIT_AUTHOR": commit.author,
    }
    ours = stack_model(stack=stack, workdir=workdir, metadata=metadata, run_id=f"oracle-{uuid.uuid4().hex}")

    # By hand: a plain clone of the same commit, the layers exported lowest first.
    clone = tmp_path / "clone"
    run_git("clone", "-q", str(repo.work), str(clone), cwd=tmp_path)
    run_git("checkout", "-q", "--detach", commit.sha, cwd=clone)
    plain = {v.key: v.value for v in stack.env_vars.filter(is_secret=False)}
    secret = {v.key: v.value for v in stack.env_vars.filter(is_secret=True)}
    env_file = _dotenv(layout.files[stack.env_file_path]) if stack.env_file_path else {}
    exported = {**env_file, **plain, **metadata, **secret}
    theirs = _by_hand(clone, stack, exported)

    assert _rooted(ours, workdir.resolve()) == _rooted(theirs, clone.resolve())
    assert sorted(theirs["services"]) == sorted(layout.services)
    for service, values in layout.expect.items():
        shown = theirs["services"][service]["environment"]
        assert {key: shown[key] for key in values} == values
