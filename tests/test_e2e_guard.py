"""The destinations of wizard step 2 in a real browser: the country picker searches by
name, adds and removes countries, and what it shows is what is saved."""

import pytest

from streams.models import Stream
from tests.support import factories
from tests.support.browser import shot  # the browser fixture "page" is in conftest

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_the_country_picker_searches_by_name_and_saves_what_it_shows(page, live_server):
    from playwright.sync_api import expect

    account = factories.make_account(name="Picker Co")
    owner = factories.make_user(account=account, role="owner")
    stream, _ = factories.make_stream(account, active=False, allowed_countries=["US"])
    page.goto(live_server.url + "/")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_server.url}/streams/{stream.public_id}/step/2/")

    allowed = page.locator("#field-allowed_countries .country-picker")
    expect(page.locator("#id_allowed_countries")).to_be_hidden()
    expect(allowed.locator(".chips")).to_contain_text("United States (US, +1)")
    search = allowed.locator("input[type=search]")
    search.fill("fran")
    expect(allowed.locator("[data-country=FR]")).to_have_text("France (FR, +33)")
    search.press("Enter")  # picks the first match, does not submit
    search.fill("ger")
    allowed.locator("[data-country=DE]").click()
    allowed.locator("button[aria-label='Remove United States (US, +1)']").click()
    expect(allowed.locator(".chips li")).to_have_count(2)
    shot(page, "guard-2-destinations")
    page.click("#save-next")
    expect(page.locator("[aria-current=step]")).to_contain_text("Message content")
    stream.refresh_from_db()
    assert stream.allowed_countries == ["FR", "DE"]  # in the list's order: by name
    assert not page.errors, page.errors
    assert Stream.objects.count() == 1
