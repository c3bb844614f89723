"""The rough edges a new admin hit in the console, each as the admin meets it: through
the pages, the commands and what the API answers to what the console shows."""

import json
import os
import re
import signal
import subprocess
import threading
from html.parser import HTMLParser
from io import StringIO

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from streams.models import Account, Contact, ContactField, Membership, Stream
from tests.support import factories
from tests.support.otp_client import OtpClient
from tests.support.services import ROOT, free_port, wait_for
from tests.test_console import code_step, details, templates_step, wizard_url

pytestmark = pytest.mark.usefixtures("eager_tasks")


@pytest.fixture
def signed_in(client, owner):
    client.force_login(owner)
    return client


@pytest.mark.parametrize("action", ["next", "draft"])
def test_the_customized_default_sender_can_be_saved(signed_in, account, action):
    factories.make_sender(account, "Acme")
    response = signed_in.post("/streams/new/otp/", details(sender_choice="", action=action))
    assert response.status_code == 302, response.content.decode()[:3000]
    stream = Stream.objects.get(name="Checkout")
    assert stream.default_sender is None and stream.is_customized_sender
    page = signed_in.get(wizard_url(stream, 1)).content.decode()
    assert re.search(r'<option value="" selected>Customized', page)


def test_applying_changes_to_an_active_stream_says_they_are_live(signed_in, account):
    stream, _ = factories.make_stream(account, code_ttl_seconds=300)
    step = signed_in.get(wizard_url(stream, 2)).content.decode()
    assert "Save as draft" not in step and "Apply changes" in step
    assert "changes its API at once" in step
    response = signed_in.post(
        wizard_url(stream, 2), code_step(code_ttl_minutes="7", action="draft"), follow=True
    )
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == f"/streams/{stream.public_id}/"
    assert "saved and live now" in html and "draft" not in html.lower().split("<main")[1]
    stream.refresh_from_db()
    assert stream.status == "active" and stream.code_ttl_seconds == 420


def test_reloading_after_rotate_neither_rotates_again_nor_shows_the_token(signed_in, account):
    stream, old = factories.make_stream(account, default_sender=factories.make_sender(account))
    posted = signed_in.post(f"/streams/{stream.public_id}/rotate-token/")
    assert posted.status_code == 302 and posted["Location"] == f"/streams/{stream.public_id}/"
    shown = signed_in.get(posted["Location"])
    token = re.search(r'id="api-token">(ots_[\w-]+)<', shown.content.decode()).group(1)
    assert "no-store" in shown["Cache-Control"]
    stream.refresh_from_db()
    issued = stream.token_hash
    reload = signed_in.get(posted["Location"]).content.decode()
    assert token not in reload and 'id="api-token"' not in reload
    stream.refresh_from_db()
    assert stream.token_hash == issued
    assert OtpClient(old).send(recipient="+14155552671").status_code == 401
    assert OtpClient(token).send(recipient="+14155552671").status_code == 201


def _preview(html: str, preview_id: str) -> dict:
    body = re.search(rf'<pre id="{preview_id}-body">(.*?)</pre>', html, re.S).group(1)
    return json.loads(body.replace("&quot;", '"').replace("&#x27;", "'"))


def test_copied_previews_are_valid_requests_with_obvious_samples(signed_in, account):
    ContactField.objects.create(account=account, key="plan", name="Plan")
    stream, token = factories.make_stream(
        account,
        default_sender=factories.make_sender(account),
        templates={"login": "Hi {{first_name}} on {{plan}}, your code is {{code}}"},
    )
    html = signed_in.get(f"/streams/{stream.public_id}/").content.decode()
    assert 'id="preview-send-client"' not in html  # the platform makes this stream's codes
    body = _preview(html, "send-platform")
    assert body["variables"] == {"first_name": "Sample first name", "plan": "Sample plan"}
    sent = OtpClient(token).send(**body)
    assert sent.status_code == 201, sent.content
    outbox = signed_in.get("/outbox/").content.decode()
    assert "Hi Sample first name on Sample plan, your code is" in outbox
    assert "&lt;first_name&gt;" not in outbox
    verify = _preview(html, "verify")
    answer = OtpClient(token).verify(**verify)
    assert answer.status_code == 404  # a well-formed request for a sample id


