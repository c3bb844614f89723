"""The console in a real browser (Debian's Chromium driven by Playwright): sign in,
build a stream through the four steps, leave and resume the draft, watch the counter,
insert a placeholder, copy a preview, create the stream, read the token from the
dialog, then use it with the API to send a code, read it in the outbox and verify it.
Screenshots of each step go to var/e2e-artifacts/."""

import re

import pytest
import requests

from streams.models import Stream
from tests.support import factories
from tests.support.browser import shot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_build_a_stream_in_the_browser_and_use_its_token(page, live_server, eager_tasks):
    from playwright.sync_api import expect

    account = factories.make_account(name="Browser Co")
    owner = factories.make_user(account=account, role="owner")
    url = live_server.url

    # Sign in
    page.goto(url + "/")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    # Home is the overview; a new account is pointed at its first stream.
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator("#overview-empty")).to_contain_text("Create your first stream")
    page.click(".mainnav >> text=Streams")
    expect(page.locator("h1")).to_have_text("OTP streams")

    # Create stream: the type, then step 1
    page.click("text=Create stream")
    page.click("button:has-text('Continue')")
    page.fill("#id_name", "Browser log-in")
    page.fill("#id_description", "Made in Chromium")
    page.fill("#ip-1", "127.0.0.1")
    page.click("#add-ip")
    page.fill("#ip-2", "10.0.0.0/8")
    page.click("#add-ip")
    page.fill("#ip-3", "192.0.2.1")
    page.locator(".ip-row").nth(2).locator("[data-remove-ip]").click()
    expect(page.locator(".ip-row")).to_have_count(2)
    page.fill("#id_new_tags", "web")
    page.select_option("#id_sender_choice", "new")
    expect(page.locator("#id_new_sender_value")).to_be_visible()
    page.fill("#id_new_sender_value", "BrowserCo")
    shot(page, "1-details")
    page.click("#save-next")

    # Step 2: hidden fields follow the choices; then leave as a draft
    expect(page.locator("[aria-current=step]")).to_contain_text("Code handling")
    expect(page.locator("#platform-fields")).to_be_visible()
    page.check("input[name=code_generator][value=client]")
    expect(page.locator("#platform-fields")).to_be_hidden()
    page.check("input[name=code_generator][value=platform]")
    expect(page.locator("#limit-fields")).to_be_hidden()
    page.check("#id_send_limit_enabled")
    expect(page.locator("#limit-fields")).to_be_visible()
    page.fill("#id_code_length", "6")
    shot(page, "2-code")
    page.click("#save-draft")
    expect(page.locator("#streams-table")).to_contain_text("resume at step 2")

    # Sign out and in again: the draft survives and resumes at step 2
    page.click("button:has-text('Sign out')")
    page.goto(url + "/")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.click(".mainnav >> text=Streams")
    page.click("#streams-table a:has-text('Browser log-in')")
    expect(page.locator("[aria-current=step]")).to_contain_text("Code handling")
    page.click("#save-next")

    # Step 3: the counter, the Unicode warning, a placeholder at the cursor
    expect(page.locator("[aria-current=step]")).to_contain_text("Message content")
    text = page.locator("textarea.template-text").first
    card = page.locator("[data-template-form]").first
    text.fill("Your code is {{code}}")
    expect(card.locator("[data-counter]")).to_have_text("19 characters · 1 SMS segment · GSM-7")
    expect(card.locator("[data-unicode-warning]")).to_be_hidden()
    text.fill("Your code is {{code}} " + "x" * 150)
    expect(card.locator("[data-counter]")).to_contain_text("2 SMS segments · GSM-7")
    text.fill("Ваш код {{code}}")
    expect(card.locator("[data-unicode-warning]")).to_be_visible()
    expect(card.locator("[data-counter]")).to_contain_text("Unicode")
    text.fill("Hi , your code is {{code}}")
    text.evaluate("el => el.setSelectionRange(3, 3)")
    card.locator("[data-insert='{{first_name}}']").click()
    expect(text).to_have_value("Hi {{first_name}}, your code is {{code}}")
    page.click("#add-template")
    second = page.locator("[data-template-form]").nth(1)
    second.locator("input[name$='-name']").fill("Password reset")
    second.locator("input[name$='-key']").fill("reset")
    second.locator("textarea").fill("Reset code {{code}}")
    shot(page, "3-content")
    page.click("#save-next")

    # Step 4: the summary and previews; copy the curl line
    expect(page.locator("[aria-current=step]")).to_contain_text("Summary")
    expect(page.locator(".summary")).to_contain_text("127.0.0.1")
    expect(page.locator(".summary")).to_contain_text("Password reset")
    page.click("#copy-send-platform-curl")
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith(f"curl -X POST '{url}/api/v1/otp/send'") or copied.startswith(
        f"curl -X POST {url}/api/v1/otp/send"
    )
    assert '"event": "login"' in copied
    shot(page, "4-summary")
    page.click("#create-stream")

    # The token, once, in a dialog
    dialog = page.locator("#token-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("will not be shown again")
    token = page.locator("#api-token").inner_text().strip()
    assert re.fullmatch(r"ots_[\w-]{43}", token)
    shot(page, "5-token")
    page.click("#token-done")
    expect(page.locator("#streams-table tbody tr").first).to_contain_text("Browser log-in")
    expect(page.locator("#streams-table tbody tr").first).to_contain_text("Active")
    assert token not in page.content()
    assert Stream.objects.get(name="Browser log-in").status == "active"

    # Use the token: send, read the code in the outbox, verify
    api = f"{url}/api/v1/otp"
    headers = {"Authorization": f"Bearer {token}"}
    sent = requests.post(
        f"{api}/send",
        json={"recipient": "+14155552671", "event": "login", "variables": {"first_name": "Ada"}},
        headers=headers,
        timeout=10,
    )
    assert sent.status_code == 201, sent.text
    page.click("text=Outbox")
    row = page.locator("table tbody tr").first
    expect(row).to_contain_text("Hi Ada, your code is")
    code = re.search(r"your code is (\w+)", row.inner_text()).group(1)
    shot(page, "6-outbox")
    verified = requests.post(
        f"{api}/verify", json={"id": sent.json()["id"], "code": code}, headers=headers, timeout=10
    )
    assert verified.status_code == 200 and verified.json()["status"] == "approved"
    assert page.errors == []


def test_variants_side_by_side_with_live_counters_and_previews(page, live_server):
    from playwright.sync_api import expect

    account = factories.make_account(name="Browser Co")
    owner = factories.make_user(account=account, role="owner")
    stream, _ = factories.make_stream(
        account, default_sender=factories.make_sender(account, "Acme"), active=False
    )
    page.goto(live_server.url + "/")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/streams/{stream.public_id}/step/3/")
    card = page.locator("[data-template-form]").first
    default = card.locator("[data-default-variant]")
    # Smart encoding: a curly apostrophe stays GSM-7, and the counter says what it saved.
    card.locator("textarea.template-text").first.fill("It\u2019s {{code}}")
    expect(default.locator("[data-counter]")).to_have_text(
        "11 characters · 1 SMS segment · GSM-7 · smart encoding replaced 1 character "
        "(GSM-7 instead of Unicode)"
    )
    # A language of its own, with its counter and preview; WebOTP joins the preview live.
    card.locator("[data-add-variant]").click()
    variant = card.locator("[data-variant]").nth(1)
    variant.locator("input[type=text]").fill("fr")
    variant.locator("textarea").fill("{{brand}} : code {{code}}, valable {{expires_in}}")
    page.fill("#id_message-webotp_domain", "login.example.com")
    expect(variant.locator("[data-preview]")).to_have_text(
        "Browser Co : code 482913, valable 5 minutes\n\n@login.example.com #482913"
    )
    # The SMS Retriever limit is shown before saving, and refused when saving.
    page.check("#id_message-retriever_enabled")
    page.fill("#id_message-retriever_app_hash", "FA+9qCX9VSu")
    variant.locator("textarea").fill("{{code}} " + "x" * 150)
    expect(variant.locator("[data-autofill-warning]")).to_be_visible()
    shot(page, "3-variants")
    page.click("#save-next")
    expect(page.locator(".errorlist").first).to_contain_text("140")
    variant = page.locator("[data-variant]").nth(1)
    variant.locator("textarea").fill("Code {{code}}")
    page.click("#save-next")
    expect(page.locator("[aria-current=step]")).to_contain_text("Summary")
    expect(page.locator("#message-previews")).to_contain_text("@login.example.com #482913")
    # No script error (the refused save's 400 is the only message the console logs).
    assert [e for e in page.errors if "status of 400" not in e] == []
    stream.refresh_from_db()
    assert stream.templates.get().variants == {"fr": "Code {{code}}"}
