"""What the stack form posts, in the API's shape (the API's serializers validate it), and
what the remote says about the repository, branch and paths it names."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from django.http import QueryDict
from rest_framework.exceptions import ValidationError

from dockhand.forms import checkbox, flatten_errors, lines, optional_id
from gitsync.api.serializers import CredentialSerializer
from gitsync.models import Credential
from stacks.api.serializers import GitStackSerializer, source_of
from stacks.models import Environment
from stacks.services.source import SourceReport, StackSource, stack_source_check
from stacks.services.stacks import local_environment

DEPLOY_FLAGS = [
    ("buildOnDeploy", "Build images on deploy"),
    ("noBuildCache", "Build without cache"),
    ("forceRecreate", "Recreate containers every deploy"),
    ("autoRollback", "Roll back automatically when a deploy fails"),
    ("autoUpdateImages", "Deploy newer images of its tags on the schedule"),
]
# The fields that say where a stack's files come from: what the remote is asked about.
SOURCE_FIELDS = (
    "url",
    "repositoryId",
    "credentialId",
    "branch",
    "composePath",
    "envFilePath",
    "additionalComposeFiles",
)


def notify_data(post: QueryDict) -> dict[str, Any]:
    """The notification fields of the stack and environment forms. The URLs are secrets
    and never shown back, so an empty box keeps the ones set."""
    data: dict[str, Any] = {"notifyEvents": post.getlist("notifyEvents")}
    if checkbox(post, "clearNotifyUrls"):
        data["notifyUrls"] = []
    elif lines(post, "notifyUrls"):
        data["notifyUrls"] = lines(post, "notifyUrls")
    return data


def stack_data(post: QueryDict, *, creating: bool) -> dict[str, Any]:
    """API-shaped data from the stack form."""
    data: dict[str, Any] = {
        "stackName": post.get("stackName", ""),
        "composePath": post.get("composePath", ""),
        "envFilePath": post.get("envFilePath", ""),
        "sopsCredentialId": optional_id(post, "sopsCredentialId"),
        "autoUpdate": checkbox(post, "autoUpdate"),
        "autoUpdateCron": post.get("autoUpdateCron", ""),
        "webhookEnabled": checkbox(post, "webhookEnabled"),
        "watchPaths": lines(post, "watchPaths"),
        "additionalComposeFiles": lines(post, "additionalComposeFiles"),
        "profiles": lines(post, "profiles"),
        "pullPolicy": post.get("pullPolicy", "missing"),
        "pushTo": post.get("pushTo", "").strip(),
        "composeTimeout": post.get("composeTimeout", "").strip() or None,
        "healthTimeout": post.get("healthTimeout", "").strip() or "0",
        **{name: checkbox(post, name) for name, _ in DEPLOY_FLAGS},
        **notify_data(post),
    }
    if post.get("environmentId"):
        data["environmentId"] = optional_id(post, "environmentId")
    project = (post.get("projectName") or "").strip()
    if project:
        data["projectName"] = project
    branch = (post.get("branch") or "").strip()
    if branch:
        data["branch"] = branch
    repository = post.get("repositoryId", "")
    if repository not in ("", "new"):
        data["repositoryId"] = optional_id(post, "repositoryId")
    elif creating or repository == "new":
        data["url"] = post.get("url", "").strip()
        credential = post.get("credentialId", "")
        data["credentialId"] = None if credential in ("", "new") else optional_id(post, "credentialId")
    return data


def override_rows(post: QueryDict) -> list[dict[str, Any]]:
    """The overrides editor's rows (key/value/secret/remove, tied by `row`) in the API's
    shape; an empty secret means "keep the stored value" (it is never sent to the page)."""
    rows = []
    for key, value, index in zip(post.getlist("key"), post.getlist("value"), post.getlist("row"), strict=False):
        if not key.strip() or index in post.getlist("remove"):
            continue
        if value.strip().startswith(REF_PREFIX):  # a reference: the store holds the value
            rows.append({"key": key.strip(), "secretRef": value.strip(), "isSecret": True})
            continue
        secret = index in post.getlist("secret")
        rows.append({"key": key.strip(), "value": None if secret and value == "" else value, "isSecret": secret})
    return rows


REF_PREFIX = "vault://"  # a value typed so in the overrides editors is a store reference


def inline_field(name: str) -> str:
    """Where the page shows an error of the inline credential: its scope comes from the
    stack's URL, so a scope error is the URL's."""
    return "url" if name in ("urlPrefixes", "allowPlainHttp") else f"newCredential.{name}"


def new_credential(post: QueryDict) -> CredentialSerializer | None:
    """The credential typed into the stack form ("New credential…"), not yet validated."""
    if post.get("repositoryId") not in ("", "new") or post.get("credentialId") != "new":
        return None
    auth_type = post.get("newCredentialType", "token")
    secret_field = {"password": "password", "token": "token", "ssh": "sshPrivateKey"}.get(auth_type)
    data = {
        "name": post.get("newCredentialName", ""),
        "authType": auth_type,
        "username": post.get("newCredentialUsername", ""),
        # Made for this stack: sent only to its repository, used only in its environment.
        "urlPrefixes": [post.get("url", "").strip()],
        "environmentIds": [optional_id(post, "environmentId") or local_environment().pk],
    }
    if secret_field:
        data[secret_field] = post.get("newCredentialSecret", "")
    return CredentialSerializer(data=data)


def typed_source(stack: GitStackSerializer, data: dict[str, Any]) -> tuple[StackSource | None, dict[str, str]]:
    """The source named by the fields typed so far (the stack's name and the rest may
    still be empty: the fields alone are validated), and their errors. A malformed
    branch or path is said as such while the remote is still asked about the rest."""
    if not (data.get("url") or data.get("repositoryId")):
        return None, {}  # nothing to ask before a URL is typed
    errors: dict[str, str] = {}
    try:
        attrs = stack.to_internal_value(data)
    except ValidationError as exc:
        errors = flatten_errors(exc.detail)
        rest = {k: v for k, v in data.items() if k not in errors or k in ("url", "repositoryId", "credentialId")}
        try:
            attrs = stack.to_internal_value(rest)
        except ValidationError:
            return None, errors  # the repository itself is wrong
    return source_of(attrs, stack.instance, changed_only=False), errors


def source_report(
    source: StackSource | None, credential: CredentialSerializer | None, environment: Environment | None
) -> SourceReport | None:
    """What the remote says about a stack form's repository, branch and paths, with the
    inline credential (validated, not saved: nothing is kept when the form is refused).
    None when there is nothing to ask (an edit that leaves them alone)."""
    if source is None:
        return None
    if credential is not None:
        source = dataclasses.replace(source, credential=Credential(**credential.validated_data))
    return stack_source_check(source=source, environment=environment or local_environment())


# Names offered under a field as buttons (the rest are in its datalist, up to OPTIONS).
CHOICES, OPTIONS = 20, 200


@dataclass(frozen=True)
class Feedback:
    """What the stack form shows under one source field: what is wrong, what the remote
    confirmed, and the names it has there to pick from."""

    field: str
    message: str = ""
    ok: str = ""
    note: str = ""
    label: str = ""
    current: str = ""  # the choice the field holds now
    choices: tuple[str, ...] = ()
    more: int = 0
    options: tuple[str, ...] = ()


def source_feedback(
    report: SourceReport | None, errors: dict[str, str], values: dict[str, Any], *, note: str = ""
) -> dict[str, Feedback]:
    """Feedback for every source field, from the form's `errors` and `values` and what
    the remote said (`report`, None before it was asked); `note` goes under the repository."""
    problems = {**(report.problems if report else {}), **{k: v for k, v in errors.items() if k in SOURCE_FIELDS}}
    shown = {field: Feedback(field, message=problems.get(field, "")) for field in SOURCE_FIELDS}
    url_field = report.url_field if report else "url"
    shown[url_field] = dataclasses.replace(shown[url_field], note=note)
    if report is None or not report.answered:
        return shown
    count = len(report.branches)
    if url_field not in problems:
        default = f", default {report.default_branch}" if report.default_branch else ""
        answered = f"The remote answered: {count} branch{'' if count == 1 else 'es'}{default}"
        shown[url_field] = dataclasses.replace(shown[url_field], ok=answered)
    branch = report.branch
    label = "Pick a branch:" if "branch" in problems else "Branches:"
    shown["branch"] = _offered(shown["branch"], report.branches, label, current=branch)
    if report.head and "branch" not in problems:
        shown["branch"] = dataclasses.replace(shown["branch"], ok=f"{branch} is at {report.head[:12]}")
    if report.note:
        shown["composePath"] = dataclasses.replace(shown["composePath"], note=report.note)
    if not report.listed:
        return shown
    compose_path = str(values.get("composePath", "")).strip()
    compose = _offered(shown["composePath"], report.compose_files, f"Compose files on {branch}:", current=compose_path)
    shown["composePath"] = compose if compose.message else dataclasses.replace(compose, ok=f"Found on {branch}")
    env_path = str(values.get("envFilePath", "")).strip()
    shown["envFilePath"] = _offered(shown["envFilePath"], report.env_files, f"Env files on {branch}:", current=env_path)
    return shown


def _offered(feedback: Feedback, names: tuple[str, ...], label: str, *, current: str) -> Feedback:
    return dataclasses.replace(
        feedback,
        label=label if names else "",
        current=current,
        choices=names[:CHOICES],
        more=max(0, len(names) - CHOICES),
        options=names[:OPTIONS],
    )
