"""Dispatch and DispatchAttempt move here from `partners`: state only, the tables are kept (ADR 0011)."""

import django.db.models.deletion
import uuid
from django.db import migrations, models


APP = "dispatches"
MODELS = ("dispatch", "dispatchattempt")


def move_content_types(apps, schema_editor, *, from_label, to_label, models):
    """Rename the content types, so permissions granted on the moved models (groups, users) still hold."""
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in models:
        if not ContentType.objects.filter(app_label=to_label, model=model).exists():
            ContentType.objects.filter(app_label=from_label, model=model).update(app_label=to_label)


def forwards(apps, schema_editor):
    move_content_types(apps, schema_editor, from_label="partners", to_label=APP, models=MODELS)


def backwards(apps, schema_editor):
    move_content_types(apps, schema_editor, from_label=APP, to_label="partners", models=MODELS)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('campaigns', '0002_campaigns_crm_groups'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('partners', '0007_perf_indexes'),
        ('purchases', '0004_drop_unused_purchased_at_index'),
    ]

    operations = [
        # The tables stay where they are (and keep their names): only Django's state moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='Dispatch',
                fields=[
                    ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                    ('status', models.CharField(choices=[('pending', 'Pending'), ('sent', 'Sent'), ('retrying', 'Retrying'), ('dead', 'Dead')], default='pending', max_length=10)),
                    ('attempts', models.PositiveIntegerField(default=0)),
                    ('next_attempt_at', models.DateTimeField(blank=True, null=True)),
                    ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                    ('last_error', models.TextField(blank=True, default='')),
                    ('created_at', models.DateTimeField(auto_now_add=True)),
                    ('updated_at', models.DateTimeField(auto_now=True)),
                    ('sent_at', models.DateTimeField(blank=True, null=True)),
                    ('claimed_until', models.DateTimeField(blank=True, null=True)),
                    ('claim_token', models.UUIDField(blank=True, null=True)),
                    ('attempt_base', models.PositiveIntegerField(db_default=0, default=0)),
                    ('replay_count', models.PositiveIntegerField(db_default=0, default=0)),
                    ('replayed_at', models.DateTimeField(blank=True, null=True)),
                    ('campaign', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='dispatches', to='campaigns.campaign')),
                    ('partner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='dispatches', to='partners.partner')),
                    ('purchase', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='dispatches', to='purchases.purchase')),
                ],
                options={
                    'db_table': 'partners_dispatch',
                    'ordering': ['-created_at'],
                },
            ),
            migrations.CreateModel(
                name='DispatchAttempt',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('number', models.PositiveIntegerField()),
                    ('attempted_at', models.DateTimeField()),
                    ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                    ('latency_ms', models.PositiveIntegerField()),
                    ('outcome', models.CharField(choices=[('sent', 'Sent'), ('retry', 'Retry'), ('dead', 'Dead')], max_length=10)),
                    ('error', models.TextField(blank=True, default='')),
                    ('dispatch', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attempt_log', to='dispatches.dispatch')),
                ],
                options={
                    'db_table': 'partners_dispatchattempt',
                    'ordering': ['dispatch', 'number'],
                },
            ),
            migrations.AddIndex(
                model_name='dispatch',
                index=models.Index(fields=['status', 'next_attempt_at'], name='dispatch_due_idx'),
            ),
            migrations.AddIndex(
                model_name='dispatch',
                index=models.Index(fields=['campaign', 'status'], name='dispatch_campaign_status_idx'),
            ),
            migrations.AddConstraint(
                model_name='dispatch',
                constraint=models.UniqueConstraint(fields=('purchase', 'campaign'), name='dispatch_unique_pair'),
            ),
            migrations.AddConstraint(
                model_name='dispatch',
                constraint=models.CheckConstraint(condition=models.Q(('status__in', ['pending', 'sent', 'retrying', 'dead'])), name='dispatch_status_valid'),
            ),
            migrations.AddConstraint(
                model_name='dispatchattempt',
                constraint=models.UniqueConstraint(fields=('dispatch', 'number'), name='dispatch_attempt_unique_number'),
            ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
