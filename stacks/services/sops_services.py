"""SOPS-encrypted env files named by a service's own `env_file:`, decrypted for compose.

Compose would hand the container such a file as it is (ciphertext and `sops_*` keys),
and the decrypted text may not be written into the working copy. So the deploy adds a
generated compose file after the stack's own (0600, in the run directory, removed when
compose ends) that, for each such service, drops the encrypted files from its
`env_file` list (`!override`) and gives their decrypted variables as `environment`
entries, except where the service's own `environment` sets the key, which wins over
any `env_file` in compose too. `$` is doubled: compose interpolates `environment`, not
env files.

What this cannot see (an `env_file` in an `include`d or `extends`ed file) is still
refused by `secret_inputs.refuse_encrypted_env_files`, naming the service.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from stacks import sops
from stacks.services.compose_checks import load_yaml


def service_env_files(files: Iterable[Path], project_dir: Path) -> dict[str, list[tuple[Path, Any]]]:
    """Per service, the `env_file` entries of the stack's compose files in order: the
    file each names (relative to the project directory, as compose reads it) and the
    entry as written."""
    found: dict[str, list[tuple[Path, Any]]] = {}
    for file in files:
        document = load_yaml(file, file.name)
        services = document.get("services") if isinstance(document, dict) else None
        for name, service in (services or {}).items() if isinstance(services, dict) else ():
            entries = service.get("env_file") if isinstance(service, dict) else None
            for entry in entries if isinstance(entries, list) else [entries] if entries else []:
                path = entry.get("path") if isinstance(entry, dict) else entry
                if isinstance(path, str):
                    found.setdefault(str(name), []).append((project_dir / path, entry))
    return found


def own_environment_keys(files: Iterable[Path], service: str) -> set[str]:
    """The keys a service's own `environment` sets, in any of the files."""
    keys: set[str] = set()
    for file in files:
        document = load_yaml(file, file.name)
        services = document.get("services") if isinstance(document, dict) else None
        entry = services.get(service) if isinstance(services, dict) else None
        environment = entry.get("environment") if isinstance(entry, dict) else None
        if isinstance(environment, dict):
            keys |= {str(k) for k in environment}
        elif isinstance(environment, list):
            keys |= {str(item).split("=", 1)[0] for item in environment}
    return keys


def override_text(services: Mapping[str, tuple[list[Any], dict[str, str]]]) -> str:
    """The generated compose file: per service, the env_file entries it keeps and the
    decrypted variables. JSON strings are YAML double-quoted scalars; the `!override`
    and `!reset` tags are compose's own merge rules."""
    lines = ["services:"]
    for name, (kept, variables) in sorted(services.items()):
        lines.append(f"  {json.dumps(name)}:")
        if kept:
            lines.append(f"    env_file: !override {json.dumps(kept)}")
        else:
            lines.append("    env_file: !reset null")
        if variables:
            lines.append("    environment:")
            for key, value in sorted(variables.items()):
                lines.append(f"      {json.dumps(key)}: {json.dumps(value.replace('$', '$$'))}")
    return "\n".join(lines) + "\n"


def decrypted_variables(text: str, shadowed: set[str]) -> dict[str, str]:
    """The variables of a decrypted env file that reach the container (not the ones the
    service's own `environment` sets)."""
    return {k: v for k, v in sops.dotenv_values(text).items() if k not in shadowed and not k.startswith("sops_")}
