"""The overview, the controls and the rough edges in a real browser (Debian's Chromium
by Playwright), at desktop and phone widths. Screenshots go to var/e2e-artifacts/."""

import io
import json
import re
from decimal import Decimal

import pytest
import requests

from gateways.models import Gateway, Price
from otp.rollups import refresh_rollups
from streams.models import SenderID, Stream
from tests.support import analytics_data, factories
from tests.support.browser import shot

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}


def sign_in(page, url: str, user) -> None:
    page.goto(url + "/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")


def dangling_descriptions(page) -> list[str]:
    """The ids aria-describedby attributes name that no element of the page has."""
    return page.evaluate(
        """() => [...document.querySelectorAll("[aria-describedby]")].flatMap((el) =>
            el.getAttribute("aria-describedby").split(/\\s+/).filter(Boolean)
              .filter((id) => !document.getElementById(id)).map((id) => `${el.id}: ${id}`))"""
    )


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
    analytics_data.seed_decisions([stream, other], count=80, hours=120)
    refresh_rollups(full=True)
    return account, owner, stream, token


def test_the_overview_draws_its_charts_with_the_apis_numbers(page, live_server, known):
    from playwright.sync_api import expect

    _, owner, stream, token = known
    url = live_server.url
    sign_in(page, url, owner)
    # Signing in lands on the overview: the console's home.
    expect(page.locator("h1")).to_have_text("Overview")
    assert page.url == url + "/"
    expect(page.locator(".mainnav [aria-current=page]")).to_have_text("Overview")
    page.goto(f"{url}/?period=7d&stream={stream.pk}")
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
    # The guard's refusals: the rows the API counts, by code, rule and outcome.
    shown = {
        row.get_attribute("data-refusal"): int(row.locator("td").last.inner_text())
        for row in page.locator("#refusals-table tbody tr").all()
    }
    assert shown and shown == {
        f"{r['code']}:{r['rule']}:{r['outcome']}": r["count"] for r in api["refusals"]
    }
    expect(page.locator("#spend")).to_contain_text(f"{api['estimated_spend']:.2f}")
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

    # Deleting asks first too; cancel keeps, confirm deletes.
    spare = factories.make_sender(stream.account, "Spare")
    page.goto(f"{url}/senders/")
    row = page.locator("tr", has_text="Spare")
    row.locator("button:has-text('Delete')").click()
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Delete Spare?")
    shot(page, "dialog-delete")
    page.click("#confirm-cancel")
    expect(dialog).to_be_hidden()
    assert SenderID.objects.filter(pk=spare.pk).exists()
    row.locator("button:has-text('Delete')").click()
    page.click("#confirm-ok")
    expect(page.locator("tr", has_text="Spare")).to_have_count(0)
    assert not SenderID.objects.filter(pk=spare.pk).exists()
    assert page.errors == []


