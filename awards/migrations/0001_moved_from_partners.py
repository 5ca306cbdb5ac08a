"""Award moves here from `partners`: state only, the table is kept (ADR 0011)."""

import django.db.models.deletion
from django.db import migrations, models


APP = "awards"
MODELS = ("award",)


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
    ]

    operations = [
        # The tables stay where they are (and keep their names): only Django's state moves.
        migrations.SeparateDatabaseAndState(
            state_operations=[
            migrations.CreateModel(
                name='Award',
                fields=[
                    ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                    ('award_id', models.CharField(max_length=200)),
                    ('customer_id', models.CharField(max_length=200)),
                    ('reward_type', models.CharField(choices=[('voucher', 'Voucher'), ('special_offer', 'Special Offer')], max_length=20)),
                    ('value', models.DecimalField(blank=True, decimal_places=4, max_digits=18, null=True)),
                    ('currency', models.CharField(blank=True, default='', max_length=3)),
                    ('voucher_code', models.CharField(blank=True, default='', max_length=200)),
                    ('expires_at', models.DateTimeField(blank=True, null=True)),
                    ('message', models.TextField(blank=True, default='', max_length=1000)),
                    ('webhook_id', models.CharField(max_length=200)),
                    ('received_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                    ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='awards', to='campaigns.campaign')),
                    ('partner', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='awards', to='partners.partner')),
                ],
                options={
                    'db_table': 'partners_award',
                    'ordering': ['-received_at', '-id'],
                    'indexes': [models.Index(fields=['customer_id', '-received_at'], name='award_customer_idx')],
                    'constraints': [models.UniqueConstraint(fields=('partner', 'award_id'), name='award_unique_partner_award_id'), models.UniqueConstraint(fields=('partner', 'webhook_id'), name='award_unique_partner_webhook_id'), models.CheckConstraint(condition=models.Q(('reward_type__in', ['voucher', 'special_offer'])), name='award_reward_type_valid'), models.CheckConstraint(condition=models.Q(('value__isnull', True), ('value__gte', 0), _connector='OR'), name='award_value_not_negative'), models.CheckConstraint(condition=models.Q(('currency', ''), ('currency__regex', '^[A-Z]{3}$'), _connector='OR'), name='award_currency_format')],
                },
            ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(forwards, backwards),
    ]
