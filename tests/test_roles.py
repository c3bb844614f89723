"""Roles, generated over every console URL (tests/support/urlwalk.py): a developer or a
viewer who tries to change a stream's security settings gets 403 and nothing changes,
on drafts and active streams; owners and admins can. Developers build drafts and
message content; viewers only read. Members are managed in the console."""

import threading
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from django.test import Client

from gateways.models import Gateway, RouteHop, RouteRule
from streams import services
from streams.models import (
    Budget,
    Contact,
    ContactField,
    ContactImport,
    Membership,
    Stream,
    StreamChange,
)
from tests.support import factories
from tests.support.urlwalk import all_routes, fill

pytestmark = pytest.mark.usefixtures("eager_tasks")

CONSOLE = [r for r in all_routes() if r.area == "console"]

# Everything a hostile member would try in one POST: open the stream to every caller,
# 4-digit codes living a day with 20 attempts, no send limit, another country, free
# text, and (for the pages that take them) the stream disabled and its name changed.
ATTACK = {
    "name": "Hijacked",
    "description": "",
    "allowed_ips": ["0.0.0.0/0"],
    "code_generator": "platform",
    "code_length": "4",
    "code_digits": "on",
    "code_ttl_minutes": "1440",
    "max_attempts": "20",
    "weak_codes_accepted": "on",
    "caller_text_allowed": "on",
    "guard_mode": "shadow",
    "guard_safe_list": "+1 +44",
    "allowed_countries": ["US", "GB", "FR"],
    "every_country": "on",
    "blocked_countries": ["FR"],
    "blocked_prefixes": "+4479",
    "allowed_number_types": ["premium_rate", "international_network"],
    "budget-daily_messages": "1000000",
    "budget-monthly_money": "",
    "enabled": "0",
    "action": "next",
}
# What an owner may change and nobody below an admin may.
GUARDED = (*Stream.SECURITY_SETTINGS, "status", "token_hash")


class RolledBack(Exception):
    pass


def security_state(account) -> dict:
    """Every stream of the account with its security settings (a new stream counts),
    and the budgets of the account and its streams."""
    streams = Stream.objects.filter(account=account).values("pk", *GUARDED).order_by("pk")
    budgets = Budget.objects.filter(account=account).order_by("pk")
    return {
        "streams": {s["pk"]: s for s in streams},
        "budgets": list(budgets.values("stream", "period", "unit", "limit")),
    }


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def team(db):
    account = factories.make_account(name="Team")
    users = {role: factories.make_user(account=account, role=role) for role in Membership.Role}
    sender = factories.make_sender(account, "TeamSnd")
    active, _ = factories.make_stream(
        account,
        name="Live",
        default_sender=sender,
        send_limit_enabled=True,
        allowed_countries=["GB"],
    )
    draft, _ = factories.make_stream(
        account, name="Draft", active=False, send_limit_enabled=True, allowed_countries=["GB"]
    )
    # Budgets to loosen: the account's and each stream's.
    monthly_money = {(Budget.Period.MONTH, Budget.Unit.MONEY): Decimal("50")}
    for stream in (None, active, draft):
        services.save_budgets(account=account, stream=stream, limits=monthly_money)
    contact = Contact.objects.create(account=account, phone="+14155552671")
    contact_import = ContactImport.objects.create(account=account, total_rows=1)
    objects = {"active": active, "draft": draft, "sender": sender, "contact": contact}
    contact_field = ContactField.objects.create(account=account, key="plan", name="Plan")
    endpoint = services.save_webhook_endpoint(stream=active, url="http://127.0.0.1:9/hook")
    gateway = Gateway.objects.create(name="team-sms", kind="console")
    factories.make_route(None, gateway)  # offered to every account
    rule = factories.make_route(account, gateway, country="GB", name="Team GB")
    services.send_test_webhook(endpoint=endpoint)
    return (
        account,
        users,
        {
            **objects,
            "contactimport": contact_import,
            "contactfield": contact_field,
            "endpoint": endpoint,
            "delivery": endpoint.deliveries.first(),
            "gateway": gateway,
            "routerule": rule,
        },
    )


def paths_for(objects: dict, stream: Stream, membership: Membership) -> list[str]:
    """Every console path, filled with ``stream``; the wizard at each of its steps."""
    values = {
        "stream": stream,
        "senderid": objects["sender"],
        "contact": objects["contact"],
        "contactimport": objects["contactimport"],
        "contactfield": objects["contactfield"],
        "membership": membership,
        "endpoint": objects["endpoint"],
        "delivery": objects["delivery"],
        "routerule": objects["routerule"],
    }
    paths = []
    for route in CONSOLE:
        if "step" in route.kwargs:
            filled = fill(route, values)
            paths += [route.path({**filled, "step": step}) for step in (1, 2, 3, 4)]
        else:
            paths.append(route.path(fill(route, values)))
    return paths


