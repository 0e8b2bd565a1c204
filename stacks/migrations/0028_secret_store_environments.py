from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("stacks", "0027_merge_steps_13_15_16"),
    ]

    operations = [
        migrations.AddField(
            model_name="secretstore",
            name="environment_ids",
            field=models.JSONField(blank=True, default=list),
        ),
    ]
