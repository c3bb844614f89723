"""The console through Django's test client: every page, the wizard's rules, scoping
to the current account and the roles."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from streams.models import Contact, ContactField, SenderID, Stream, Tag
from tests.support import factories

pytestmark = pytest.mark.usefixtures("eager_tasks")


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


def wizard_url(stream: Stream, step: int) -> str:
    return f"/streams/{stream.public_id}/step/{step}/"


def details(**overrides) -> dict:
    data = {
        "name": "Checkout",
        "description": "Codes for payments",
        "allowed_ips": ["203.0.113.7", "2001:db8::/32"],
        "new_tags": "payments, web",
        "sender_choice": "new",
        "new_sender_value": "ShopCo",
        "new_sender_kind": "alphanumeric",
        "action": "next",
    }
    data.update(overrides)
    return data


def code_step(**overrides) -> dict:
    data = {
        "code_generator": "platform",
        "code_length": "8",
        "code_digits": "on",
        "code_upper": "on",
        "code_ttl_minutes": "10",
        "max_attempts": "3",
        "send_limit_enabled": "on",
        "send_limit_count": "4",
        "send_limit_cooldown_minutes": "30",
        "allowed_countries": ["US", "GB"],
        "action": "next",
    }
    data.update(overrides)
    return data


def templates_step(*templates, action="next") -> dict:
    data = {
        "templates-TOTAL_FORMS": str(len(templates)),
        "templates-INITIAL_FORMS": "0",
        "templates-MIN_NUM_FORMS": "0",
        "templates-MAX_NUM_FORMS": "1000",
        "action": action,
    }
    for i, (name, key, text) in enumerate(templates):
        data.update(
            {
                f"templates-{i}-name": name,
                f"templates-{i}-key": key,
                f"templates-{i}-text": text,
                f"templates-{i}-enabled": "on",
            }
        )
    return data


def test_the_wizard_builds_a_stream_and_shows_its_token_once(signed_in, account):
    assert signed_in.get("/").status_code == 200
    assert signed_in.post("/streams/new/", {"type": "otp"})["Location"] == "/streams/new/otp/"
    response = signed_in.post("/streams/new/otp/", details())
    stream = Stream.objects.get(name="Checkout")
    assert response["Location"] == wizard_url(stream, 2)
    assert stream.status == "draft" and stream.wizard_step == 2
    assert stream.allowed_ips == ["203.0.113.7", "2001:db8::/32"]
    assert sorted(stream.tags.values_list("name", flat=True)) == ["payments", "web"]
    assert stream.default_sender.value == "ShopCo"

    assert signed_in.post(wizard_url(stream, 2), code_step()).status_code == 302
    stream.refresh_from_db()
    assert (stream.code_length, stream.code_upper, stream.code_ttl_seconds) == (8, True, 600)
    assert stream.allowed_countries == ["US", "GB"] and stream.send_limit_count == 4

    response = signed_in.post(
        wizard_url(stream, 3),
        templates_step(("Log-in", "login", "Code: {{code}}"), ("Reset", "reset", "Reset {{code}}")),
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(stream.templates.values_list("key", flat=True)) == ["login", "reset"]

    summary = signed_in.get(wizard_url(stream, 4))
    html = summary.content.decode()
    assert "Checkout" in html and "/api/v1/otp/send" in html and "curl -X POST" in html
    created = signed_in.post(wizard_url(stream, 4), {"action": "create"})
    token = re.search(r'id="api-token">(ots_[\w-]+)<', created.content.decode()).group(1)
    stream.refresh_from_db()
    assert stream.status == "active"
    assert "will not be shown again" in created.content.decode()
    # The token is never shown again.
    assert token not in signed_in.get(f"/streams/{stream.public_id}/").content.decode()
    assert token not in signed_in.get(wizard_url(stream, 4)).content.decode()


def test_invalid_details_keep_what_was_typed_and_say_what_is_wrong(signed_in):
    response = signed_in.post(
        "/streams/new/otp/",
        details(allowed_ips=["203.0.113.7", "10.0.0.1/8", "nonsense"], new_sender_value="x"),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "has host bits set" in html and "is not an IPv4/IPv6 address" in html
    assert 'value="nonsense"' in html and 'value="Checkout"' in html
    assert "3 to 11 characters" in html
    assert not Stream.objects.exists()


def test_save_as_draft_returns_to_the_table_and_resumes_at_the_step(signed_in, account):
    signed_in.post("/streams/new/otp/", details(action="draft"))
    stream = Stream.objects.get()
    table = signed_in.get("/streams/").content.decode()
    assert wizard_url(stream, 1) in table  # resumes where it stopped
    signed_in.post(wizard_url(stream, 1), details())
    signed_in.post(wizard_url(stream, 2), code_step(action="draft"))
    assert wizard_url(stream, 2) in signed_in.get("/streams/").content.decode()
    signed_in.post(wizard_url(stream, 2), code_step())
    assert wizard_url(stream, 3) in signed_in.get("/streams/").content.decode()


def test_fields_that_do_not_apply_are_ignored(signed_in, account):
    stream, _ = factories.make_stream(account, active=False, code_length=6)
    signed_in.post(
        wizard_url(stream, 2),
        code_step(
            code_generator="client", code_length="99", send_limit_enabled="", send_limit_count="x"
        ),
    )
    stream.refresh_from_db()
    assert stream.code_generator == "client"
    assert stream.code_length == 6 and stream.send_limit_enabled is False


def test_template_rules_are_checked_next_to_the_field(signed_in, account):
    ContactField.objects.create(account=account, key="plan", name="Plan")
    stream, _ = factories.make_stream(account, active=False, templates={"old": "{{code}}"})
    response = signed_in.post(
        wizard_url(stream, 3),
        templates_step(
            ("A", "login", "No code here"),
            ("B", "login", "{{code}} {{nickname}}"),
            ("C", "bad key", "{{code}} {{plan}}"),
        ),
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "must contain the OTP code placeholder" in html
    assert "Another template of this stream has this key" in html
    assert "Unknown placeholder {{nickname}}" in html
    assert "Invalid event key" in html
    assert list(stream.templates.values_list("key", flat=True)) == ["old"]


def test_streams_table_search_filter_and_newest_first(signed_in, account):
    tag = Tag.objects.create(account=account, name="mobile")
    factories.make_stream(account, name="Alpha login")
    second, _ = factories.make_stream(account, name="Beta reset", active=False)
    second.tags.add(tag)
    html = signed_in.get("/streams/").content.decode()
    assert html.index("Beta reset") < html.index("Alpha login")
    assert "Beta reset" not in signed_in.get("/streams/?q=alpha").content.decode()
    assert "Alpha login" not in signed_in.get("/streams/?status=draft").content.decode()
    assert "Alpha login" not in signed_in.get(f"/streams/?tag={tag.pk}").content.decode()


def test_another_accounts_objects_are_404(signed_in):
    other = factories.make_account()
    stream, _ = factories.make_stream(other)
    sender = factories.make_sender(other, "Theirs")
    contact = Contact.objects.create(account=other, phone="+14155552671")
    for url in (
        f"/streams/{stream.public_id}/",
        wizard_url(stream, 1),
        f"/senders/{sender.pk}/",
        f"/contacts/{contact.pk}/",
    ):
        assert signed_in.get(url).status_code == 404, url
    assert signed_in.post(f"/streams/{stream.public_id}/rotate-token/").status_code == 404
    assert signed_in.post(f"/senders/{sender.pk}/delete/").status_code == 404
    assert SenderID.objects.filter(pk=sender.pk).exists()


def test_only_owners_and_admins_rotate_tokens_and_disable(client, account):
    member = factories.make_user(account=account, role="developer")
    stream, _ = factories.make_stream(account)
    client.force_login(member)
    before = stream.token_hash
    assert client.post(f"/streams/{stream.public_id}/rotate-token/").status_code == 403
    assert client.post(f"/streams/{stream.public_id}/toggle/", {"enabled": "0"}).status_code == 403
    stream.refresh_from_db()
    assert stream.token_hash == before and stream.status == "active"


def test_rotate_shows_the_new_token_once_and_kills_the_old(signed_in, account):
    from tests.support.otp_client import OtpClient

    stream, token = factories.make_stream(account, default_sender=factories.make_sender(account))
    page = signed_in.post(f"/streams/{stream.public_id}/rotate-token/", follow=True)
    page = page.content.decode()
    new = re.search(r'id="api-token">(ots_[\w-]+)<', page).group(1)
    assert OtpClient(token).send(recipient="+14155552671").status_code == 401
    assert OtpClient(new).send(recipient="+14155552671").status_code == 201


def test_disable_and_enable(signed_in, account):
    stream, _ = factories.make_stream(account)
    signed_in.post(f"/streams/{stream.public_id}/toggle/", {"enabled": "0"})
    stream.refresh_from_db()
    assert stream.status == "disabled"
    signed_in.post(f"/streams/{stream.public_id}/toggle/", {"enabled": "1"})
    stream.refresh_from_db()
    assert stream.status == "active"


def test_senders_add_edit_delete(signed_in, account):
    assert signed_in.post("/senders/", {"value": "Acme", "kind": "alphanumeric"}).status_code == 302
    bad = signed_in.post("/senders/", {"value": "Acme", "kind": "alphanumeric"})
    assert bad.status_code == 400 and "already has this sender ID" in bad.content.decode()
    sender = SenderID.objects.get(account=account)
    signed_in.post(f"/senders/{sender.pk}/", {"value": "+14155552671", "kind": "phone"})
    sender.refresh_from_db()
    assert sender.value == "+14155552671"
    stream, _ = factories.make_stream(account, default_sender=sender)
    signed_in.post(f"/senders/{sender.pk}/delete/")
    assert SenderID.objects.filter(pk=sender.pk).exists()  # in use by a stream
    stream.delete()
    signed_in.post(f"/senders/{sender.pk}/delete/")
    assert not SenderID.objects.filter(pk=sender.pk).exists()


def test_contacts_with_custom_fields_and_csv_import(signed_in, account):
    ContactField.objects.create(account=account, key="plan", name="Plan")
    response = signed_in.post(
        "/contacts/new/",
        {"phone": "(415) 555-2671", "country": "US", "first_name": "Ada", "custom_plan": "Pro"},
    )
    assert response.status_code == 302
    contact = Contact.objects.get()
    assert contact.phone == "+14155552671" and contact.custom_fields == {"plan": "Pro"}
    csv = (
        "phone,first_name,last_name,plan\n"
        "+14155552671,Ada,Lovelace,Max\n"
        "+14155550123,Alan,Turing,Free\n"
        "not a phone,Bad,Row,\n"
    )
    page = signed_in.post(
        "/contacts/import/", {"file": SimpleUploadedFile("c.csv", csv.encode()), "country": ""}
    ).content.decode()
    assert "1 created, 1 updated, 1 rejected" in page and "not a phone" in page
    assert Contact.objects.get(phone="+14155552671").custom_fields == {"plan": "Max"}
    assert Contact.objects.count() == 2


def test_account_switcher_scopes_everything(client, account, owner):
    other = factories.make_account(name="Second Co")
    factories.make_stream(other, name="Second stream")
    from streams.models import Membership

    Membership.objects.create(user=owner, account=other, role="admin")
    client.force_login(owner)
    assert "Second stream" not in client.get("/streams/").content.decode()
    client.post("/account/switch/", {"account": other.pk})
    assert "Second stream" in client.get("/streams/").content.decode()
    stranger = factories.make_account()
    assert client.post("/account/switch/", {"account": stranger.pk}).status_code == 404


def test_pages_need_sign_in(client):
    for url in ("/", "/streams/", "/streams/new/", "/senders/", "/contacts/", "/outbox/"):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_password_reset_by_email(client, owner, mailoutbox):
    assert client.get("/accounts/password_reset/").status_code == 200
    response = client.post("/accounts/password_reset/", {"email": owner.email})
    assert response.status_code == 302
    [mail] = mailoutbox
    link = next(line for line in mail.body.splitlines() if "/accounts/reset/" in line)
    path = link[link.index("/accounts/reset/") :].strip()
    form = client.get(path, follow=True)
    assert form.status_code == 200
    done = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-new-long-passphrase", "new_password2": "a-new-long-passphrase"},
    )
    assert done.status_code == 302
    assert client.login(username=owner.username, password="a-new-long-passphrase")


def test_message_content_edits_adds_and_deletes_templates_together(signed_in, account):
    stream, _ = factories.make_stream(
        account, active=False, templates={"login": "{{code}}", "reset": "Reset {{code}}"}
    )
    login, reset = stream.templates.order_by("key")
    data = {
        "templates-TOTAL_FORMS": "3",
        "templates-INITIAL_FORMS": "2",
        "templates-MIN_NUM_FORMS": "0",
        "templates-MAX_NUM_FORMS": "1000",
        "action": "next",
        "templates-0-id": str(login.pk),
        "templates-0-name": "Log-in",
        "templates-0-key": "login",
        "templates-0-text": "Your log-in code: {{code}}",
        "templates-0-enabled": "on",
        "templates-1-id": str(reset.pk),
        "templates-1-name": "Reset",
        "templates-1-key": "reset",
        "templates-1-text": "Reset {{code}}",
        "templates-1-enabled": "on",
        "templates-1-DELETE": "on",
        # the deleted template's key, taken by a new one in the same post
        "templates-2-name": "New reset",
        "templates-2-key": "reset",
        "templates-2-text": "New reset {{code}}",
        "templates-2-enabled": "on",
    }
    assert signed_in.post(wizard_url(stream, 3), data).status_code == 302
    assert sorted(stream.templates.values_list("key", "text")) == [
        ("login", "Your log-in code: {{code}}"),
        ("reset", "New reset {{code}}"),
    ]
    assert not stream.templates.filter(pk=reset.pk).exists()


def test_a_draft_without_an_enabled_template_is_not_created(signed_in, account):
    stream, _ = factories.make_stream(account, active=False)
    stream.templates.update(enabled=False)
    page = signed_in.post(wizard_url(stream, 4), {"action": "create"}, follow=True)
    assert "Add at least one enabled event template first." in page.content.decode()
    stream.refresh_from_db()
    assert stream.status == "draft" and not stream.token_hash


def test_two_templates_can_swap_their_keys(signed_in, account):
    stream, _ = factories.make_stream(
        account, active=False, templates={"login": "Log-in {{code}}", "reset": "Reset {{code}}"}
    )
    login, reset = stream.templates.order_by("key")
    data = {
        "templates-TOTAL_FORMS": "2",
        "templates-INITIAL_FORMS": "2",
        "templates-MIN_NUM_FORMS": "0",
        "templates-MAX_NUM_FORMS": "1000",
        "action": "next",
    }
    for i, (template, key) in enumerate([(login, "reset"), (reset, "login")]):
        data.update(
            {
                f"templates-{i}-id": str(template.pk),
                f"templates-{i}-name": template.name,
                f"templates-{i}-key": key,
                f"templates-{i}-text": template.text,
                f"templates-{i}-enabled": "on",
            }
        )
    assert signed_in.post(wizard_url(stream, 3), data).status_code == 302
    assert sorted(stream.templates.values_list("key", "text")) == [
        ("login", "Reset {{code}}"),
        ("reset", "Log-in {{code}}"),
    ]


def test_pages_that_show_a_token_are_never_cached(signed_in, account):
    stream, _ = factories.make_stream(account, default_sender=factories.make_sender(account))
    shown = signed_in.post(f"/streams/{stream.public_id}/rotate-token/", follow=True)
    assert 'id="api-token">ots_' in shown.content.decode()
    assert "no-store" in shown["Cache-Control"] and "private" in shown["Cache-Control"]
    draft, _ = factories.make_stream(account, active=False)
    created = signed_in.post(
        f"/streams/{draft.public_id}/step/4/", {"action": "create"}, follow=True
    )
    assert 'id="api-token">ots_' in created.content.decode()
    assert "no-store" in created["Cache-Control"]
