"""Small builders for the objects tests need: each takes keyword overrides."""

import itertools

from django.contrib.auth import get_user_model

from streams import services as stream_services
from streams.models import Account, EventTemplate, Membership, SenderID, Stream

_seq = itertools.count(1)

PASSWORD = "correct-horse-battery"


def make_account(**kwargs) -> Account:
    n = next(_seq)
    kwargs.setdefault("name", f"Account {n}")
    kwargs.setdefault("slug", f"account-{n}")
    return Account.objects.create(**kwargs)


def make_user(*, account: Account | None = None, role: str = "owner", **kwargs):
    n = next(_seq)
    kwargs.setdefault("username", f"user{n}")
    kwargs.setdefault("email", f"user{n}@example.com")
    user = get_user_model().objects.create_user(password=PASSWORD, **kwargs)
    if account is not None:
        Membership.objects.create(user=user, account=account, role=role)
    return user


def make_sender(account: Account, value: str = "Acme", **kwargs) -> SenderID:
    sender = SenderID(account=account, value=value, **kwargs)
    sender.full_clean()
    sender.save()
    return sender


def make_stream(
    account: Account | None = None,
    *,
    templates: dict[str, str] | None = None,
    active: bool = True,
    **kwargs,
) -> tuple[Stream, str | None]:
    """A stream with templates (key -> text); active streams come with their token."""
    account = account or make_account()
    kwargs.setdefault("name", f"Stream {next(_seq)}")
    kwargs.setdefault("allowed_ips", ["127.0.0.1", "::1"])
    # The velocity guard records without refusing: tests that send many codes to one
    # number are about something else. Its own tests ask for enforce mode.
    kwargs.setdefault("guard_mode", Stream.GuardMode.SHADOW)
    stream = Stream(account=account, **kwargs)
    stream.full_clean()
    stream.save()
    for key, text in (templates or {"login": "Your code is {{code}}"}).items():
        template = EventTemplate(stream=stream, name=key.title(), key=key, text=text)
        template.full_clean()
        template.save()
    token = stream_services.activate_stream(stream=stream) if active else None
    return stream, token


def make_route(account: Account | None, *gateways, **fields):
    """A routing rule through ``gateways`` in order (``account`` None: a platform rule);
    ``fields``: the rule's (stream, channel, country, prefix, mode, ...) and ``weights``."""
    from gateways.models import RouteHop, RouteRule

    weights = fields.pop("weights", None) or [1] * len(gateways)
    rule = RouteRule(account=account, **fields)
    rule.full_clean()
    rule.save()
    for position, (gateway, weight) in enumerate(zip(gateways, weights, strict=True)):
        RouteHop.objects.create(rule=rule, gateway=gateway, position=position, weight=weight)
    return rule


def add_route_hop(account: Account, gateway):
    """One more gateway at the end of the account's general rule (any channel, country
    and number), the rule made on first use: the account's route, as it was before
    routing rules."""
    from gateways.models import RouteHop, RouteRule

    rule, _ = RouteRule.objects.get_or_create(
        account=account, stream=None, channel="", country="", prefix="", defaults={"name": "Route"}
    )
    return RouteHop.objects.create(rule=rule, gateway=gateway, position=rule.hops.count())
