"""Encryption at rest: the key lives outside the database, and it can be rotated."""

import io

import pytest
from django.core.management import call_command

from gateways.models import Gateway, OutboundMessage
from streams import crypto
from tests.support import factories
from tests.support.otp_client import OtpClient, latest_code

pytestmark = pytest.mark.usefixtures("eager_tasks")

PHONE = "+14155552671"


def test_a_rotated_key_opens_everything_the_old_one_encrypted(account, settings):
    settings.OTP_ENCRYPTION_KEYS = ["the-old-key-" + "o" * 40]
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    OtpClient(token).send(recipient=PHONE)
    code = latest_code(PHONE)
    Gateway.objects.create(
        name="k", kind="kannel", settings={"url": "http://k/"}, credentials={"password": "pw1"}
    )

    settings.OTP_ENCRYPTION_KEYS = ["the-new-key-" + "n" * 40, "the-old-key-" + "o" * 40]
    assert code in OutboundMessage.objects.get().text
    call_command("reencrypt_secrets", stdout=io.StringIO())

    settings.OTP_ENCRYPTION_KEYS = ["the-new-key-" + "n" * 40]
    assert code in OutboundMessage.objects.get().text
    assert Gateway.objects.get(name="k").credentials == {"password": "pw1"}


def test_without_the_key_the_stored_text_does_not_open(account, settings):
    _, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    OtpClient(token).send(recipient=PHONE)
    settings.OTP_ENCRYPTION_KEYS = ["some-other-key-" + "x" * 40]
    with pytest.raises(crypto.UndecryptableError):
        OutboundMessage.objects.get()


def test_a_fernet_key_is_used_as_it_is(settings):
    settings.OTP_ENCRYPTION_KEYS = ["Xl2bC4sUQf0pAj8nKd3xq1mE6Yt9Rz5WvB7cHo0LuIg="]
    token = crypto.encrypt("hello")
    from cryptography.fernet import Fernet

    assert Fernet(settings.OTP_ENCRYPTION_KEYS[0]).decrypt(token.encode()) == b"hello"
