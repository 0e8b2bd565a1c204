"""The built-in `local` environment exists from the first start (spec §3)."""

from django.db import migrations


def create_local(apps, schema_editor):  # type: ignore[no-untyped-def]
    Environment = apps.get_model("stacks", "Environment")
    Environment.objects.get_or_create(name="local", defaults={"docker_host": ""})


class Migration(migrations.Migration):
    dependencies = [("stacks", "0001_initial")]
    operations = [migrations.RunPython(create_local, migrations.RunPython.noop)]
