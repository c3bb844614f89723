from django.core.management.base import BaseCommand

from gateways import services


class Command(BaseCommand):
    help = (
        "Re-encrypt message texts and gateway credentials under the first key of "
        "OTP_ENCRYPTION_KEYS, so that the older keys can be dropped (key rotation)."
    )

    def handle(self, *args, **options) -> None:
        count = services.reencrypt_secrets()
        self.stdout.write(f"{count} value(s) re-encrypted under the first key.")
