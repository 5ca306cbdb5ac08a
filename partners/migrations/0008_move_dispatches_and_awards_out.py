"""Dispatch, DispatchAttempt and Award left for `dispatches` and `awards`: state only (ADR 0011)."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('awards', '0001_moved_from_partners'),
        ('dispatches', '0001_moved_from_partners'),
        ('notifications', '0002_award_moved_to_awards'),
        ('partners', '0007_perf_indexes'),
    ]

    operations = [
        # The tables stay where they are (and keep their names): only Django's state moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.RemoveField(
                model_name='dispatch',
                name='campaign',
            ),
            migrations.RemoveField(
                model_name='dispatch',
                name='partner',
            ),
            migrations.RemoveField(
                model_name='dispatch',
                name='purchase',
            ),
            migrations.RemoveField(
                model_name='dispatchattempt',
                name='dispatch',
            ),
            migrations.DeleteModel(
                name='Award',
            ),
            migrations.DeleteModel(
                name='Dispatch',
            ),
            migrations.DeleteModel(
                name='DispatchAttempt',
            ),
            ],
            database_operations=[],
        ),
    ]