def test_a_client_generated_stream_previews_only_the_request_it_takes(signed_in, account):
    stream, token = factories.make_stream(
        account, default_sender=factories.make_sender(account), code_generator="client"
    )
    html = signed_in.get(f"/streams/{stream.public_id}/").content.decode()
    assert 'id="preview-send-platform"' not in html
    sent = OtpClient(token).send(**_preview(html, "send-client"))
    assert sent.status_code == 201, sent.content


def test_template_errors_are_said_once_and_only_when_true(signed_in, account):
    stream, _ = factories.make_stream(account, active=False, templates={"old": "{{code}}"})
    response = signed_in.post(
        wizard_url(stream, 3),
        templates_step(("A", "login", "No code here"), ("B", "reset", "{{code}} {{nickname}}")),
    )
    assert response.status_code == 400
    lists = re.findall(r'<ul class="errorlist"[^>]*>(.*?)</ul>', response.content.decode(), re.S)
    first, second = lists
    assert first.count("must contain the OTP code placeholder") == 1
    assert "must contain" not in second and second.count("Unknown placeholder {{nickname}}") == 1


def test_the_time_to_live_is_shown_in_minutes_as_entered(signed_in, account):
    stream, _ = factories.make_stream(account, code_ttl_seconds=300)
    page = signed_in.get(f"/streams/{stream.public_id}/").content.decode()
    summary = signed_in.get(wizard_url(stream, 4)).content.decode()
    assert "5 min" in page and "300 s" not in page
    assert "<dd>5 min</dd>" in summary and "300 s" not in summary


