"""What a refused sync of an untrusted repository looks like to its user."""

from __future__ import annotations

from typing import Any

from stacks.models import Deployment
from tests.support import docker as dockersupport


def sync_refused(canary: str, api: Any, stack: dict[str, Any], says: str) -> dict[str, Any]:
    """Sync the stack: 500 with an error naming `says`, the `canary` in no answer, output
    or stored error, and no container started. The answer's body."""
    response = api.post(f"/api/git/stacks/{stack['id']}/sync", {}, format="json")
    body = response.json()
    assert response.status_code == 500, body
    assert body["success"] is False
    assert says in body["error"], body["error"]
    assert canary not in response.content.decode()
    for deployment in Deployment.objects.filter(stack_id=stack["id"]):
        assert canary not in deployment.output_text() + deployment.error
    assert dockersupport.containers(stack["projectName"]) == []
    return dict(body)
