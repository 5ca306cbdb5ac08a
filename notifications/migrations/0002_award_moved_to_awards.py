"""The award a notification is for now lives in `awards` (same table: state only)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('awards', '0001_moved_from_partners'),
        ('notifications', '0001_notifications_initial'),
    ]

    operations = [
        # The tables stay where they are (and keep their names): only Django's state moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.AlterField(
                model_name='notification',
                name='award',
                field=models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='notification', to='awards.award'),
            ),
            ],
            database_operations=[],
        ),
    ]
