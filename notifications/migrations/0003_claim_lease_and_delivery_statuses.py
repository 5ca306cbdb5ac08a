"""Claim lease columns (claim → send → record) and the delivery vocabulary of SPEC §14.

Two nullable columns without a default (metadata only, no table rewrite). The
status check accepts a superset of the former values, so no stored value changes.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('notifications', '0002_award_moved_to_awards'),
    ]

    operations = [
        migrations.AddField(
            model_name='notification',
            name='claimed_until',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='notification',
            name='claim_token',
            field=models.UUIDField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='notification',
            name='status',
            field=models.CharField(choices=[('queued', 'Queued'), ('sending', 'Sending'), ('sent', 'Sent'), ('delivered', 'Delivered'), ('failed', 'Failed'), ('dead', 'Dead'), ('skipped', 'Skipped'), ('deferred', 'Deferred')], default='queued', max_length=10),
        ),
        migrations.RemoveConstraint(
            model_name='notification',
            name='notification_status_valid',
        ),
        migrations.AddConstraint(
            model_name='notification',
            constraint=models.CheckConstraint(condition=models.Q(('status__in', ['queued', 'sending', 'sent', 'delivered', 'failed', 'dead', 'skipped', 'deferred'])), name='notification_status_valid'),
        ),
    ]
