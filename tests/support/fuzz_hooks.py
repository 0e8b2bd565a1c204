"""schemathesis hooks for the fuzz's first pass (tests/support/fuzz.py), loaded with
SCHEMATHESIS_HOOKS=<this file>: the operations the main pass leaves out, each with a
caller of its own, and `{name}` kept to the compose projects this run made.

What to use comes in DOCKHAND_FUZZ_OWN_CALLERS (JSON, from `own_callers_pass` in fuzz.py).
"""

from __future__ import annotations

import json
import os
from typing import Any

import requests
import schemathesis

SETTINGS: dict[str, Any] = json.loads(os.environ.get("DOCKHAND_FUZZ_OWN_CALLERS", "{}"))
SESSIONS: dict[str, dict[str, Any]] = {}


def project_name(name: object) -> str:
    """A generated project name with this run's prefix in front unless it has it: the
    engine is the machine's, shared with the rest of the suite, and a name any project of
    it could carry would let a generated stop or delete reach another test's project.
    A name the API refuses stays one it refuses (the prefix is valid, what follows is not)."""
    prefix = str(SETTINGS["project"])
    text = str(name)
    return text if text.startswith(prefix) else prefix + text


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    """The seeded project, the target token and the seeded repository as examples, so the
    examples phase reaches the code past the lookups (a real adopt, stop, delete, revoke)."""
    for path, item in raw_schema.get("paths", {}).items():
        example = (
            SETTINGS["project"]
            if path.startswith("/api/projects/{name}")
            else SETTINGS["token_target"]
            if path == "/api/tokens/{id}"
            else None
        )
        if example is None:
            continue
        for operation in item.values():
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "path":
                    parameter["example"] = example
            if path == "/api/projects/{name}/adopt":
                body = operation["requestBody"]["content"]["application/json"]
                body["example"] = {"repositoryId": SETTINGS["repository"], "composePath": "compose.yaml"}


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    """Each operation with its own caller, and every `{name}` with the prefix: on every
    request, whatever phase or generation mode made it."""
    path = case.operation.path
    if "name" in case.path_parameters:
        case.path_parameters["name"] = project_name(case.path_parameters["name"])
    case.headers.pop("Authorization", None)
    case.cookies.pop("sessionid", None)
    case.cookies.pop("csrftoken", None)
    if path == "/api/tokens/{id}":
        # A throwaway token: revoking itself ends only this operation's reach.
        case.headers["Authorization"] = f"Bearer {SETTINGS['token']}"
        return
    # Cookie sessions of their own: logging one out cannot touch the other, nor a token.
    session = session_for("logout" if path == "/api/auth/logout" else "projects")
    case.cookies.update(session["cookies"])
    case.headers["X-CSRFToken"] = session["csrf"]


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """A session logged out is replaced by a new one, so that each later log-out the
    fuzzer makes meets a live session too, not only 401s."""
    if case.operation.path == "/api/auth/logout" and response.request.method == "POST" and response.status_code == 200:
        SESSIONS.pop("logout", None)


def session_for(caller: str) -> dict[str, Any]:
    """The admin cookie session of this caller (its cookies and the CSRF header to send
    with them), logged in when it has none."""
    if caller not in SESSIONS:
        answer = requests.post(
            f"{SETTINGS['url']}/api/auth/login",
            json={"username": "admin", "password": SETTINGS["password"]},
            timeout=30,
        )
        answer.raise_for_status()
        SESSIONS[caller] = {"cookies": answer.cookies.get_dict(), "csrf": answer.json()["csrfToken"]}
    return SESSIONS[caller]
