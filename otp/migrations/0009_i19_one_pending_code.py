"""At most one pending verification per (stream, recipient, event): racing sends could
leave several valid codes, each with its own attempt budget."""

from django.db import migrations, models
from django.db.models import Count, Max


def cancel_all_but_the_newest_pending(apps, schema_editor) -> None:
    """Rows left by the race this constraint closes: the newest code stays valid, as a
    send that had not raced would have left it."""
    Verification = apps.get_model("otp", "Verification")
    pending = Verification.objects.filter(status="pending")
    groups = (
        pending.values("stream_id", "recipient", "event_key")
        .annotate(n=Count("id"), newest=Max("created_at"))
        .filter(n__gt=1)
    )
    for group in groups.iterator():
        pending.filter(
            stream_id=group["stream_id"],
            recipient=group["recipient"],
            event_key=group["event_key"],
            created_at__lt=group["newest"],
        ).update(status="canceled", decided_at=group["newest"])


class Migration(migrations.Migration):
    dependencies = [
        ("otp", "0008_i17_analytics_rollups"),
        ("streams", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(cancel_all_but_the_newest_pending, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="verification",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "pending")),
                fields=("stream", "recipient", "event_key"),
                name="one_pending_verification_per_event",
            ),
        ),
    ]
