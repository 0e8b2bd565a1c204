"""ssh's command line for a run that uses only the key and host keys it is given, never
the user's or host's ssh config (shared by git over SSH and ssh:// Docker engines)."""

from __future__ import annotations

import os
from pathlib import Path

ASKPASS = """#!/bin/sh
# Written by dockhand: answers git's and ssh's prompts from the environment.
case "$1" in
  Username*) printf '%s\\n' "$DOCKHAND_GIT_USERNAME" ;;
  *) printf '%s\\n' "$DOCKHAND_GIT_SECRET" ;;
esac
"""


def write_askpass(tmp: Path) -> Path:
    """The prompt answerer (reads DOCKHAND_GIT_USERNAME / DOCKHAND_GIT_SECRET)."""
    askpass = tmp / "askpass"
    askpass.write_text(ASKPASS)
    askpass.chmod(0o700)
    return askpass


def ssh_options(tmp: Path, *, private_key: str, known_hosts: str, learned_hosts_file: Path | None) -> list[str]:
    """ssh's options; the key and known hosts are written into `tmp` (a private dir).

    Without known hosts, the first host key seen is kept in `learned_hosts_file` and
    insisted on afterwards; without either, only keys ssh already trusts pass.
    """
    ssh = ["-o", "PasswordAuthentication=no", "-o", "KbdInteractiveAuthentication=no", "-F", os.devnull]
    if private_key:
        key = tmp / "id"
        key.touch(mode=0o600)
        key.write_text(private_key.strip() + "\n")
        ssh += ["-i", str(key), "-o", "IdentitiesOnly=yes"]
    if known_hosts:
        hosts = tmp / "known_hosts"
        hosts.write_text(known_hosts.strip() + "\n")
        ssh += ["-o", f"UserKnownHostsFile={hosts}", "-o", "StrictHostKeyChecking=yes"]
    elif learned_hosts_file is not None:
        learned_hosts_file.parent.mkdir(parents=True, exist_ok=True)
        ssh += ["-o", f"UserKnownHostsFile={learned_hosts_file}", "-o", "StrictHostKeyChecking=accept-new"]
    else:
        ssh += ["-o", "StrictHostKeyChecking=yes"]
    return ssh
