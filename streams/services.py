"""Writes on streams and their accounts, named as the product names them."""

from django.contrib.auth import get_user_model
from django.db import transaction

from .models import Account, Contact, EventTemplate, Membership, SenderID, Stream
from .tokens import issue_token

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "otp-streams-demo"  # noqa: S105 - printed by `manage.py demo`, development only
DEMO_STREAM_NAME = "Demo log-in"


@transaction.atomic
def rotate_token(*, stream: Stream) -> str:
    """Issue a new API token for ``stream`` and return it: the only time it is seen.
    The old token stops working as soon as this commits."""
    token = issue_token()
    stream.set_token(token)
    stream.save(update_fields=["token_hash", "token_prefix", "token_issued_at", "updated_at"])
    return token.plaintext


@transaction.atomic
def activate_stream(*, stream: Stream) -> str:
    """Finish the wizard: the stream goes live and gets its first token."""
    stream.status = Stream.Status.ACTIVE
    stream.wizard_step = Stream.WizardStep.SUMMARY
    stream.save(update_fields=["status", "wizard_step", "updated_at"])
    return rotate_token(stream=stream)


@transaction.atomic
def ensure_demo() -> tuple[Stream, str]:
    """The demo account, user, sender ID, contact and active stream, created once;
    returns the stream and a freshly issued token (each call rotates it)."""
    User = get_user_model()
    account, _ = Account.objects.get_or_create(slug="demo", defaults={"name": "Demo account"})
    user = User.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        user = User.objects.create_superuser(
            DEMO_USERNAME, email="admin@example.com", password=DEMO_PASSWORD
        )
    Membership.objects.get_or_create(
        user=user, account=account, defaults={"role": Membership.Role.OWNER}
    )
    sender, _ = SenderID.objects.get_or_create(
        account=account, value="OTPDemo", defaults={"kind": SenderID.Kind.ALPHANUMERIC}
    )
    Contact.objects.get_or_create(
        account=account,
        phone="+14155552671",
        defaults={"first_name": "Ada", "last_name": "Lovelace"},
    )
    stream = Stream.objects.filter(account=account, name=DEMO_STREAM_NAME).first()
    if stream is None:
        stream = Stream(
            account=account,
            name=DEMO_STREAM_NAME,
            description="Created by `manage.py demo`: log-in codes for the demo app.",
            allowed_ips=["127.0.0.1", "::1"],
            default_sender=sender,
        )
        stream.full_clean()
        stream.save()
        template = EventTemplate(
            stream=stream,
            name="Log-in",
            key="login",
            text="Hi {{first_name}}, your log-in code is {{code}}. It expires in 5 minutes.",
        )
        template.full_clean()
        template.save()
    token = activate_stream(stream=stream)
    return stream, token
