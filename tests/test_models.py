"""What the domain model accepts and refuses."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from streams.models import Contact, ContactField, EventTemplate, SenderID, Stream, Tag
from streams.placeholders import MissingVariable, render
from streams.tokens import hash_token
from tests.support.factories import make_account, make_sender, make_stream

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("kind", "value", "stored"),
    [
        ("alphanumeric", "Acme", "Acme"),
        ("alphanumeric", "ACME Bank", "ACME Bank"),
        ("alphanumeric", "A1b", "A1b"),
        ("phone", "+14155552671", "+14155552671"),
        ("phone", "+44 20 7946 0958", "+442079460958"),
        ("short_code", "12345", "12345"),
    ],
)
def test_valid_sender_ids(account, kind, value, stored):
    sender = SenderID(account=account, kind=kind, value=value)
    sender.full_clean()
    assert sender.value == stored


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("alphanumeric", "AB"),  # too short
        ("alphanumeric", "TwelveChars1"),  # 12 characters
        ("alphanumeric", "12345"),  # digits only is not a name
        ("alphanumeric", "Acmé"),
        ("phone", "+1415"),
        ("phone", "hello"),
        ("short_code", "12"),
        ("short_code", "12ab"),
    ],
)
def test_invalid_sender_ids(account, kind, value):
    with pytest.raises(ValidationError) as exc:
        SenderID(account=account, kind=kind, value=value).full_clean()
    assert "value" in exc.value.message_dict


def test_sender_id_unique_per_account(account):
    make_sender(account, "Acme")
    make_sender(make_account(), "Acme")  # another account may use the same name
    with pytest.raises(IntegrityError), transaction.atomic():
        SenderID.objects.create(account=account, value="Acme")


def test_contact_phone_must_be_e164_and_unique(account):
    with pytest.raises(ValidationError):
        Contact(account=account, phone="4155552671").full_clean()
    Contact.objects.create(account=account, phone="+14155552671")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(account=account, phone="+14155552671")


def test_contact_custom_fields_must_be_declared(account):
    ContactField.objects.create(account=account, key="plan", name="Plan")
    Contact(account=account, phone="+14155552671", custom_fields={"plan": "gold"}).full_clean()
    with pytest.raises(ValidationError) as exc:
        Contact(account=account, phone="+14155552671", custom_fields={"shoe": "9"}).full_clean()
    assert "custom_fields" in exc.value.message_dict


def test_custom_field_cannot_shadow_a_builtin_placeholder(account):
    with pytest.raises(ValidationError):
        ContactField(account=account, key="code", name="Code").full_clean()


def test_tag_unique_per_account(account):
    Tag.objects.create(account=account, name="prod")
    with pytest.raises(IntegrityError), transaction.atomic():
        Tag.objects.create(account=account, name="prod")


def test_stream_defaults_are_six_digits(account):
    stream = Stream.objects.create(account=account, name="s")
    assert (stream.code_length, stream.code_digits, stream.code_upper) == (6, True, False)
    assert stream.status == "draft"
    assert stream.is_customized_sender


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("code_length", 3),
        ("code_length", 33),
        ("allowed_ips", ["10.0.0.1/24"]),  # host bits set
        ("allowed_ips", ["not-an-ip"]),
        ("allowed_countries", ["XX"]),
        ("max_attempts", 0),
        ("code_ttl_seconds", 10),
    ],
)
def test_stream_field_ranges(account, field, value):
    stream = Stream(account=account, name="s", **{field: value})
    with pytest.raises(ValidationError) as exc:
        stream.full_clean()
    assert field in exc.value.message_dict


def test_stream_accepts_ipv4_ipv6_and_cidr(account):
    Stream(
        account=account, name="s", allowed_ips=["203.0.113.7", "2001:db8::/32", "10.0.0.0/8"]
    ).full_clean()


def test_stream_alphabet_cannot_be_empty(account):
    with pytest.raises(ValidationError):
        Stream(account=account, name="s", code_digits=False).full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Stream.objects.create(account=account, name="s", code_digits=False)


def test_stream_code_length_enforced_by_database(account):
    with pytest.raises(IntegrityError), transaction.atomic():
        Stream.objects.create(account=account, name="s", code_length=40)


def test_default_sender_must_belong_to_the_account(account):
    foreign = make_sender(make_account(), "Other")
    with pytest.raises(ValidationError) as exc:
        Stream(account=account, name="s", default_sender=foreign).full_clean()
    assert "default_sender" in exc.value.message_dict


def test_token_is_stored_only_as_hash(account):
    stream, token = make_stream(account)
    stream.refresh_from_db()
    assert token not in {stream.token_hash, stream.token_prefix}
    assert stream.token_hash == hash_token(token)
    assert token.startswith(stream.token_prefix)


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("Hello", "OTP code placeholder"),
        ("Code {{code}} for {{nickname}}", "Unknown placeholder {{nickname}}"),
    ],
)
def test_template_text_rules(account, text, error):
    stream, _ = make_stream(account)
    with pytest.raises(ValidationError) as exc:
        EventTemplate(stream=stream, name="x", key="x", text=text).full_clean()
    assert error in " ".join(exc.value.message_dict["text"])


def test_template_may_use_account_custom_fields(account):
    ContactField.objects.create(account=account, key="plan", name="Plan")
    stream, _ = make_stream(account)
    EventTemplate(stream=stream, name="x", key="x", text="{{plan}}: {{code}}").full_clean()


@pytest.mark.parametrize("key", ["login", "pw-reset", "signup.v2", "A_1"])
def test_valid_event_keys(account, key):
    stream, _ = make_stream(account, templates={"base": "{{code}}"})
    EventTemplate(stream=stream, name="x", key=key, text="{{code}}").full_clean()


@pytest.mark.parametrize("key", ["", "has space", "ümlaut", "x" * 65, "semi;colon"])
def test_invalid_event_keys(account, key):
    stream, _ = make_stream(account)
    with pytest.raises(ValidationError) as exc:
        EventTemplate(stream=stream, name="x", key=key, text="{{code}}").full_clean()
    assert "key" in exc.value.message_dict


def test_event_key_unique_within_stream(account):
    stream, _ = make_stream(account, templates={"login": "{{code}}"})
    with pytest.raises(IntegrityError), transaction.atomic():
        EventTemplate.objects.create(stream=stream, name="again", key="login", text="{{code}}")


def test_render_fills_placeholders_and_names_missing_ones():
    assert (
        render("Hi {{ first_name }}, {{code}}", {"first_name": "Ada", "code": "1"}) == "Hi Ada, 1"
    )
    with pytest.raises(MissingVariable) as exc:
        render("Hi {{first_name}} {{last_name}}, {{code}}", {"code": "1", "first_name": ""})
    assert exc.value.names == ["first_name", "last_name"]
