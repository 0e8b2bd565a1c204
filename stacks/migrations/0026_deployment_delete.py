"""Deployments may be deleted from the history (Step 16): each stack remembers the
highest number it gave, so a deleted #5 is not given again."""

from typing import Any

from django.db import migrations, models
from django.db.models import Max


def count_given(apps: Any, schema_editor: Any) -> None:
    GitStack = apps.get_model("stacks", "GitStack")
    Deployment = apps.get_model("stacks", "Deployment")
    for stack_id, last in Deployment.objects.exclude(stack=None).values_list("stack").annotate(last=Max("number")):
        GitStack.objects.filter(pk=stack_id).update(deployments_numbered=last)


class Migration(migrations.Migration):
    dependencies = [("stacks", "0025_projects_adopt")]

    operations = [
        migrations.AddField(
            model_name="gitstack",
            name="deployments_numbered",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(count_given, migrations.RunPython.noop),
    ]
