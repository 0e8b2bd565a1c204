"""Deployments are numbered per stack (#1, #2, …): existing rows get their numbers in
the order they were made, each stack from 1; the history of a deleted stack (its
stack gone, its name kept) is numbered by that name."""

from django.db import migrations, models


def number_existing(apps, schema_editor):
    Deployment = apps.get_model("stacks", "Deployment")
    counts = {}
    rows = Deployment.objects.order_by("created_at", "id").values_list("id", "stack_id", "stack_name")
    for pk, stack_id, stack_name in rows.iterator():
        key = ("stack", stack_id) if stack_id is not None else ("name", stack_name)
        counts[key] = counts.get(key, 0) + 1
        Deployment.objects.filter(pk=pk).update(number=counts[key])


class Migration(migrations.Migration):

    dependencies = [
        ("stacks", "0023_audit_event_scopes"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="number",
            field=models.PositiveIntegerField(editable=False, null=True),
        ),
        migrations.RunPython(number_existing, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="deployment",
            name="number",
            field=models.PositiveIntegerField(editable=False),
        ),
        migrations.AddConstraint(
            model_name="deployment",
            constraint=models.UniqueConstraint(fields=("stack", "number"), name="deployment_number_per_stack"),
        ),
    ]
