from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("stacks", "0028_merge_repository_config"),
    ]

    operations = [
        migrations.AddField(
            model_name="secretstore",
            name="environment_ids",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
