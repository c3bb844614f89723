"""Writes on streams and their accounts, named as the product names them."""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import ProtectedError
from django.utils import timezone
from django.utils.text import slugify

from . import placeholders, webhooks
from .models import (
    Account,
    Budget,
    Contact,
    ContactField,
    EventTemplate,
    Membership,
    SenderID,
    Stream,
    StreamChange,
    Tag,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from .tokens import issue_token

DEMO_USERNAME = "admin"
DEMO_PASSWORD = "otp-streams-demo"  # noqa: S105 - printed by `manage.py demo`, development only
DEMO_STREAM_NAME = "Demo log-in"


class Refused(Exception):
    """A change the object's state does not allow. The message is for the user, as
    the console shows it."""


class NotAllowed(PermissionDenied):
    """A change the member's role does not allow (the console answers 403). Raised
    before anything is written."""


# ``by``: the member making a change from the console; ``None`` is the platform itself
# (the demo command, the admin's operators, tests), trusted and recorded as such.


def _require_manager(by: Membership | None, what: str) -> None:
    if by is not None and not by.can_manage:
        raise NotAllowed(f"Only owners and admins can {what}.")


def _require_editor(by: Membership | None) -> None:
    if by is not None and not by.can_edit:
        raise NotAllowed("Viewers cannot change anything.")


def _require_may_change(by: Membership | None, changed: Iterable[str]) -> None:
    """Viewers change nothing; developers change no security setting."""
    _require_editor(by)
    security = [name for name in changed if name in Stream.SECURITY_SETTINGS]
    if security and by is not None and not by.can_manage:
        raise NotAllowed(
            "Only owners and admins can change security settings (" + ", ".join(security) + ")."
        )


def _plain(stream: Stream, name: str) -> object:
    """A setting as the audit trail keeps it: JSON, and readable."""
    if name == "default_sender":
        return stream.default_sender.value if stream.default_sender_id else None
    return getattr(stream, name)


def _settings_of(stream: Stream, names: Iterable[str]) -> dict[str, object]:
    return {name: _plain(stream, name) for name in names}


def _stored(stream: Stream) -> Stream:
    """The stream as committed, locked until the change commits: a form may have
    changed the instance in memory already, and what changes is judged against what
    is stored."""
    if stream.pk is None:
        return Stream()
    return (
        Stream.objects.select_for_update(of=("self",))
        .select_related("default_sender")
        .get(pk=stream.pk)
    )


def record_stream_changes(
    *,
    stream: Stream,
    by: Membership | None,
    before: Mapping[str, object],
    after: Mapping[str, object],
    user=None,
) -> list[StreamChange]:
    """Keep every setting whose value changed in the stream's audit trail. ``user``
    names the changer when there is no membership (an operator in the admin)."""
    user = by.user if by is not None else user
    rows = [
        StreamChange(
            stream=stream,
            changed_by=user,
            changed_by_name=user.get_username() if user is not None else "",
            field=name,
            before=before.get(name),
            after=after.get(name),
        )
        for name in after
        if before.get(name) != after.get(name)
    ]
    return StreamChange.objects.bulk_create(rows)


@transaction.atomic
def rotate_token(*, stream: Stream, by: Membership | None = None) -> str:
    """Issue a new API token for ``stream`` and return it: the only time it is seen.
    The old token stops working as soon as this commits."""
    _require_manager(by, "rotate tokens")
    if stream.status == Stream.Status.DRAFT:
        raise Refused("A draft gets its token when it is created.")
    before = stream.token_prefix or None
    token = issue_token()
    stream.set_token(token)
    stream.save(update_fields=["token_hash", "token_prefix", "token_issued_at", "updated_at"])
    record_stream_changes(
        stream=stream, by=by, before={"token": before}, after={"token": stream.token_prefix}
    )
    return token.plaintext


@transaction.atomic
def activate_stream(*, stream: Stream, by: Membership | None = None) -> str:
    """Finish the wizard: the stream goes live and gets its first token. It needs an
    enabled event template, or every auth request would be refused."""
    _require_manager(by, "create streams")
    if not stream.templates.filter(enabled=True).exists():
        raise Refused("Add at least one enabled event template first.")
    before = stream.status
    stream.status = Stream.Status.ACTIVE
    stream.wizard_step = Stream.WizardStep.SUMMARY
    stream.save(update_fields=["status", "wizard_step", "updated_at"])
    # A draft had no status a caller saw: the trail says the stream went live.
    was = None if before == Stream.Status.DRAFT else before
    record_stream_changes(
        stream=stream, by=by, before={"status": was}, after={"status": stream.status}
    )
    return rotate_token(stream=stream, by=by)


@transaction.atomic
def ensure_demo() -> tuple[Stream, str]:
    """The demo account, user, sender ID, contact and active stream, created once;
    returns the stream and a freshly issued token (each call rotates it)."""
    User = get_user_model()
    account, _ = Account.objects.get_or_create(slug="demo", defaults={"name": "Demo account"})
    user = User.objects.filter(username=DEMO_USERNAME).first()
    if user is None:
        user = User.objects.create_superuser(
            DEMO_USERNAME, email="admin@example.com", password=DEMO_PASSWORD
        )
    Membership.objects.get_or_create(
        user=user, account=account, defaults={"role": Membership.Role.OWNER}
    )
    sender, _ = SenderID.objects.get_or_create(
        account=account, value="OTPDemo", defaults={"kind": SenderID.Kind.ALPHANUMERIC}
    )
    Contact.objects.get_or_create(
        account=account,
        phone="+14155552671",
        defaults={"first_name": "Ada", "last_name": "Lovelace"},
    )
    stream = Stream.objects.filter(account=account, name=DEMO_STREAM_NAME).first()
    if stream is None:
        stream = Stream(
            account=account,
            name=DEMO_STREAM_NAME,
            description="Created by `manage.py demo`: log-in codes for the demo app.",
            allowed_ips=["127.0.0.1", "::1"],
            default_sender=sender,
            # The demo is tried with made-up numbers that never convert: the velocity
            # guard records what it would refuse (see the stream page) but refuses nothing.
            guard_mode=Stream.GuardMode.SHADOW,
        )
        stream.full_clean()
        stream.save()
        template = EventTemplate(
            stream=stream,
            name="Log-in",
            key="login",
            text="Hi {{first_name}}, your log-in code is {{code}}. It expires in 5 minutes.",
        )
        template.full_clean()
        template.save()
    token = activate_stream(stream=stream)
    return stream, token


@transaction.atomic
def create_account_with_owner(
    *, name: str, slug: str, username: str, email: str, password: str
) -> tuple[Account, object]:
    """A real account and its first user, its owner (``manage.py createaccount``). An
    existing user is made owner of the new account only if the password matches, so
    the command cannot hand someone else's user an account."""
    User = get_user_model()
    account = Account(name=name.strip(), slug=slug or slugify(name)[:50])
    try:
        account.full_clean()
    except ValidationError as exc:
        errors = "; ".join(f"{k}: {' '.join(v)}" for k, v in exc.message_dict.items())
        raise Refused(errors) from None
    user = User.objects.filter(username=username).first()
    if user is None:
        user = User(username=username, email=email)
        try:
            validate_password(password, user)
        except ValidationError as exc:
            raise Refused(" ".join(exc.messages)) from None
        user.set_password(password)
        user.full_clean()
        user.save()
    elif not user.check_password(password):
        raise Refused(f"The user {username} exists and the password does not match.")
    account.save()
    Membership.objects.create(user=user, account=account, role=Membership.Role.OWNER)
    return account, user


# --- The console ---------------------------------------------------------------------


@transaction.atomic
def save_stream_details(
    *,
    stream: Stream,
    account: Account,
    name: str,
    description: str,
    allowed_ips: list[str],
    tags: list[Tag],
    new_tag_names: list[str],
    default_sender: SenderID | None,
    new_sender: SenderID | None = None,
    by: Membership | None = None,
) -> Stream:
    """Wizard step 1. A new stream is created here, as a draft; new tags and a new
    sender ID are added to the account on the spot. The allowed IPs are a security
    setting: a developer may create a draft and name it, not open it to callers."""
    fields = ("name", "description", "allowed_ips", "default_sender")
    stored = _stored(stream)
    before = _settings_of(stored, fields)
    before["tags"] = sorted(stored.tags.values_list("name", flat=True)) if stored.pk else []
    if sorted(before["allowed_ips"]) != sorted(allowed_ips):
        _require_may_change(by, ["allowed_ips"])
    _require_editor(by)
    if new_sender is not None:
        new_sender.account = account
        new_sender.save()
        default_sender = new_sender
    stream.account = account
    stream.name = name
    stream.description = description
    stream.allowed_ips = allowed_ips
    stream.default_sender = default_sender
    stream.full_clean()
    stream.save()
    created = [Tag.objects.get_or_create(account=account, name=n)[0] for n in new_tag_names]
    stream.tags.set([*tags, *created])
    after = _settings_of(stream, fields)
    after["tags"] = sorted(t.name for t in [*tags, *created])
    record_stream_changes(stream=stream, by=by, before=before, after=after)
    return stream


def reach_step(stream: Stream, step: int) -> None:
    """Remember how far a draft got: the wizard reopens it there
    (``Stream.reached_step``). An active stream has no step to remember."""
    if stream.status == Stream.Status.DRAFT and step > stream.wizard_step:
        stream.wizard_step = step
        stream.save(update_fields=["wizard_step", "updated_at"])


CODE_HANDLING_FIELDS = (
    "code_generator",
    "code_length",
    "code_digits",
    "code_upper",
    "code_lower",
    "code_special",
    "code_ttl_seconds",
    "max_attempts",
    "send_limit_enabled",
    "send_limit_count",
    "send_limit_cooldown_minutes",
    "resend_policy",
    "resend_grace_seconds",
    "fallback_channel",
    "fallback_trigger",
    "fallback_after_seconds",
    "weak_codes_accepted",
    "caller_text_allowed",
    "guard_mode",
    "guard_safe_list",
)


@transaction.atomic
def save_code_handling(
    *, stream: Stream, changes: Mapping[str, object], by: Membership | None = None
) -> Stream:
    """Wizard step 2: who generates the code, its shape and life, the send limit,
    the resend policy and the channel fallback, the guard.
    Settings not in ``changes`` keep their value. All of them are
    security settings: only owners and admins change them (resending the same values
    is no change)."""
    unknown = set(changes) - set(CODE_HANDLING_FIELDS)
    if unknown:
        raise ValueError(f"not code-handling settings: {', '.join(sorted(unknown))}")
    before = _settings_of(_stored(stream), changes)
    _require_may_change(by, [name for name, value in changes.items() if before[name] != value])
    for name, value in changes.items():
        setattr(stream, name, value)
    untouched = [f.name for f in Stream._meta.concrete_fields if f.name not in changes]
    # The entropy floor depends on the length, the alphabet and the acceptance together.
    untouched = [name for name in untouched if name not in CODE_HANDLING_FIELDS]
    stream.full_clean(exclude=untouched)  # the rules of what changes, and the model's
    stream.save(update_fields=[*changes, "updated_at"])
    record_stream_changes(stream=stream, by=by, before=before, after=_settings_of(stream, changes))
    return stream


@transaction.atomic
def save_destinations(
    *,
    stream: Stream,
    allowed_countries: Sequence[str],
    blocked_countries: Sequence[str],
    blocked_prefixes: Sequence[str],
    allowed_number_types: Sequence[str],
    by: Membership | None = None,
) -> Stream:
    """Where the stream's messages may go (wizard step 2; security settings: owners and
    admins only): the country allowlist (empty: every country) and blocklist, the
    blocked number prefixes, and the number types refused by default it may reach."""
    names = ("allowed_countries", "blocked_countries", "blocked_prefixes", "allowed_number_types")
    before = _settings_of(_stored(stream), names)
    wanted = {
        "allowed_countries": list(dict.fromkeys(allowed_countries)),
        "blocked_countries": list(dict.fromkeys(blocked_countries)),
        "blocked_prefixes": list(dict.fromkeys(blocked_prefixes)),
        "allowed_number_types": list(dict.fromkeys(allowed_number_types)),
    }
    _require_may_change(by, [n for n in names if before[n] != wanted[n]])
    stream.allowed_countries = list(dict.fromkeys(allowed_countries))
    stream.blocked_countries = list(dict.fromkeys(blocked_countries))
    stream.blocked_prefixes = list(dict.fromkeys(blocked_prefixes))
    stream.allowed_number_types = list(dict.fromkeys(allowed_number_types))
    fields = ["allowed_countries", "blocked_countries", "blocked_prefixes", "allowed_number_types"]
    untouched = [f.name for f in Stream._meta.concrete_fields if f.name not in fields]
    stream.full_clean(exclude=untouched)
    stream.save(update_fields=[*fields, "updated_at"])
    record_stream_changes(stream=stream, by=by, before=before, after=_settings_of(stream, names))
    return stream


BudgetKey = tuple[str, str]  # (Budget.Period, Budget.Unit)


@transaction.atomic
def save_budgets(
    *,
    account: Account,
    stream: Stream | None = None,
    limits: Mapping[BudgetKey, object],
    by: Membership | None = None,
) -> list[Budget]:
    """Set the budgets of ``stream`` (or, without one, of the whole account): each
    (period, unit) maps to its limit, or ``None`` for no budget. Counters already spent
    in the current period stay: lowering a limit below them stops sends at once.
    Owners and admins only; a stream's budgets are in its audit trail."""
    _require_manager(by, "change budgets")
    if stream is not None and stream.account_id != account.pk:
        raise ValueError("a stream of another account")
    kept, before, after = [], {}, {}
    for (period, unit), limit in limits.items():
        existing = Budget.objects.filter(
            account=account, stream=stream, period=period, unit=unit
        ).first()
        setting = _budget_setting(period, unit)
        before[setting] = existing.describe_limit() if existing is not None else None
        after[setting] = None
        if limit is None:
            if existing is not None:
                existing.delete()
            continue
        budget = existing or Budget(account=account, stream=stream, period=period, unit=unit)
        budget.limit = limit
        budget.full_clean(validate_unique=False)
        budget.save()
        kept.append(budget)
        after[setting] = budget.describe_limit()
    if stream is not None:
        record_stream_changes(stream=stream, by=by, before=before, after=after)
    return kept


def _budget_setting(period: str, unit: str) -> str:
    """A budget's name in the audit trail: ``budget_daily_money``, ..."""
    return f"budget_{Budget.Period(period).label.lower()}_{unit}"


@dataclass
class TemplateChange:
    """One row of the wizard's message content: ``template`` is None for a new one."""

    template: EventTemplate | None
    name: str = ""
    key: str = ""
    text: str = ""
    enabled: bool = True
    delete: bool = False
    variants: dict[str, str] = field(default_factory=dict)
    webotp_domain: str = ""


# Wizard step 3's stream-wide settings: the brand, the default locale, smart encoding,
# the do-not-share line, the autofill formats and the voice call.
MESSAGE_SETTINGS_FIELDS = (
    "brand",
    "default_locale",
    "smart_encoding",
    "do_not_share",
    "webotp_domain",
    "retriever_enabled",
    "retriever_prefix",
    "retriever_app_hash",
    "voice_repeat",
    "voice_rate",
)


@transaction.atomic
def save_templates(
    *,
    stream: Stream,
    changes: Sequence[TemplateChange],
    settings: Mapping[str, object] | None = None,
    by: Membership | None = None,
) -> Stream:
    """Wizard step 3: the message settings (``settings``, see
    :data:`MESSAGE_SETTINGS_FIELDS`) and the event templates, added, edited and
    deleted together.
    Keys may move between rows (two templates swap keys, a new one takes a deleted
    one's): deletions go first, and the templates whose key changes are moved out of
    the way before any takes its new key."""
    _require_editor(by)
    for change in changes:
        if change.template is not None and change.template.stream_id != stream.pk:
            raise ValueError("an event template of another stream")
    before = {f"template {t.pk}": _template_state(t) for t in stream.templates.all()}
    if settings:
        before.update(_settings_of(_stored(stream), settings))
        unknown = set(settings) - set(MESSAGE_SETTINGS_FIELDS)
        if unknown:
            raise ValueError(f"not message settings: {', '.join(sorted(unknown))}")
        for name, value in settings.items():
            setattr(stream, name, value)
        untouched = [f.name for f in Stream._meta.concrete_fields if f.name not in settings]
        stream.full_clean(exclude=untouched)
        stream.save(update_fields=[*settings, "updated_at"])
    for change in changes:
        if change.delete and change.template is not None:
            change.template.delete()
    stored_keys = dict(stream.templates.values_list("pk", "key"))
    for change in changes:
        template = change.template
        if template is not None and not change.delete and stored_keys[template.pk] != change.key:
            template.key = f"~{template.pk}"  # no real key has "~": never seen, not committed
            template.save(update_fields=["key"])
    for change in changes:
        if change.delete:
            continue
        template = change.template or EventTemplate(stream=stream)
        template.name = change.name
        template.key = change.key
        template.text = change.text
        template.variants = dict(change.variants)
        template.webotp_domain = change.webotp_domain
        template.enabled = change.enabled
        template.full_clean()
        template.save()
    after = {f"template {t.pk}": _template_state(t) for t in stream.templates.all()}
    after.update(_settings_of(stream, settings or {}))
    after.update(dict.fromkeys(before.keys() - after.keys()))  # deleted: after is None
    record_stream_changes(stream=stream, by=by, before=before, after=after)
    return stream


def _template_state(template: EventTemplate) -> dict[str, object]:
    return {
        "name": template.name,
        "key": template.key,
        "text": template.text,
        "variants": template.variants,
        "webotp_domain": template.webotp_domain,
        "enabled": template.enabled,
    }


@transaction.atomic
def set_stream_enabled(*, stream: Stream, enabled: bool, by: Membership | None = None) -> Stream:
    """Disable an active stream (its token is refused at once) or enable it again."""
    _require_manager(by, "enable or disable streams")
    if stream.status == Stream.Status.DRAFT:
        raise Refused("Finish the wizard to activate a draft.")
    before = stream.status
    stream.status = Stream.Status.ACTIVE if enabled else Stream.Status.DISABLED
    stream.save(update_fields=["status", "updated_at"])
    record_stream_changes(
        stream=stream, by=by, before={"status": before}, after={"status": stream.status}
    )
    return stream


# --- Sender IDs and contacts ------------------------------------------------------------


@transaction.atomic
def save_sender(
    *, account: Account, value: str, kind: str, sender: SenderID | None = None
) -> SenderID:
    """Add a sender ID to the account, or change ``sender``."""
    sender = sender or SenderID(account=account)
    sender.value = value
    sender.kind = kind
    sender.full_clean()
    sender.save()
    return sender


def delete_sender(*, sender: SenderID) -> None:
    """A sender ID that is a stream's default stays: the stream would lose its sender."""
    try:
        sender.delete()
    except ProtectedError:
        raise Refused(f"“{sender.value}” is the default sender of a stream.") from None


@transaction.atomic
def save_contact(
    *,
    account: Account,
    phone: str,
    first_name: str,
    last_name: str,
    custom_fields: dict[str, str],
    contact: Contact | None = None,
    locale: str | None = None,
) -> Contact:
    """Add a contact to the account, or change ``contact``. ``phone`` is E.164;
    ``locale`` (a BCP 47 tag, "" for none) is kept when ``None``."""
    contact = contact or Contact(account=account)
    contact.phone = phone
    if locale is not None:
        contact.locale = locale
    contact.first_name = first_name
    contact.last_name = last_name
    contact.custom_fields = custom_fields
    contact.full_clean()
    contact.save()
    return contact


def delete_contact(*, contact: Contact) -> None:
    contact.delete()


@transaction.atomic
def add_contact_field(*, account: Account, key: str, name: str) -> ContactField:
    """A custom contact field: a column of the contacts and a placeholder of templates."""
    contact_field = ContactField(account=account, key=key, name=name)
    contact_field.full_clean()
    contact_field.save()
    return contact_field


@transaction.atomic
def delete_contact_field(*, contact_field: ContactField) -> None:
    """A field an event template still names stays: its messages could not be sent.
    Otherwise the field goes, and its values with it from every contact."""
    placeholder = placeholders.placeholder(contact_field.key)
    used = EventTemplate.objects.filter(
        stream__account=contact_field.account, text__contains=placeholder
    ).values_list("stream__name", flat=True)
    if used:
        raise Refused(f"{placeholder} is used by the templates of: {', '.join(sorted(set(used)))}.")
    account, key = contact_field.account, contact_field.key
    contact_field.delete()
    for contact in Contact.objects.filter(account=account, custom_fields__has_key=key):
        contact.custom_fields.pop(key, None)
        contact.save(update_fields=["custom_fields", "updated_at"])


@transaction.atomic
def save_webhook_endpoint(
    *, stream: Stream, url: str, enabled: bool = True, endpoint: WebhookEndpoint | None = None
) -> WebhookEndpoint:
    """Add (or change) where the stream's events are POSTed. Its secret is made once."""
    endpoint = endpoint or WebhookEndpoint(stream=stream)
    endpoint.url, endpoint.enabled = url, enabled
    try:
        endpoint.full_clean(exclude=["stream", "secret"])
    except ValidationError as exc:
        raise Refused("; ".join(exc.messages)) from None
    endpoint.save()
    _note_webhooks(stream)
    return endpoint


@transaction.atomic
def delete_webhook_endpoint(*, endpoint: WebhookEndpoint) -> None:
    stream = endpoint.stream
    endpoint.delete()
    _note_webhooks(stream)


def _note_webhooks(stream: Stream) -> None:
    """Keep ``Stream.webhooks_enabled`` true exactly when an enabled endpoint listens
    (saved through ``save()``, so the API's stream cache forgets the old value)."""
    listening = stream.webhook_endpoints.filter(enabled=True).exists()
    if stream.webhooks_enabled != listening:
        stream.webhooks_enabled = listening
        stream.save(update_fields=["webhooks_enabled", "updated_at"])


def redeliver_webhook(*, delivery: WebhookDelivery) -> WebhookDelivery:
    """Send a delivery's event to its endpoint again, now (a new delivery at the end of
    its chain), whatever became of the first."""
    with transaction.atomic():
        again = WebhookDelivery.objects.create(
            endpoint=delivery.endpoint,
            event=delivery.event,
            chain=delivery.chain,
            created_at=timezone.now(),
        )
        transaction.on_commit(lambda: webhooks.publish(again.endpoint_id, again.chain))
    return again


def send_test_webhook(*, endpoint: WebhookEndpoint) -> WebhookEvent:
    """A ``test`` event to this endpoint only: how a receiver is tried out."""
    data = {"message": "A test event from OTP Streams.", "endpoint": endpoint.url}
    with transaction.atomic():
        return webhooks.write_event(
            stream=endpoint.stream, type=WebhookEvent.Type.TEST, data=data, endpoints=[endpoint]
        )


# --- Test mode --------------------------------------------------------------------------


def issue_test_token(*, stream: Stream) -> str:
    """Issue (or replace) the stream's test token and return it: the only time it is
    seen. It reaches only the test numbers; the live token is untouched."""
    if stream.status == Stream.Status.DRAFT:
        raise Refused("A draft gets its tokens when it is created.")
    token = issue_token()
    stream.test_token_hash, stream.test_token_prefix = token.hash, token.prefix
    stream.save(update_fields=["test_token_hash", "test_token_prefix", "updated_at"])
    return token.plaintext


def save_test_numbers(*, stream: Stream, numbers: list[dict]) -> Stream:
    """The stream's test numbers, each ``{"number", "code", "outcome"}``."""
    stream.test_numbers = numbers
    try:
        stream.full_clean(
            exclude=[f.name for f in Stream._meta.concrete_fields if f.name != "test_numbers"]
        )
    except ValidationError as exc:
        raise Refused("; ".join(exc.messages)) from None
    stream.save(update_fields=["test_numbers", "updated_at"])
    return stream


# --- Members -------------------------------------------------------------------------


@dataclass
class Invitation:
    membership: Membership
    new_user: bool  # a user was created: they set a password through the invitation link


@transaction.atomic
def invite_member(*, account: Account, email: str, role: str, by: Membership | None) -> Invitation:
    """Add the user with ``email`` to the account in ``role``, creating the user (with
    no usable password: the invitation link sets one) when there is none. Owners and
    admins invite; only an owner makes another owner."""
    _require_manager(by, "invite members")
    _require_may_grant(by, role)
    email = email.strip()
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).order_by("pk").first()
    new_user = user is None
    if new_user:
        user = User(username=_free_username(User, email), email=email)
        user.set_unusable_password()
        user.save()
    elif Membership.objects.filter(user=user, account=account).exists():
        raise Refused(f"{email} is already a member of {account.name}.")
    membership = Membership.objects.create(user=user, account=account, role=role)
    return Invitation(membership=membership, new_user=new_user)


