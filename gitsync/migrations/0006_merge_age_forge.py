# Steps 15 and 16 each added a migration after 0004 (made side by side).

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("gitsync", "0005_age_credentials"), ("gitsync", "0005_forge")]
    operations: list[migrations.operations.base.Operation] = []