def test_only_owners_and_admins_change_security_settings_through_any_console_url(team):
    account, users, objects = team
    owner = signed_in(users[Membership.Role.OWNER])
    attack = {**ATTACK, "sender_choice": str(objects["sender"].pk)}
    failures, guarded_paths = [], set()
    for stream in (objects["active"], objects["draft"]):
        target = Membership.objects.get(user=users[Membership.Role.DEVELOPER])
        for path in paths_for(objects, stream, target):
            # Would an owner change a security setting with this POST? (rolled back)
            before = security_state(account)
            try:
                with transaction.atomic():
                    owner.post(path, attack)
                    owner_changes = security_state(account) != before
                    raise RolledBack
            except RolledBack:
                pass
            assert security_state(account) == before
            if owner_changes:
                guarded_paths.add(path)
            for role in (Membership.Role.DEVELOPER, Membership.Role.VIEWER):
                response = signed_in(users[role]).post(path, attack)
                if security_state(account) != before:
                    failures.append(f"POST {path} as {role} changed a security setting")
                if owner_changes and response.status_code != 403:
                    failures.append(f"POST {path} as {role}: {response.status_code}, not 403")
    assert failures == []
    # The walk reached the pages that hold the settings, for both kinds of stream.
    for stream in (objects["active"], objects["draft"]):
        for step in (1, 2):
            assert f"/streams/{stream.public_id}/step/{step}/" in guarded_paths
    assert "/streams/new/otp/" in guarded_paths
    assert "/budgets/" in guarded_paths
    assert f"/streams/{objects['active'].public_id}/toggle/" in guarded_paths


def route_state(account) -> tuple[list, list]:
    rules = RouteRule.objects.filter(account=account).order_by("pk")
    hops = RouteHop.objects.filter(rule__account=account).order_by("pk")
    return list(rules.values()), list(hops.values())


def test_only_owners_and_admins_change_routes_through_any_console_url(team):
    account, users, objects = team
    owner = signed_in(users[Membership.Role.OWNER])
    # A rule sending everything through the gateway, in every shape a route page takes.
    attack = {
        "name": "Hijacked",
        "channel": "",
        "country": "",
        "prefix": "",
        "priority": "1",
        "mode": "failover",
        "learn_threshold": "0.5",
        "learn_min_sample": "1",
        "learn_probe_percent": "0",
        "hop_0_gateway": str(objects["gateway"].pk),
        "hop_0_weight": "1",
    }
    target = Membership.objects.get(user=users[Membership.Role.DEVELOPER])
    failures, guarded = [], set()
    for path in paths_for(objects, objects["active"], target):
        before = route_state(account)
        try:
            with transaction.atomic():
                owner.post(path, attack)
                owner_changes = route_state(account) != before
                raise RolledBack
        except RolledBack:
            pass
        if owner_changes:
            guarded.add(path)
        for role in (Membership.Role.DEVELOPER, Membership.Role.VIEWER):
            response = signed_in(users[role]).post(path, attack)
            if route_state(account) != before:
                failures.append(f"POST {path} as {role} changed a route")
            if owner_changes and response.status_code != 403:
                failures.append(f"POST {path} as {role}: {response.status_code}, not 403")
    assert failures == []
    pk = objects["routerule"].pk
    assert guarded == {"/routes/new/", f"/routes/{pk}/", f"/routes/{pk}/delete/"}


def test_viewers_read_everything_and_change_nothing(team):
    _account, users, objects = team
    viewer = signed_in(users[Membership.Role.VIEWER])
    target = Membership.objects.get(user=users[Membership.Role.DEVELOPER])
    before_streams = list(Stream.objects.values())
    before_members = list(Membership.objects.values())
    before_budgets = list(Budget.objects.values())
    failures = []
    for path in paths_for(objects, objects["active"], target):
        if path == "/account/switch/":
            continue
        read = viewer.get(path)
        if read.status_code not in (200, 302, 405):
            failures.append(f"GET {path}: {read.status_code}")
        posted = viewer.post(path, {**ATTACK, "role": "owner", "email": "x@example.com"})
        if posted.status_code != 403:
            failures.append(f"POST {path}: {posted.status_code}")
    assert failures == []
    assert list(Stream.objects.values()) == before_streams
    assert list(Membership.objects.values()) == before_members
    assert list(Budget.objects.values()) == before_budgets