def _free_username(User, email: str) -> str:
    base = email[: User._meta.get_field("username").max_length - 8]
    name, n = base, 1
    while User.objects.filter(username=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


def _require_may_grant(by: Membership | None, role: str) -> None:
    if role not in Membership.Role.values:
        raise Refused("Unknown role.")
    if role == Membership.Role.OWNER and by is not None and by.role != Membership.Role.OWNER:
        raise NotAllowed("Only owners can make owners.")


def _lock_members(account: Account) -> dict[int, Membership]:
    """The account's memberships, locked: concurrent changes of owners take turns, so
    two owners removing each other cannot leave the account without one."""
    return {m.pk: m for m in Membership.objects.select_for_update().filter(account=account)}


@transaction.atomic
def change_member_role(*, membership: Membership, role: str, by: Membership | None) -> Membership:
    _require_manager(by, "change roles")
    _require_may_grant(by, role)
    members = _lock_members(membership.account)
    current = members[membership.pk]
    if current.role == Membership.Role.OWNER:
        _require_may_grant(by, Membership.Role.OWNER)  # only owners demote owners
        if role != Membership.Role.OWNER:
            _keep_an_owner(members, current)
    current.role = role
    current.save(update_fields=["role"])
    return current


@transaction.atomic
def remove_member(*, membership: Membership, by: Membership | None) -> None:
    _require_manager(by, "remove members")
    members = _lock_members(membership.account)
    current = members.get(membership.pk)
    if current is None:
        return
    if current.role == Membership.Role.OWNER:
        _require_may_grant(by, Membership.Role.OWNER)
        _keep_an_owner(members, current)
    current.delete()


def _keep_an_owner(members: dict[int, Membership], leaving: Membership) -> None:
    others = [m for m in members.values() if m.role == Membership.Role.OWNER and m != leaving]
    if not others:
        raise Refused("An account keeps at least one owner.")
