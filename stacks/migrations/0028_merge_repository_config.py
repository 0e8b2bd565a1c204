# Step 16's repository config was made beside Steps 13 and 15 (after 0024).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("stacks", "0027_merge_steps_13_15_16"), ("stacks", "0025_repository_config")]
    operations: list[migrations.operations.base.Operation] = []
