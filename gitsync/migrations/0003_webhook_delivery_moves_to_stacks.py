# WebhookDelivery now belongs to stacks (stacks/0018): gitsync forgets it, and its
# table stays where it is. No dependency on stacks: forgetting needs nothing of it.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('gitsync', '0002_webhooks_and_followups'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='WebhookDelivery')],
            database_operations=[],
        ),
    ]