class _Ids(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: set[str] = set()
        self.described: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        if attrs.get("aria-describedby"):
            self.described.extend(attrs["aria-describedby"].split())


def _dangling(html: str) -> list[str]:
    parser = _Ids()
    parser.feed(html)
    return [i for i in parser.described if i not in parser.ids]


def test_aria_describedby_points_at_ids_that_exist(signed_in, account):
    stream, _ = factories.make_stream(account, active=False)
    contact = Contact.objects.create(account=account, phone="+14155552671")
    pages = [signed_in.get(wizard_url(stream, step)) for step in (1, 2, 3, 4)] + [
        signed_in.get("/streams/new/otp/"),
        signed_in.get("/senders/"),
        signed_in.get("/contacts/new/"),
        signed_in.get(f"/contacts/{contact.pk}/"),
        signed_in.get("/contacts/import/"),
        signed_in.get("/contact-fields/"),
        # With errors: the error lists are described too.
        signed_in.post("/streams/new/otp/", details(name="", new_sender_value="x")),
        signed_in.post(wizard_url(stream, 2), code_step(code_length="99", code_digits="")),
        signed_in.post(wizard_url(stream, 3), templates_step(("A", "bad key", "no code"))),
        signed_in.post("/contact-fields/", {"name": "", "key": "Bad Key"}),
    ]
    described = 0
    for response in pages:
        html = response.content.decode()
        described += html.count("aria-describedby")
        assert _dangling(html) == [], response.request["PATH_INFO"]
    assert described > 10


def test_custom_contact_fields_are_made_in_the_console(signed_in, account):
    response = signed_in.post("/contact-fields/", {"name": "Plan", "key": "plan"}, follow=True)
    assert "use it as {{plan}}" in response.content.decode()
    assert account.custom_field_keys() == ["plan"]
    bad = signed_in.post("/contact-fields/", {"name": "Code", "key": "code"})
    assert bad.status_code == 400 and "built-in placeholder" in bad.content.decode()
    again = signed_in.post("/contact-fields/", {"name": "Plan", "key": "plan"})
    assert again.status_code == 400 and "already has a field" in again.content.decode()
    # The field is a contact column and a placeholder of templates at once.
    form = signed_in.get("/contacts/new/").content.decode()
    assert 'name="custom_plan"' in form
    signed_in.post("/contacts/new/", {"phone": "+14155552671", "custom_plan": "Gold"})
    assert Contact.objects.get().custom_fields == {"plan": "Gold"}
    stream, _ = factories.make_stream(account, templates={"login": "{{plan}}: {{code}}"})
    field = ContactField.objects.get()
    refused = signed_in.post(f"/contact-fields/{field.pk}/delete/", follow=True)
    assert stream.name in refused.content.decode() and ContactField.objects.exists()
    stream.templates.update(text="{{code}}")
    signed_in.post(f"/contact-fields/{field.pk}/delete/")
    assert not ContactField.objects.exists() and Contact.objects.get().custom_fields == {}


def test_the_demo_prints_the_address_it_is_served_at(db):
    out = StringIO()
    call_command("demo", base_url="http://127.0.0.1:8801", stdout=out)
    text = out.getvalue()
    assert "http://127.0.0.1:8801/" in text and "curl -X POST http://127.0.0.1:8801/api" in text
    assert ":8000" not in text


def test_the_makefile_passes_host_and_port_to_the_demo():
    from pathlib import Path

    makefile = (Path(__file__).resolve().parent.parent / "Makefile").read_text()
    assert "manage.py demo --base-url http://$(HOST):$(PORT)" in makefile
    assert "runserver $(HOST):$(PORT)" in makefile


def test_createaccount_makes_an_account_and_its_owner_without_demo_data(db, client):
    out = StringIO()
    call_command(
        "createaccount",
        account="Acme Inc",
        username="alice",
        email="alice@acme.example",
        password="a-long-owner-passphrase",
        stdout=out,
    )
    account = Account.objects.get()
    assert (account.name, account.slug) == ("Acme Inc", "acme-inc")
    assert Membership.objects.get().role == "owner"
    assert not Stream.objects.exists() and not account.sender_ids.exists()
    assert "alice is its owner" in out.getvalue()
    assert client.login(username="alice", password="a-long-owner-passphrase")
    assert client.get("/").status_code == 200
    with pytest.raises(CommandError, match=r"too short|too common"):
        call_command("createaccount", account="Beta", username="bob", password="abc")
    with pytest.raises(CommandError, match="password does not match"):
        call_command("createaccount", account="Gamma", username="alice", password="wrong-one!!")
    assert Account.objects.count() == 1 and get_user_model().objects.count() == 1


@pytest.mark.slow
def test_make_run_on_another_port_prints_the_address_it_serves(tmp_path):
    port = free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
    }
    env["VAR_DIR"] = str(tmp_path)  # its own SQLite database and keys
    proc = subprocess.Popen(
        ["make", "run", f"PORT={port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    printed: list[str] = []
    threading.Thread(target=lambda: printed.extend(proc.stdout), daemon=True).start()
    try:
        wait_for(lambda: any("Content-Type" in line for line in printed), timeout=180)
        text = "".join(printed)
        console = re.search(r"Console:\s+(\S+)", text).group(1)
        send = re.search(r"curl -X POST (\S+)", text).group(1)
        token = re.search(r"API token:\s+(\S+)", text).group(1)
        assert console == f"http://127.0.0.1:{port}/" and ":8000" not in text
        page = wait_for(lambda: _get(console), timeout=60, message=lambda: "".join(printed))
        assert page.status_code == 200 and "Sign in" in page.text
        # The printed curl line, as printed, reaches the served API.
        answer = requests.post(
            send,
            json={"recipient": "+14155552671", "event": "login"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=10,
        )
        assert answer.status_code == 201, answer.text
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _get(url: str):
    try:
        return requests.get(url, timeout=5)
    except requests.ConnectionError:
        return None
