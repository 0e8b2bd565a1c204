# Steps 13 and 15 each added a migration after 0024 (made side by side).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("stacks", "0025_registries"), ("stacks", "0025_secret_sources")]
    operations: list[migrations.operations.base.Operation] = []
