"""The environment pages (list, edit, delete), over the same services and serializer
as the API; a user sees the environments they are a member of."""

from __future__ import annotations

from typing import Any

from django.http import QueryDict

from dockhand.forms import checkbox
from dockhand.pages import Resource
from gitsync.models import Credential
from stacks.api.environment_serializers import EnvironmentSerializer
from stacks.forms import notify_data
from stacks.models import Environment, NotifyEvent
from stacks.services.access import admin_environment_ids, visible_environments
from stacks.services.environments import environment_delete, environment_save


def _environment_data(post: QueryDict) -> dict[str, Any]:
    return {
        "name": post.get("name", "").strip(),
        "dockerHost": post.get("dockerHost", "").strip(),
        "policy": post.get("policy", "privileged"),
        "hostPaths": [line.strip() for line in post.get("hostPaths", "").splitlines() if line.strip()],
        "protection": post.get("protection", "none"),
        "approvalRequired": checkbox(post, "approvalRequired"),
        "swarm": checkbox(post, "swarm"),
        "sshCredentialId": post.get("sshCredentialId") or None,
        **notify_data(post),
        # Write-only like every secret: empty boxes keep what is set.
        **{f"tls{k}": post[f"tls{k}"] for k in ("Ca", "Cert", "Key") if post.get(f"tls{k}", "").strip()},
        **({"tlsCa": "", "tlsCert": "", "tlsKey": ""} if checkbox(post, "clearTls") else {}),
    }


ENVIRONMENTS = Resource(
    name="environment",
    plural="environments",
    app="stacks",
    model=Environment,
    serializer=EnvironmentSerializer,
    data=_environment_data,
    page_context=lambda request: {
        # Where the Members button shows: the environments this user administers.
        "admin_of": admin_environment_ids(request.user),
        "notify_events": [(e.value, e.label) for e in NotifyEvent],
        "tls_fields": [("tlsCa", "CA certificate"), ("tlsCert", "Client certificate"), ("tlsKey", "Client key")],
        "ssh_credentials": Credential.objects.filter(auth_type=Credential.AuthType.SSH),
    },
    save=lambda instance, fields: environment_save(environment=instance, fields=fields),
    delete=lambda instance: environment_delete(environment=instance),
    visible=lambda request: visible_environments(request.user),
)
