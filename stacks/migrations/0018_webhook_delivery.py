# WebhookDelivery moves from gitsync to stacks (it records what a push did to a stack).
# Only Django's idea of the model moves: the table stays `gitsync_webhookdelivery`, with
# its rows, so an existing install keeps its deliveries and nothing is copied.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('gitsync', '0002_webhooks_and_followups'),
        ('stacks', '0017_environment_ssh'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='WebhookDelivery',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('target', models.CharField(max_length=100)),
                        ('provider', models.CharField(max_length=20)),
                        ('event', models.CharField(max_length=100)),
                        ('delivery_id', models.CharField(blank=True, max_length=200)),
                        ('ref', models.CharField(blank=True, max_length=300)),
                        ('result', models.CharField(choices=[('accepted', 'Accepted'), ('coalesced', 'Coalesced'), ('ignored', 'Ignored')], max_length=10)),
                        ('reason', models.CharField(blank=True, max_length=300)),
                        ('received_at', models.DateTimeField(auto_now_add=True)),
                        ('deployment', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='stacks.deployment')),
                        ('repository', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='webhook_deliveries', to='gitsync.repository')),
                        ('stack', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name='webhook_deliveries', to='stacks.gitstack')),
                    ],
                    options={
                        'verbose_name_plural': 'webhook deliveries',
                        'db_table': 'gitsync_webhookdelivery',
                        'ordering': ['-received_at', '-id'],
                        'constraints': [models.UniqueConstraint(condition=models.Q(('delivery_id', ''), _negated=True), fields=('target', 'delivery_id'), name='webhook_delivery_once_per_target')],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
