"""CompatCredential and CompatReference moved to the compat app. Their tables stay
(compat's models keep the names ``otp_compatcredential`` and ``otp_compatreference``),
so only otp's migration state forgets them; compat/migrations/0001_initial.py, which
runs after this, adds them to compat's state. Nothing here names compat: otp sits
below it."""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('otp', '0003_compat_credentials'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name='CompatReference'),
                migrations.DeleteModel(name='CompatCredential'),
            ],
            database_operations=[],
        ),
    ]
