"""Reads of tenancy and stream configuration that need care: always scoped to one
account (the console looks objects up inside these, so another account's are a 404)."""

from django.conf import settings
from django.db.models import Q, QuerySet

from . import phones
from .models import (
    Account,
    Budget,
    Contact,
    ContactField,
    ContactImport,
    Membership,
    SenderID,
    Stream,
    StreamChange,
    WebhookDelivery,
    WebhookEndpoint,
)


def memberships_of(user) -> list[Membership]:
    """The user's accounts, by name: the account switcher's choices."""
    return list(
        Membership.objects.filter(user=user).select_related("account").order_by("account__name")
    )


def account_streams(account: Account) -> QuerySet[Stream]:
    """The account's streams, newest first, with what the streams table shows."""
    return (
        Stream.objects.filter(account=account)
        .select_related("default_sender")
        .prefetch_related("tags")
        .order_by("-created_at", "-id")
    )


def account_senders(account: Account) -> QuerySet[SenderID]:
    return SenderID.objects.filter(account=account)


def account_contacts(account: Account, search: str = "") -> QuerySet[Contact]:
    """The account's contacts by name; ``search`` matches phone, first or last name."""
    contacts = Contact.objects.filter(account=account).order_by("last_name", "first_name")
    if search:
        contacts = contacts.filter(
            Q(phone__icontains=search)
            | Q(first_name__icontains=search)
            | Q(last_name__icontains=search)
        )
    return contacts


def stream_webhook_endpoints(stream: Stream) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(stream=stream).order_by("created_at", "id")


def endpoint_deliveries(endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    """An endpoint's delivery log, newest first, with each delivery's event."""
    return WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").order_by("-id")


def stream_changes(stream: Stream) -> QuerySet[StreamChange]:
    """The stream's audit trail, newest first."""
    return StreamChange.objects.filter(stream=stream).order_by("-changed_at", "-id")


def account_members(account: Account) -> QuerySet[Membership]:
    """The account's members by role, then name."""
    return (
        Membership.objects.filter(account=account)
        .select_related("user")
        .order_by("role", "user__username")
    )


def account_contact_fields(account: Account) -> QuerySet[ContactField]:
    return ContactField.objects.filter(account=account).order_by("key")


def proposed_countries(account: Account) -> list[str]:
    """The allowlist the wizard proposes to a new stream: the countries the account's
    other streams send to, else ``OTP_DEFAULT_COUNTRIES``, else the country of the
    platform's language (en-us: US). The admin confirms or changes it."""
    countries: set[str] = set()
    for allowed in Stream.objects.filter(account=account).values_list(
        "allowed_countries", flat=True
    ):
        countries.update(allowed or [])
    if not countries:
        countries.update(settings.OTP_DEFAULT_COUNTRIES)
    if not countries:
        region = settings.LANGUAGE_CODE.partition("-")[2].upper()
        countries.add(region if phones.is_region(region) else "US")
    return sorted(countries)


def budgets_of(account: Account, stream: Stream | None = None) -> dict[tuple[str, str], Budget]:
    """The budgets of ``stream`` (or of the whole account), by (period, unit)."""
    budgets = Budget.objects.filter(account=account, stream=stream)
    return {(b.period, b.unit): b for b in budgets}


def account_imports(account: Account) -> QuerySet[ContactImport]:
    return ContactImport.objects.filter(account=account).defer("data")
