"""compose.yaml as the README's "Run it with Docker" describes it: every setting of the
README's table reaches the container, published on this host's loopback by default, and
restarted unless stopped. No engine: compose reads the file only."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import yaml

from stacks.compose import compose_command

ROOT = Path(__file__).resolve().parent.parent
# Settings the container gets from the image, never from the user's shell: the product
# listens on 8000 behind the published port (DOCKHAND_PORT, DOCKHAND_LISTEN), and its
# engine is the mounted socket (a DOCKER_HOST meant for the host's CLI would point it away).
SET_BY_THE_IMAGE = {"DOCKHAND_BIND", "DOCKER_HOST"}


def readme_settings() -> set[str]:
    """The variables of the README's settings table; `A_B_C` / `_D_E` names `A_D_E`."""
    section = (ROOT / "README.md").read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for row in section.splitlines():
        if not row.startswith("| `"):
            continue
        first, *others = re.findall(r"`([A-Z_]+)`", row.split("|")[1])
        names.add(first)
        for other in others:
            # A suffix replaces as many of the first name's last words as it has.
            names.add(other if not other.startswith("_") else "_".join(first.split("_")[: -other.count("_")]) + other)
    return names


def compose_environment() -> set[str]:
    """The names compose.yaml's service passes to the container (`NAME` or `NAME=…`)."""
    service = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]["dockhand"]
    return {entry.split("=", 1)[0] for entry in service["environment"]}


def test_every_setting_of_the_readme_reaches_the_container() -> None:
    settings = readme_settings()
    # The table was read, suffixed rows too.
    assert {"DOCKHAND_DATA_DIR", "DOCKHAND_RATELIMIT_BAD_TOKENS", "DOCKHAND_RATELIMIT_WEBHOOK_FAILURES"} <= settings
    missing = settings - SET_BY_THE_IMAGE - compose_environment()
    assert not missing, f"compose.yaml does not pass {sorted(missing)} through (README: every other setting is)"


def composed(**env: str) -> dict[str, Any]:
    """compose.yaml as compose reads it, with only `env` set (no .env file, none of the
    caller's DOCKHAND_ variables)."""
    clean = {name: value for name, value in os.environ.items() if not name.startswith(("DOCKHAND_", "COMPOSE_"))}
    result = subprocess.run(
        [*compose_command(), "-f", str(ROOT / "compose.yaml"), "--env-file", os.devnull, "config", "--format", "json"],
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def test_it_listens_on_loopback_and_restarts_unless_stopped_by_default() -> None:
    service = composed()["services"]["dockhand"]
    assert [(p["host_ip"], str(p["published"]), p["target"]) for p in service["ports"]] == [("127.0.0.1", "8000", 8000)]
    assert service["restart"] == "unless-stopped"
    # The data directory at the same path inside and outside.
    assert [(v["source"], v["target"]) for v in service["volumes"] if v["target"] == "/opt/dockhand"] == [
        ("/opt/dockhand", "/opt/dockhand")
    ]
    # What the README says moves them.
    moved = composed(DOCKHAND_LISTEN="0.0.0.0", DOCKHAND_PORT="9000")["services"]["dockhand"]
    assert [(p["host_ip"], str(p["published"])) for p in moved["ports"]] == [("0.0.0.0", "9000")]
