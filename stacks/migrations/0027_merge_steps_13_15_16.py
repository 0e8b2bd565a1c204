# Steps 13, 15 and 16 each added migrations after 0024 (made side by side).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("stacks", "0026_merge_registries_secret_sources"), ("stacks", "0026_deployment_delete")]
    operations: list[migrations.operations.base.Operation] = []