def test_the_console_fits_a_phone(page, live_server, known):
    _, owner, stream, _ = known
    url = live_server.url
    page.set_viewport_size(PHONE)
    sign_in(page, url, owner)
    draft, _ = factories.make_stream(stream.account, name="Phone draft", active=False)
    for name, path in [
        ("overview", "/?period=30d"),
        ("streams", "/streams/"),
        ("stream", f"/streams/{stream.public_id}/?period=30d"),
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
    expect(page.locator(".facts").first).to_contain_text("7 min to live")
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
    # Every aria-describedby names elements that exist: with errors shown, and on the
    # other steps and the stream page.
    assert dangling_descriptions(page) == []
    for path in [
        *(f"/streams/{draft.public_id}/step/{n}/" for n in (1, 2, 3, 4)),
        f"/streams/{stream.public_id}/",
        "/contact-fields/",
    ]:
        page.goto(url + path)
        assert dangling_descriptions(page) == [], path
    # The refused form answers 400, which Chromium logs; no script error besides.
    assert [e for e in page.errors if "status of 400" not in e] == []


def test_a_streams_page_draws_its_numbers(page, live_server, known):
    from playwright.sync_api import expect

    _, owner, stream, token = known
    url = live_server.url
    sign_in(page, url, owner)
    page.goto(f"{url}/streams/{stream.public_id}/")
    page.click("#stream-numbers")  # jumps to the numbers on the page
    page.select_option("#numbers #id_period", "30d")
    page.click("#numbers button[type=submit]")
    page.wait_for_function("window.overviewCharts && window.overviewCharts.series")
    api = requests.get(
        f"{url}/api/v1/analytics",
        params={"period": "30d"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()
    for name in ("requested", "sent", "delivered", "approved"):
        assert (
            int(page.locator(f"#numbers [data-metric={name}]").inner_text()) == api["totals"][name]
        )
    drawn = page.evaluate("() => window.overviewCharts.series.data.datasets.map((d) => d.data)")
    assert sum(drawn[0]) == api["totals"]["sent"] and sum(drawn[1]) == api["totals"]["approved"]
    countries = page.locator("#by-country tbody th").all_inner_texts()
    assert countries == [r["country"] for r in api["by_country"]]
    gateways = page.locator("#by-gateway tbody th").all_inner_texts()
    assert gateways == [r["gateway"] for r in api["by_gateway"]]
    for canvas in ("series", "funnel", "country", "gateway"):
        box = page.locator(f"#chart-{canvas}").bounding_box()
        assert box["width"] > 100 and box["height"] > 100, canvas
    expect(page.locator("#numbers-in-overview")).to_have_attribute(
        "href", f"/?stream={stream.pk}&period=30d"
    )
    shot(page, "stream-numbers-desktop")
    page.set_viewport_size(PHONE)
    page.reload()
    page.wait_for_function("window.overviewCharts && window.overviewCharts.series")
    assert horizontal_overflow(page) <= 0
    shot(page, "stream-numbers-phone")
    assert page.errors == []


def test_the_message_editor_estimates_the_cost_as_you_type(page, live_server):
    from playwright.sync_api import expect

    from console.previews import describe_cost

    account = factories.make_account(name="Prices Co")
    owner = factories.make_user(account=account, role="owner")
    Price.objects.create(country="US", channel="sms", amount=Decimal("0.0079"))
    Price.objects.create(country="GB", channel="sms", amount=Decimal("0.035"))
    draft, _ = factories.make_stream(
        account, active=False, allowed_countries=["US", "GB", "DE"], code_length=6
    )
    sign_in(page, live_server.url, owner)
    page.goto(f"{live_server.url}/streams/{draft.public_id}/step/3/")
    card = page.locator("[data-template-form]").first
    cost = card.locator("[data-cost]")
    expect(cost).to_have_text("No SMS price for Germany in the price table: no estimate.")
    page.select_option("#cost-country", "US")
    text = page.locator("textarea.template-text").first
    text.fill("Your code is {{code}}")
    costs = json.loads(page.locator("#counter-data").inner_text())["cost"]
    expect(cost).to_have_text(describe_cost(1, "US", costs))
    text.fill("Your code is {{code}} " + "x" * 150)
    expect(card.locator("[data-counter]")).to_contain_text("2 SMS segments")
    expect(cost).to_have_text("≈ 0.0158 EUR a message to United States (2 segments at 0.0079)")
    page.select_option("#cost-country", "GB")
    expect(cost).to_have_text("≈ 0.07 EUR a message to United Kingdom (2 segments at 0.035)")
    shot(page, "editor-cost")
    assert page.errors == []


def test_a_first_account_made_on_the_command_line_signs_in_to_its_overview(page, live_server):
    from django.core.management import call_command
    from playwright.sync_api import expect

    call_command(
        "createaccount",
        account="Fresh Co",
        username="fresh-owner",
        password="a-long-owner-passphrase",
        stdout=io.StringIO(),
    )
    page.goto(live_server.url + "/")
    page.fill("#id_username", "fresh-owner")
    page.fill("#id_password", "a-long-owner-passphrase")
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("Overview")
    expect(page.locator(".account-name")).to_have_text("Fresh Co")
    page.click("#overview-empty >> text=Create your first stream")
    expect(page.locator("h1")).to_contain_text("Create stream")
    shot(page, "first-account")
    assert page.errors == []


def test_the_block_list_picker_saves_what_it_shows_on_a_phone(page, live_server):
    from playwright.sync_api import expect

    account = factories.make_account(name="Blocks Co")
    owner = factories.make_user(account=account, role="owner")
    draft, _ = factories.make_stream(account, active=False)
    page.set_viewport_size(PHONE)
    sign_in(page, live_server.url, owner)
    page.goto(f"{live_server.url}/streams/{draft.public_id}/step/2/")
    blocked = page.locator("#field-blocked_countries .country-picker")
    expect(page.locator("#id_blocked_countries")).to_be_hidden()
    search = blocked.locator("input[type=search]")
    search.fill("nige")
    expect(blocked.locator("[data-country=NG]")).to_have_text("Nigeria (NG, +234)")
    blocked.locator("[data-country=NG]").click()
    search.fill("indon")
    search.press("Enter")
    expect(blocked.locator(".chips li")).to_have_count(2)
    assert horizontal_overflow(page) <= 0
    shot(page, "phone-block-list")
    page.click("#save-next")
    expect(page.locator("[aria-current=step]")).to_contain_text("Message content")
    draft.refresh_from_db()
    assert sorted(draft.blocked_countries) == ["ID", "NG"]
    assert page.errors == []
