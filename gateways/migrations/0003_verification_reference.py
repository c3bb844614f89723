"""``OutboundMessage.verification`` becomes a plain ``verification_id`` reference.

otp sits above gateways, so gateways keeps no foreign key to ``otp.Verification``. The
column, its data and its index stay: the database only loses the foreign-key constraint
(PostgreSQL drops it; SQLite rebuilds the table, copying the rows), then the state
swaps the field for a ``UUIDField`` over the same column. Also: the SMPP kind, which no
adapter handles, leaves the choices.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateways", "0002_dispatch_route_and_claim"),
        ("otp", "0001_initial"),
    ]

    operations = [
        migrations.AlterField(
            model_name="outboundmessage",
            name="verification",
            field=models.ForeignKey(
                blank=True,
                db_constraint=False,
                null=True,
                on_delete=django.db.models.deletion.DO_NOTHING,
                related_name="+",
                to="otp.verification",
            ),
        ),
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(model_name="outboundmessage", name="verification"),
                migrations.AddField(
                    model_name="outboundmessage",
                    name="verification_id",
                    field=models.UUIDField(blank=True, db_index=True, null=True),
                ),
            ],
        ),
        migrations.AlterField(
            model_name="gateway",
            name="kind",
            field=models.CharField(
                choices=[
                    ("console", "Console outbox (development)"),
                    ("noop", "No-op (benchmarks)"),
                    ("kannel", "Kannel (HTTP sendsms)"),
                    ("twilio", "Twilio"),
                    ("vonage", "Vonage SMS"),
                    ("webhook", "HTTP webhook (HMAC-signed JSON)"),
                ],
                max_length=10,
            ),
        ),
    ]
