"""CompatCredential and CompatReference, which lived in the otp app until the compat APIs
became an app of their own. The tables stay where they are (the models keep their old
``db_table``): this migration adds the models to compat's state only, after
otp/migrations/0004 took them out of otp's. A database migrated with the old layout
keeps its rows and changes nothing; a new one got the tables from otp's 0003.

The content types follow the models (renamed, not recreated), so the permissions
given on them and the admin's history of them are kept."""

import compat.models
import django.db.models.deletion
from django.db import migrations, models


MODELS = ["compatcredential", "compatreference"]


def _move_content_types(apps, source: str, target: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    for model in MODELS:
        if not ContentType.objects.filter(app_label=target, model=model).exists():
            ContentType.objects.filter(app_label=source, model=model).update(app_label=target)


def content_types_to_compat(apps, schema_editor):
    _move_content_types(apps, "otp", "compat")


def content_types_to_otp(apps, schema_editor):
    _move_content_types(apps, "compat", "otp")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('otp', '0004_compat_models_leave_otp'),
        ('streams', '0001_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name='CompatReference',
                    fields=[
                        ('id', models.BigIntegerField(default=compat.models.random_reference, editable=False, primary_key=True, serialize=False)),
                        ('verification', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='compat_reference', to='otp.verification')),
                    ],
                    options={
                        'db_table': 'otp_compatreference',
                    },
                ),
                migrations.CreateModel(
                    name='CompatCredential',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('peer', models.CharField(choices=[('verifynow', 'VerifyNow (token / send / validateOtp)'), ('octopush', 'Octopush OTP (api-login / api-key)')], max_length=10)),
                        ('login', models.CharField(help_text='VerifyNow: the customerId. Octopush: the api-login (usually an email).', max_length=190)),
                        ('secret_hash', models.CharField(editable=False, max_length=64)),
                        ('secret_prefix', models.CharField(blank=True, editable=False, max_length=12)),
                        ('event_key', models.CharField(help_text="The stream's event template used for the text (VerifyNow always; Octopush when the request has no text).", max_length=64)),
                        ('enabled', models.BooleanField(default=True)),
                        ('created_at', models.DateTimeField(auto_now_add=True)),
                        ('secret_rotated_at', models.DateTimeField(blank=True, editable=False, null=True)),
                        ('account', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='compat_credentials', to='streams.account')),
                        ('stream', models.ForeignKey(help_text='The stream whose codes, limits, allowed IPs and gateways serve this traffic. It must generate its codes.', on_delete=django.db.models.deletion.PROTECT, related_name='compat_credentials', to='streams.stream')),
                    ],
                    options={
                        'verbose_name': 'compatibility credential',
                        'db_table': 'otp_compatcredential',
                        'ordering': ['peer', 'login'],
                        'constraints': [models.UniqueConstraint(fields=('peer', 'login'), name='unique_compat_login'), models.CheckConstraint(condition=models.Q(('peer__in', ['verifynow', 'octopush'])), name='compat_peer')],
                    },
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(content_types_to_compat, content_types_to_otp),
    ]
