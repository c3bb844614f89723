from django.core.management.base import BaseCommand

from otp import rollups


class Command(BaseCommand):
    help = (
        "After an upgrade: give older verifications their country, then recompute every "
        "rollup from the raw rows (the beat task keeps them current afterwards)."
    )

    def handle(self, *args, **options) -> None:
        backfilled = rollups.backfill_countries()
        hours = rollups.refresh_rollups(full=True)
        self.stdout.write(f"{backfilled} verifications got their country; {hours} hours rolled up.")
