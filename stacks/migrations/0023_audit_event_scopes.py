"""Give the audit events recorded before events kept their environment and acting
person (dockhand 0003) both, read from the words they were recorded with: an object
`gitstack:5 web`, `deployment:9 …` or `environment:2 …`, an actor `user:alice`. An
event whose stack is gone since keeps no environment: only owners read it."""

from typing import Any

from django.conf import settings
from django.db import migrations

BATCH = 500


def _pk(label: str, kind: str) -> int | None:
    head = label.split(" ", 1)[0]
    prefix = f"{kind}:"
    return int(head[len(prefix) :]) if head.startswith(prefix) and head[len(prefix) :].isdigit() else None


def scope_old_events(apps: Any, schema_editor: Any) -> None:
    AuditEvent = apps.get_model("dockhand", "AuditEvent")
    GitStack = apps.get_model("stacks", "GitStack")
    Deployment = apps.get_model("stacks", "Deployment")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    stacks = dict(GitStack.objects.values_list("pk", "environment_id"))
    deployments = dict(Deployment.objects.filter(stack__isnull=False).values_list("pk", "stack__environment_id"))
    users = {f"user:{name}": pk for pk, name in User.objects.values_list("pk", "username")}
    # Read first, written after: SQLite isolates no query from writes on its connection.
    old = list(
        AuditEvent.objects.filter(environment_id__isnull=True, actor_user__isnull=True).values_list(
            "pk", "object", "actor"
        )
    )
    changed = []
    for pk, label, actor in old:
        stack, deployment = _pk(label, "gitstack"), _pk(label, "deployment")
        environment_id = (
            _pk(label, "environment")
            or (stacks.get(stack) if stack is not None else None)
            or (deployments.get(deployment) if deployment is not None else None)
        )
        user_id = users.get(actor)
        if environment_id is not None or user_id is not None:
            changed.append(AuditEvent(pk=pk, environment_id=environment_id, actor_user_id=user_id))
    AuditEvent.objects.bulk_update(changed, ["environment_id", "actor_user"], batch_size=BATCH)


class Migration(migrations.Migration):
    dependencies = [
        ("stacks", "0022_policy_levels"),
        ("dockhand", "0003_audit_scope"),
    ]

    operations = [migrations.RunPython(scope_old_events, migrations.RunPython.noop)]
