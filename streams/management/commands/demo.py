from django.conf import settings
from django.core.management.base import BaseCommand

from streams import services


class Command(BaseCommand):
    help = "Create the demo account, user and stream (idempotent) and print how to use them."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--base-url",
            default="",
            help="The address the console is served at (`make run` passes its HOST and "
            "PORT); default PUBLIC_BASE_URL.",
        )

    def handle(self, *args, **options) -> None:
        stream, token = services.ensure_demo()
        base = (options["base_url"] or settings.PUBLIC_BASE_URL).rstrip("/")
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "OTP Streams demo is ready.",
                    f"  Console:    {base}/",
                    f"  Admin:      {base}/admin/",
                    f"  API docs:   {base}/api/docs/",
                    f"  Login:      {services.DEMO_USERNAME} / {services.DEMO_PASSWORD}",
                    f"  Stream:     {stream.name} (id {stream.pk})",
                    f"  API token:  {token}",
                    "  (a new token is issued on each run; the previous one no longer works)",
                    "",
                    "  Send a code:",
                    f"    curl -X POST {base}/api/v1/otp/send \\",
                    f"      -H 'Authorization: Bearer {token}' \\",
                    "      -H 'Content-Type: application/json' \\",
                    '      -d \'{"recipient": "+14155552671", "event": "login"}\'',
                    "",
                ]
            )
        )
