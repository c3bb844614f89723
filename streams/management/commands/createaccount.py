import getpass
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from streams import services


class Command(BaseCommand):
    help = (
        "Create a real account and its first user, its owner, without the demo data. "
        "The password comes from --password, the OTP_OWNER_PASSWORD environment "
        "variable, or a prompt."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--account", required=True, help="The account's name.")
        parser.add_argument("--slug", default="", help="Its slug (default: from the name).")
        parser.add_argument("--username", required=True, help="The owner's user name.")
        parser.add_argument("--email", default="", help="The owner's e-mail (password resets).")
        parser.add_argument("--password", default="", help="Prefer the prompt or the env.")

    def handle(self, *args, **options) -> None:
        password = options["password"] or os.environ.get("OTP_OWNER_PASSWORD", "")
        if not password:
            if not sys.stdin.isatty():
                raise CommandError("Give --password or OTP_OWNER_PASSWORD (no terminal).")
            password = getpass.getpass("Password for the owner: ")
        try:
            account, user = services.create_account_with_owner(
                name=options["account"],
                slug=options["slug"],
                username=options["username"],
                email=options["email"],
                password=password,
            )
        except services.Refused as refusal:
            raise CommandError(str(refusal)) from None
        self.stdout.write(
            f"Account “{account.name}” ({account.slug}) created; {user.get_username()} is "
            "its owner. Sign in to the console with that user."
        )
