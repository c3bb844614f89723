# Issue 13's decision records (0005_i13_send_decisions, from branch i13a) and issue 16's
# locales (0005_i16_locale_voice) were numbered in parallel; no operation of its own.
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("otp", "0005_i13_send_decisions"),
        ("otp", "0005_i16_locale_voice"),
    ]

    operations = []
