"""The overview, the controls and the rough edges in a real browser (Debian's Chromium
by Playwright), at desktop and phone widths. Screenshots go to var/e2e-artifacts/."""

import json
import re

import pytest
import requests

from gateways.models import Gateway
from otp.rollups import refresh_rollups
from streams.models import Stream
from tests.support import analytics_data, factories
from tests.support.browser import shot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def sign_in(page, url: str, user) -> None:
    page.goto(url + "/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")


def horizontal_overflow(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.fixture
def known(live_server):
    account = factories.make_account(name="Numbers Co")
    owner = factories.make_user(account=account, role="owner")
    stream, token = factories.make_stream(
        account, name="Checkout codes", default_sender=factories.make_sender(account)
    )
    other, _ = factories.make_stream(account, name="Sign-up codes")
    gateways = [
        Gateway.objects.create(name="Primary SMSC", kind=Gateway.Kind.NOOP),
        Gateway.objects.create(name="Fallback SMSC", kind=Gateway.Kind.NOOP),
    ]
    analytics_data.seed(account, [stream, other], gateways, count=400, hours=120)
    refresh_rollups(full=True)
    return account, owner, stream, token


def test_the_overview_draws_its_charts_with_the_apis_numbers(page, live_server, known):
    from playwright.sync_api import expect

    _, owner, stream, token = known
    url = live_server.url
    sign_in(page, url, owner)
    page.goto(f"{url}/?period=7d&stream={stream.pk}")
    expect(page.locator("h1")).to_have_text("Overview")
    page.wait_for_function("window.overviewCharts && Object.keys(window.overviewCharts).length")
    api = requests.get(
        f"{url}/api/v1/analytics",
        params={"period": "7d"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    for name in ("requested", "sent", "delivered", "approved"):
        shown = page.locator(f"[data-metric={name}]").inner_text()
        assert int(shown) == api["totals"][name], name
    drawn = page.evaluate(
        """() => Object.fromEntries(Object.entries(window.overviewCharts).map(
            ([k, c]) => [k, c.data.datasets.map((d) => d.data)]))"""
    )
    assert sum(drawn["series"][0]) == api["totals"]["sent"]
    assert sum(drawn["series"][1]) == api["totals"]["approved"]
    totals = api["totals"]
    funnel = [totals["requested"], totals["sent"], totals["delivered"], totals["approved"]]
    assert drawn["funnel"][0] == funnel
    assert drawn["country"][1] == [r["approved_rate"] for r in api["by_country"][:12]]
    for canvas in ("series", "funnel", "country", "gateway"):
        box = page.locator(f"#chart-{canvas}").bounding_box()
        assert box["width"] > 100 and box["height"] > 100, canvas
    # Without colour: the series differ by dash and point shape.
    styles = page.evaluate(
        "() => window.overviewCharts.series.data.datasets"
        ".map((d) => [d.pointStyle, d.borderDash || []])"
    )
    assert styles[0] != styles[1]
    shot(page, "overview-desktop")
    csv = page.locator("#export-csv").get_attribute("href")
    assert csv.startswith("/overview.csv?")
    assert page.errors == []

    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_function("window.overviewCharts")
    assert horizontal_overflow(page) <= 0
    shot(page, "overview-phone")


def test_confirm_dialogs_and_rotate_once(page, live_server, known):
    from playwright.sync_api import expect

    _, owner, stream, _ = known
    url = live_server.url
    sign_in(page, url, owner)
    page.goto(f"{url}/streams/{stream.public_id}/")
    page.click("#disable-stream")
    dialog = page.locator("#confirm-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Its API refuses every request")
    shot(page, "dialog-disable")
    page.click("#confirm-cancel")
    expect(dialog).to_be_hidden()
    stream.refresh_from_db()
    assert stream.status == "active"
    page.click("#disable-stream")
    page.click("#confirm-ok")
    expect(page.locator(".flash")).to_contain_text("is disabled")
    stream.refresh_from_db()
    assert stream.status == "disabled"

    before = stream.token_hash
    page.click("#rotate-token")
    expect(page.locator("#confirm-ok")).to_have_text("Rotate token")
    page.click("#confirm-ok")
    expect(page.locator("#token-dialog")).to_be_visible()
    token = page.locator("#api-token").inner_text().strip()
    stream.refresh_from_db()
    rotated = stream.token_hash
    assert rotated != before
    page.reload()
    expect(page.locator("#token-dialog")).to_have_count(0)
    assert token not in page.content()
    stream.refresh_from_db()
    assert stream.token_hash == rotated
    assert page.errors == []


def test_the_console_fits_a_phone(page, live_server, known):
    _, owner, stream, _ = known
    url = live_server.url
    page.set_viewport_size(PHONE)
    sign_in(page, url, owner)
    draft, _ = factories.make_stream(stream.account, name="Phone draft", active=False)
    for name, path in [
        ("streams", "/"),
        ("stream", f"/streams/{stream.public_id}/"),
        ("wizard-1", f"/streams/{draft.public_id}/step/1/"),
        ("wizard-2", f"/streams/{draft.public_id}/step/2/"),
        ("wizard-3", f"/streams/{draft.public_id}/step/3/"),
        ("wizard-4", f"/streams/{draft.public_id}/step/4/"),
        ("contacts", "/contacts/"),
        ("contact-fields", "/contact-fields/"),
        ("senders", "/senders/"),
    ]:
        page.goto(url + path)
        assert horizontal_overflow(page) <= 0, f"{path} scrolls sideways"
        shot(page, f"phone-{name}")
    assert page.errors == []


def test_the_rough_edges_in_the_browser(page, live_server, known, eager_tasks):
    from playwright.sync_api import expect

    account, owner, stream, token = known
    url = live_server.url
    sign_in(page, url, owner)

    # The Customized sender saves.
    page.goto(url + "/streams/new/otp/")
    page.fill("#id_name", "Per-request sender")
    page.fill("#ip-1", "127.0.0.1")
    page.select_option("#id_sender_choice", "")
    page.click("#save-next")
    expect(page.locator("[aria-current=step]")).to_contain_text("Code handling")
    assert Stream.objects.get(name="Per-request sender").default_sender is None

    # An active stream's changes apply live, behind a confirmation that says so.
    page.goto(f"{url}/streams/{stream.public_id}/step/2/")
    expect(page.locator("#live-notice")).to_be_visible()
    page.fill("#id_code_ttl_minutes", "7")
    page.click("#save-draft")
    expect(page.locator("#confirm-dialog")).to_contain_text("apply to its API at once")
    page.click("#confirm-ok")
    expect(page.locator(".flash")).to_contain_text("saved and live now")
    expect(page.locator(".facts")).to_contain_text("7 min to live")
    shot(page, "edge-live-apply")

    # The copied preview is a valid request with samples; no client-code preview.
    expect(page.locator("#preview-send-client")).to_have_count(0)
    page.click("#copy-send-platform-curl")
    body = page.locator("#send-platform-body").inner_text()
    sent = requests.post(
        f"{url}/api/v1/otp/send",
        json=json.loads(body),
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert sent.status_code == 201, sent.text

    # A contact field made in the console; template errors said once.
    page.goto(url + "/contact-fields/")
    page.fill("#id_name", "Plan")
    page.fill("#id_key", "plan")
    page.click("#add-field")
    expect(page.locator("#contact-fields-table")).to_contain_text("{{plan}}")
    draft, _ = factories.make_stream(account, name="Errors draft", active=False)
    page.goto(f"{url}/streams/{draft.public_id}/step/3/")
    page.locator("textarea.template-text").first.fill("{{code}} {{nickname}}")
    page.click("#save-next")
    errors = page.locator("[data-template-form] .errorlist").first.inner_text()
    assert "Unknown placeholder {{nickname}}" in errors and "must contain" not in errors
    assert re.findall("Unknown placeholder", errors) == ["Unknown placeholder"]
    shot(page, "edge-template-errors")
    # The refused form answers 400, which Chromium logs; no script error besides.
    assert [e for e in page.errors if "status of 400" not in e] == []