def test_a_developer_builds_a_draft_and_its_message_content_but_not_its_policy(team):
    account, users, objects = team
    developer = signed_in(users[Membership.Role.DEVELOPER])
    # Step 1 without the IP list (a developer is not offered it): a new draft.
    created = developer.post(
        "/streams/new/otp/",
        {"name": "Dev draft", "sender_choice": str(objects["sender"].pk), "action": "next"},
    )
    assert created.status_code == 302
    draft = Stream.objects.get(account=account, name="Dev draft")
    assert draft.allowed_ips == [] and draft.status == "draft"
    step2 = developer.get(f"/streams/{draft.public_id}/step/2/").content.decode()
    assert 'id="security-read-only"' in step2
    # The read-only step posts no settings: "Next" passes it with the stream unchanged.
    passed = developer.post(f"/streams/{draft.public_id}/step/2/", {"action": "next"})
    assert passed.status_code == 302
    # One setting alone, whichever, is a change all the same.
    for name, value in (
        ("allowed_countries", ["US"]),
        ("guard_safe_list", "+1"),
        ("code_ttl_minutes", "1440"),
    ):
        response = developer.post(f"/streams/{draft.public_id}/step/2/", {name: value})
        assert response.status_code == 403, name
    draft.refresh_from_db()
    assert (draft.allowed_countries, draft.guard_safe_list) == ([], [])
    content = developer.post(
        f"/streams/{draft.public_id}/step/3/",
        {
            "templates-TOTAL_FORMS": "1",
            "templates-INITIAL_FORMS": "0",
            "templates-MIN_NUM_FORMS": "0",
            "templates-MAX_NUM_FORMS": "1000",
            "templates-0-name": "Log-in",
            "templates-0-key": "login",
            "templates-0-text": "Your code: {{code}}",
            "templates-0-enabled": "on",
            "action": "next",
        },
    )
    assert content.status_code == 302
    assert draft.templates.get().text == "Your code: {{code}}"
    # Creating (activating) the stream is an admin's.
    developer.post(f"/streams/{draft.public_id}/step/4/", {"action": "create"})
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.token_hash is None


def test_every_settings_change_is_in_the_audit_trail_on_the_stream_page(team):
    _account, users, objects = team
    stream = objects["active"]
    admin = signed_in(users[Membership.Role.ADMIN])
    response = admin.post(
        f"/streams/{stream.public_id}/step/2/",
        {
            "code_generator": "platform",
            "code_length": "8",
            "code_digits": "on",
            "code_ttl_minutes": "10",
            "max_attempts": "3",
            "allowed_countries": ["GB"],
            "blocked_prefixes": "+4479",
            "budget-monthly_money": "50",  # as it was
            "budget-daily_messages": "200",
            "action": "next",
        },
    )
    assert response.status_code == 302
    trail = {c.field: (c.before, c.after, c.changed_by_name) for c in stream.changes.all()}
    name = users[Membership.Role.ADMIN].username
    assert trail["code_length"] == (6, 8, name)
    assert trail["code_ttl_seconds"] == (300, 600, name)
    assert trail["max_attempts"] == (5, 3, name)
    assert trail["send_limit_enabled"] == (True, False, name)
    assert trail["blocked_prefixes"] == ([], ["+4479"], name)
    assert trail["budget_daily_messages"] == (None, "200 messages", name)
    assert "allowed_countries" not in trail  # unchanged: not recorded
    # Set by the fixture (the platform), resubmitted as it was: not recorded again.
    assert stream.changes.filter(field="budget_monthly_money").count() == 1
    assert trail["budget_monthly_money"][2] == ""
    page = signed_in(users[Membership.Role.VIEWER]).get(f"/streams/{stream.public_id}/")
    text = page.content.decode()
    assert 'id="audit-trail"' in text and "code_ttl_seconds" in text and name in text
    # A refused change leaves no trace in the trail either.
    count = StreamChange.objects.count()
    signed_in(users[Membership.Role.DEVELOPER]).post(
        f"/streams/{stream.public_id}/step/2/", {**ATTACK, "code_length": "12"}
    )
    assert StreamChange.objects.count() == count


def test_weak_codes_need_an_admins_explicit_acceptance(team):
    _account, users, objects = team
    stream = objects["active"]
    owner = signed_in(users[Membership.Role.OWNER])
    four_digits = {
        "code_generator": "platform",
        "code_length": "4",
        "code_digits": "on",
        "code_ttl_minutes": "5",
        "max_attempts": "5",
        "allowed_countries": ["GB"],
        "action": "next",
    }
    refused = owner.post(f"/streams/{stream.public_id}/step/2/", four_digits)
    assert refused.status_code == 400
    assert "easier to guess than 6 digits (under 20 bits)" in refused.content.decode()
    stream.refresh_from_db()
    assert stream.code_length == 6
    step2 = f"/streams/{stream.public_id}/step/2/"
    assert 'class="warning-box muted" id="weak-code-warning"' in owner.get(step2).content.decode()
    accepted = owner.post(
        f"/streams/{stream.public_id}/step/2/", {**four_digits, "weak_codes_accepted": "on"}
    )
    assert accepted.status_code == 302
    stream.refresh_from_db()
    assert (stream.code_length, stream.weak_codes_accepted) == (4, True)
    # The wizard keeps warning while the stream's codes are weak.
    assert 'class="warning-box" id="weak-code-warning"' in owner.get(step2).content.decode()
    # Six lower-case letters are far stronger than six digits: no acceptance needed.
    letters = {**four_digits, "code_length": "5", "code_lower": "on", "code_digits": ""}
    assert owner.post(f"/streams/{stream.public_id}/step/2/", letters).status_code == 302
    # The service holds the rule whatever the form.
    with pytest.raises(ValidationError):
        services.save_code_handling(
            stream=stream,
            changes={"code_length": 4, "code_digits": True, "code_lower": False,
                     "weak_codes_accepted": False},
        )  # fmt: skip


def test_owners_and_admins_invite_change_roles_and_remove_members(team):
    account, users, _objects = team
    admin = signed_in(users[Membership.Role.ADMIN])
    invited = admin.post("/members/", {"email": "new.dev@example.com", "role": "developer"})
    assert invited.status_code == 200
    link = invited.context["invitation_link"]
    assert "/accounts/reset/" in link
    member = Membership.objects.get(account=account, user__email="new.dev@example.com")
    assert member.role == "developer" and not member.user.has_usable_password()
    # The invitation link lets the new member choose a password and sign in.
    path = link.split("testserver", 1)[1]
    invitee = Client()
    form = invitee.get(path, follow=True)
    set_password = form.redirect_chain[-1][0] if form.redirect_chain else path
    invitee.post(
        set_password, {"new_password1": "Str0ng-passw0rd!", "new_password2": "Str0ng-passw0rd!"}
    )
    assert Client().login(username=member.user.username, password="Str0ng-passw0rd!")

    assert admin.post(f"/members/{member.pk}/role/", {"role": "viewer"}).status_code == 302
    member.refresh_from_db()
    assert member.role == "viewer"
    # Only an owner makes owners.
    assert admin.post(f"/members/{member.pk}/role/", {"role": "owner"}).status_code == 403
    member.refresh_from_db()
    assert member.role == "viewer"
    assert admin.post(f"/members/{member.pk}/remove/").status_code == 302
    assert not Membership.objects.filter(pk=member.pk).exists()
    # Developers manage no one.
    developer = signed_in(users[Membership.Role.DEVELOPER])
    assert (
        developer.post("/members/", {"email": "x@example.com", "role": "admin"}).status_code == 403
    )
    assert not Membership.objects.filter(user__email="x@example.com").exists()


def test_the_last_owner_cannot_be_removed_or_demoted(team):
    _account, users, _objects = team
    owner_user = users[Membership.Role.OWNER]
    owner = signed_in(owner_user)
    mine = Membership.objects.get(user=owner_user)
    owner.post(f"/members/{mine.pk}/role/", {"role": "admin"})
    owner.post(f"/members/{mine.pk}/remove/")
    mine.refresh_from_db()
    assert mine.role == "owner"
    page = owner.get("/members/")
    assert page.status_code == 200


@pytest.mark.django_db(transaction=True)
def test_two_owners_removing_each_other_at_once_leave_one_owner():
    """The race: each owner's request sees the other owner, so each removal alone is
    allowed; the owners' rows are locked while one decides, so one of them stays."""
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    account = factories.make_account()
    first, second = (factories.make_user(account=account, role="owner") for _ in range(2))
    m1, m2 = (Membership.objects.get(user=u) for u in (first, second))
    barrier = threading.Barrier(2)
    outcomes = []

    def remove(by: Membership, target: Membership) -> None:
        try:
            barrier.wait()
            services.remove_member(membership=target, by=by)
            outcomes.append("removed")
        except services.Refused:
            outcomes.append("refused")
        finally:
            connections.close_all()

    threads = [
        threading.Thread(target=remove, args=(m1, m2)),
        threading.Thread(target=remove, args=(m2, m1)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["refused", "removed"]
    assert Membership.objects.filter(account=account, role="owner").count() == 1


@pytest.mark.django_db(transaction=True)
def test_members_become_developers_and_live_streams_start_the_guard_in_shadow():
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    old = [("streams", "0001_initial")]
    executor.migrate(old)
    apps = executor.loader.project_state(old).apps
    account = apps.get_model("streams", "Account").objects.create(name="Old", slug="old")
    user = apps.get_model("auth", "User").objects.create(username="old-member")
    apps.get_model("streams", "Membership").objects.create(
        user_id=user.pk, account=account, role="member"
    )
    apps.get_model("streams", "Stream").objects.create(account=account, name="Live")
    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())
    assert Membership.objects.get(user_id=user.pk).role == "developer"
    live = Stream.objects.get(name="Live")
    assert (live.guard_mode, live.weak_codes_accepted, live.caller_text_allowed) == (
        "shadow",
        False,
        False,
    )
