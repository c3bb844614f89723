"""The console's forms: the wizard's steps, sender IDs, contacts. Field rules come from
the models and ``streams.validators``; the forms add only what a page needs, and hand
the views what the services take (they save nothing themselves)."""

from __future__ import annotations

import copy
import math
import re
from decimal import Decimal

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms import BaseInlineFormSet, inlineformset_factory

from streams import contact_import, locales, phones, placeholders, policy, validators
from streams.contact_import import ParsedFile
from streams.messages import MessageFormat
from streams.models import (
    Account,
    Budget,
    Contact,
    ContactField,
    EventTemplate,
    Membership,
    SenderID,
    Stream,
    Tag,
)
from streams.services import CODE_HANDLING_FIELDS, MESSAGE_SETTINGS_FIELDS, TemplateChange

CUSTOMIZED = ""
NEW_SENDER = "new"


def country_choices() -> list[tuple[str, str]]:
    """Every country by name, with its code and calling code: "France (FR, +33)"."""
    return [(code, f"{name} ({code}, +{calling})") for code, name, calling in phones.countries()]


class DetailsForm(forms.ModelForm):
    """Step 1: name, description, allowed IPs, tags, default sender."""

    allowed_ips = forms.CharField(
        required=False,
        widget=forms.HiddenInput,
        help_text="IPv4/IPv6 addresses or CIDR ranges allowed to call the API.",
    )
    tags = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.none(), required=False, widget=forms.CheckboxSelectMultiple
    )
    new_tags = forms.CharField(
        required=False,
        max_length=200,
        label="New tags",
        help_text="Separate several with commas.",
    )
    # Not required: the empty choice is a real one, "Customized".
    sender_choice = forms.ChoiceField(label="Default sender", required=False)
    new_sender_value = forms.CharField(required=False, max_length=16, label="New sender ID")
    new_sender_kind = forms.ChoiceField(choices=SenderID.Kind.choices, required=False, label="Kind")

    class Meta:
        model = Stream
        fields = ["name", "description"]
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args, account: Account, ip_list: list[str] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.account = account
        self.fields["tags"].queryset = account.tags.all()
        senders = [
            (str(s.pk), f"{s.value} ({s.get_kind_display()})") for s in account.sender_ids.all()
        ]
        self.fields["sender_choice"].choices = [
            (CUSTOMIZED, "Customized: each request picks one of the account's sender IDs"),
            *senders,
            (NEW_SENDER, "Add a new sender ID…"),
        ]
        # Several inputs named allowed_ips (one per address), read as a list.
        self.ip_list = ip_list if ip_list is not None else list(self.instance.allowed_ips or [])
        self.ip_errors: list[str] = []
        if not self.is_bound:
            self.initial["tags"] = list(self.instance.tags.all()) if self.instance.pk else []
            self.initial["sender_choice"] = (
                str(self.instance.default_sender_id) if self.instance.default_sender_id else ""
            )

    def clean(self):
        data = super().clean()
        ips = []
        for value in (v.strip() for v in self.ip_list):
            if not value:
                continue
            try:
                network = validators.parse_network(value)
                single = network.prefixlen == network.max_prefixlen
                ips.append(str(network.network_address) if single else str(network))
            except ValidationError as exc:
                self.ip_errors.append(exc.messages[0])
        if self.ip_errors:
            self.add_error("allowed_ips", self.ip_errors)
        data["allowed_ips"] = list(dict.fromkeys(ips))
        data["new_tag_names"] = [
            t.strip()[:40] for t in data.get("new_tags", "").split(",") if t.strip()
        ]
        choice = data.get("sender_choice")
        if choice == NEW_SENDER:
            sender = SenderID(
                account=self.account,
                value=data.get("new_sender_value", ""),
                kind=data.get("new_sender_kind") or SenderID.Kind.ALPHANUMERIC,
            )
            try:
                sender.full_clean()
            except ValidationError as exc:
                for message in exc.message_dict.get("value", []) + exc.message_dict.get(
                    "__all__", []
                ):
                    self.add_error("new_sender_value", message)
            data["new_sender"] = sender
        elif choice:
            data["default_sender"] = self.account.sender_ids.filter(pk=choice).first()
            if data["default_sender"] is None:
                self.add_error("sender_choice", "Unknown sender ID.")
        return data


class CodeForm(forms.ModelForm):
    """Step 2: who generates the code, its shape and life, the send limit."""

    guard_safe_list = forms.CharField(
        required=False,
        label="Safe list",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Numbers and prefixes the fraud guard never blocks, in E.164 form "
        "(+4479, +14155552671), separated by spaces, commas or lines.",
    )
    code_ttl_minutes = forms.IntegerField(
        min_value=math.ceil(policy.CODE_TTL_SECONDS.minimum / 60),
        max_value=policy.CODE_TTL_SECONDS.maximum // 60,
        label="Time to live (minutes)",
        required=False,
    )

    class Meta:
        model = Stream
        # The service's settings; the form takes the lifetime in minutes.
        fields = [name for name in CODE_HANDLING_FIELDS if name != "code_ttl_seconds"]
        widgets = {
            "code_generator": forms.RadioSelect,
            "resend_policy": forms.RadioSelect,
            "guard_mode": forms.RadioSelect,
            "send_limit_enabled": forms.CheckboxInput(attrs={"role": "switch"}),
        }
        labels = {
            "code_length": "Code length",
            "code_digits": "Digits (0-9)",
            "code_upper": "Upper case (A-Z)",
            "code_lower": "Lower case (a-z)",
            "code_special": "Special characters",
            "max_attempts": "Allowed wrong attempts",
            "send_limit_enabled": "Limit messages per recipient",
            "send_limit_count": "Messages per recipient",
            "send_limit_cooldown_minutes": "Cooldown (minutes)",
            "resend_policy": "When a code is sent again while one is pending",
            "resend_grace_seconds": "Grace period of the previous code (seconds)",
            "fallback_channel": "Fallback channel (the same code)",
            "fallback_trigger": "Fall back when",
            "fallback_after_seconds": "After (seconds)",
            "weak_codes_accepted": "I accept weak codes",
            "caller_text_allowed": "Caller-supplied text",
            "guard_mode": "Fraud guard",
        }
        help_texts = {
            "caller_text_allowed": "Let Octopush-style callers send their own message "
            "text instead of the event template's. It must still contain the code. Off, "
            "a request with its own text is refused (phishing links ride on free text).",
        }

    # Shown only when the platform generates codes, or when the send limit is on; when
    # hidden they are ignored and the stream keeps what it had.
    PLATFORM_FIELDS = (
        "code_length",
        "code_digits",
        "code_upper",
        "code_lower",
        "code_special",
        "max_attempts",
    )
    LIMIT_FIELDS = ("send_limit_count", "send_limit_cooldown_minutes")
    # Resend and fallback: a form that leaves them out keeps the stream's settings.
    LIFECYCLE_FIELDS = (
        "resend_policy",
        "resend_grace_seconds",
        "fallback_channel",
        "fallback_trigger",
        "fallback_after_seconds",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["fallback_channel"].choices = [
            ("", "No fallback"),
            *Stream._meta.get_field("fallback_channel").choices,
        ]
        if not self.is_bound:
            self.initial["code_ttl_minutes"] = max(1, self.instance.code_ttl_seconds // 60)
            self.initial["guard_safe_list"] = "\n".join(self.instance.guard_safe_list or [])
            return
        # Not chosen: the stream keeps its mode.
        self.fields["guard_mode"].required = False
        # Fields that do not apply are not validated and not saved: the stream keeps
        # what it had, whatever the hidden inputs hold.
        if self.data.get("code_generator") == Stream.CodeGenerator.CLIENT:
            for name in (*self.PLATFORM_FIELDS, "code_ttl_minutes"):
                self.fields.pop(name)
        else:
            self.fields["code_ttl_minutes"].required = True
        if not self.data.get("send_limit_enabled"):
            for name in self.LIMIT_FIELDS:
                self.fields.pop(name)
        for name in self.LIFECYCLE_FIELDS:
            if name not in self.data:
                self.fields.pop(name)

    def clean_guard_safe_list(self) -> list[str]:
        entries = [e for e in re.split(r"[\s,;]+", self.cleaned_data["guard_safe_list"]) if e]
        validators.validate_safe_list(entries)
        return list(dict.fromkeys(entries))

    def clean(self):
        data = super().clean()
        alphabet = [n for n in self.PLATFORM_FIELDS[1:5] if n in self.fields]
        if alphabet and not any(data.get(n) for n in alphabet):
            self.add_error("code_digits", "Choose at least one kind of character.")
        elif alphabet and data.get("code_length") and not data.get("weak_codes_accepted"):
            size = len(
                policy.alphabet(**{n.removeprefix("code_"): bool(data.get(n)) for n in alphabet})
            )
            if policy.is_weak_code(data["code_length"], size):
                self.add_error(
                    "code_length",
                    f"{data['code_length']} characters of this alphabet are easier to guess "
                    "than 6 digits (under 20 bits). Make the code longer, or tick "
                    "“I accept weak codes”.",
                )
        return data

    def changes(self) -> dict[str, object]:
        """The settings this step sets, for ``save_code_handling``: the fields that
        do not apply are left out, so the stream keeps what it had."""
        data = self.cleaned_data
        changes = {name: data[name] for name in self.Meta.fields if name in self.fields}
        if data.get("code_ttl_minutes"):
            changes["code_ttl_seconds"] = data["code_ttl_minutes"] * 60
        if not changes.get("guard_mode"):
            changes.pop("guard_mode", None)
        return changes


class MessageSettingsForm(forms.ModelForm):
    """Step 3, for the whole stream: brand, default locale, smart encoding, the
    do-not-share line, the autofill formats, the voice call."""

    class Meta:
        model = Stream
        fields = list(MESSAGE_SETTINGS_FIELDS)
        labels = {
            "brand": "Brand ({{brand}})",
            "default_locale": "Language of the default texts",
            "smart_encoding": "Smart encoding",
            "do_not_share": "Add “Do not share this code”",
            "webotp_domain": "WebOTP domain",
            "retriever_enabled": "Android SMS Retriever",
            "retriever_prefix": "Start with <#>",
            "retriever_app_hash": "App hash",
            "voice_repeat": "Voice: times the code is read",
            "voice_rate": "Voice: speech rate",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["brand"].widget.attrs["placeholder"] = self.instance.account.name

    def clean_default_locale(self) -> str:
        value = self.cleaned_data.get("default_locale", "")
        return locales.normalize_locale_or_none(value) or value

    def message_format(self) -> MessageFormat:
        """The autofill and do-not-share settings as entered, for the templates' checks."""
        data = self.cleaned_data
        return MessageFormat(
            do_not_share=bool(data.get("do_not_share")),
            webotp_domain=data.get("webotp_domain") or "",
            retriever_app_hash=(data.get("retriever_app_hash") or "")
            if data.get("retriever_enabled")
            else "",
            retriever_prefix=bool(data.get("retriever_enabled") and data.get("retriever_prefix")),
        )


class AdminOnlyForm(forms.Form):
    """A form of settings only owners and admins change. For anyone else every field is
    disabled (shown, never taken from the request); :meth:`attempted_change` says
    whether the request tried to change one anyway (the view answers 403)."""

    def __init__(self, *args, can_manage: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.can_manage = can_manage
        if not can_manage:
            for field in self.fields.values():
                field.disabled = True

    def attempted_change(self) -> bool:
        if not self.is_bound or self.can_manage:
            return False
        for name, field in self.fields.items():
            key = self.add_prefix(name)
            if key not in self.data:  # a disabled input is not submitted: nothing asked
                continue
            posted = field.widget.value_from_datadict(self.data, self.files, key)
            enabled = copy.copy(field)  # a disabled field never reports a change
            enabled.disabled = False
            try:
                if enabled.has_changed(self[name].initial, posted):
                    return True
            except ValidationError:
                return True
        return False


class DestinationsForm(AdminOnlyForm):
    """Step 2 (owners and admins): where the stream's codes may go."""

    allowed_countries = forms.MultipleChoiceField(
        choices=country_choices,
        required=False,
        label="Countries this stream sends to",
        widget=forms.SelectMultiple(attrs={"size": 8, "data-country-picker": ""}),
        help_text="Only the countries your users are in: every other country is refused "
        "(SMS pumping sends to countries you never serve).",
    )
    every_country = forms.BooleanField(
        required=False,
        label="Send to every country (not recommended)",
    )
    blocked_countries = forms.MultipleChoiceField(
        choices=country_choices,
        required=False,
        label="Blocked countries",
        widget=forms.SelectMultiple(attrs={"size": 5, "data-country-picker": ""}),
        help_text="Never sent to, even with every country allowed.",
    )
    blocked_prefixes = forms.CharField(
        required=False,
        label="Blocked number prefixes",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="International form, one per line or comma-separated: +4490, +1900.",
    )
    allowed_number_types = forms.MultipleChoiceField(
        choices=[(kind.value, kind.label) for kind in phones.NumberKind],
        required=False,
        label="Number types refused by default that this stream may reach",
        widget=forms.CheckboxSelectMultiple,
        help_text="Premium-rate, satellite and the like pay whoever owns them: allow one "
        "only if your users really have such numbers.",
    )

    def __init__(self, *args, stream: Stream, proposed: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        # A new stream starts from a proposed list, never from "every country".
        new = stream.status == Stream.Status.DRAFT and stream.wizard_step <= 2
        allowed = stream.allowed_countries or (proposed if new else [])
        self.initial.update(
            allowed_countries=allowed,
            every_country=not allowed,
            blocked_countries=stream.blocked_countries,
            blocked_prefixes="\n".join(stream.blocked_prefixes),
            allowed_number_types=stream.allowed_number_types,
        )

    def clean_blocked_prefixes(self) -> list[str]:
        raw = self.cleaned_data.get("blocked_prefixes") or ""
        if isinstance(raw, list):  # disabled: the initial value, already a list
            return raw
        prefixes = [p.replace(" ", "") for p in raw.replace(",", "\n").splitlines()]
        prefixes = [p for p in prefixes if p]
        validators.validate_prefix_list(prefixes)
        return prefixes

    def clean(self):
        data = super().clean()
        if data.get("every_country"):
            data["allowed_countries"] = []
        elif not data.get("allowed_countries") and "allowed_countries" not in self.errors:
            self.add_error(
                "allowed_countries",
                "Choose the countries this stream sends to, or tick “Send to every country”.",
            )
        return data

    def changes(self) -> dict[str, list[str]]:
        """The arguments of ``save_destinations``."""
        data = self.cleaned_data
        return {
            "allowed_countries": list(data.get("allowed_countries") or []),
            "blocked_countries": list(data.get("blocked_countries") or []),
            "blocked_prefixes": list(data.get("blocked_prefixes") or []),
            "allowed_number_types": list(data.get("allowed_number_types") or []),
        }


class BudgetForm(AdminOnlyForm):
    """A stream's or an account's budgets (owners and admins): empty means none."""

    KEYS = {
        "daily_money": (Budget.Period.DAY, Budget.Unit.MONEY),
        "monthly_money": (Budget.Period.MONTH, Budget.Unit.MONEY),
        "daily_messages": (Budget.Period.DAY, Budget.Unit.MESSAGES),
        "monthly_messages": (Budget.Period.MONTH, Budget.Unit.MESSAGES),
    }

    daily_money = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=4, label="Per day (money)"
    )
    monthly_money = forms.DecimalField(
        required=False, min_value=0, max_digits=14, decimal_places=4, label="Per month (money)"
    )
    daily_messages = forms.IntegerField(
        required=False, min_value=0, max_value=10**9, label="Per day (messages)"
    )
    monthly_messages = forms.IntegerField(
        required=False, min_value=0, max_value=10**9, label="Per month (messages)"
    )

    def __init__(self, *args, budgets: dict[tuple[str, str], Budget], **kwargs):
        super().__init__(*args, **kwargs)
        currency = settings.OTP_CURRENCY
        for name in ("daily_money", "monthly_money"):
            self.fields[name].label = self.fields[name].label.replace("money", currency)
        for name, key in self.KEYS.items():
            if key in budgets:
                limit = budgets[key].limit
                cents = limit.quantize(Decimal("0.01"))
                if "money" not in name:
                    self.initial[name] = int(limit)
                else:  # 12.50, not 12.5000, unless the admin set finer amounts
                    self.initial[name] = cents if cents == limit else limit

    def limits(self) -> dict[tuple[str, str], Decimal | None]:
        """The ``limits`` argument of ``save_budgets``."""
        return {
            key: None if self.cleaned_data.get(name) is None else Decimal(self.cleaned_data[name])
            for name, key in self.KEYS.items()
        }


class TemplateForm(forms.ModelForm):
    """One event template: its default text and its variants, one per locale (the
    ``variant_locale_<n>`` and ``variant_text_<n>`` inputs, as many as sent)."""

    class Meta:
        model = EventTemplate
        fields = ["name", "key", "text", "webotp_domain", "enabled"]
        widgets = {
            "text": forms.Textarea(attrs={"rows": 3, "class": "template-text"}),
            "enabled": forms.CheckboxInput(attrs={"role": "switch"}),
        }
        help_texts = {"key": "Used in API calls. " + validators.EVENT_KEY_HELP}
        labels = {"text": "Default text", "webotp_domain": "WebOTP domain for this event"}

    VARIANT_RE = re.compile(r"^variant_locale_(\d{1,2})$")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.is_bound:
            start = f"{self.prefix}-"
            found = (
                self.VARIANT_RE.match(k[len(start) :]) for k in self.data if k.startswith(start)
            )
            indexes = sorted({int(m.group(1)) for m in found if m})
            initial: list[tuple[str, str]] = [("", "")] * len(indexes)
        else:
            variants = self.initial.get("variants") or self.instance.variants or {}
            initial = sorted(variants.items())
            indexes = list(range(len(initial)))
        self.variant_indexes = indexes
        for i, (tag, text) in zip(indexes, initial, strict=True):
            self.fields[f"variant_locale_{i}"] = forms.CharField(
                required=False, max_length=35, initial=tag, label="Language"
            )
            self.fields[f"variant_text_{i}"] = forms.CharField(
                required=False,
                max_length=1600,
                initial=text,
                label="Text",
                widget=forms.Textarea(attrs={"rows": 3, "class": "template-text"}),
            )

    def variant_rows(self) -> list[tuple[forms.BoundField, forms.BoundField]]:
        return [
            (self[f"variant_locale_{i}"], self[f"variant_text_{i}"]) for i in self.variant_indexes
        ]

    def clean(self):
        data = super().clean()
        variants: dict[str, str] = {}
        for i in self.variant_indexes:
            tag = (data.get(f"variant_locale_{i}") or "").strip()
            text = data.get(f"variant_text_{i}") or ""
            if not tag and not text.strip():
                continue  # an empty row: left out
            canonical = locales.normalize_locale_or_none(tag)
            if canonical is None:
                self.add_error(f"variant_locale_{i}", locales.LOCALE_HELP)
            elif canonical in variants:
                self.add_error(f"variant_locale_{i}", f"Another variant is in {canonical}.")
            elif not text.strip():
                self.add_error(f"variant_text_{i}", "Write the text, or clear the language.")
            else:
                variants[canonical] = text
        data["variants"] = variants
        return data

    def texts(self) -> list[tuple[str, str | None]]:
        """The field of each text (the default's, then the variants') with its locale
        (``None``: the stream's default)."""
        rows = [("text", None)]
        for i in self.variant_indexes:
            tag = self.cleaned_data.get(f"variant_locale_{i}", "")
            tag = locales.normalize_locale_or_none(tag.strip()) if tag else None
            if tag:
                rows.append((f"variant_text_{i}", tag))
        return rows


class BaseTemplateFormSet(BaseInlineFormSet):
    # Set by the view before validation: the stream's settings as entered on the page
    # and a check of one text (a list of problems), for the autofill limits.
    check_text = None

    def __init__(self, *args, account: Account, **kwargs):
        self.account = account
        super().__init__(*args, **kwargs)

    def clean(self):
        super().clean()
        keys = {}
        known = self.account.custom_field_keys()
        alive = 0
        for form in self.forms:
            if not form.has_changed() and not form.instance.pk:
                continue
            if self.can_delete and self._should_delete_form(form):
                continue
            alive += 1
            key = form.cleaned_data.get("key")
            if key:
                if key in keys:
                    form.add_error("key", "Another template of this stream has this key.")
                keys[key] = form
            for name, tag in form.texts():
                if name not in form.cleaned_data:
                    continue  # refused already: checking "" would add false errors
                text = form.cleaned_data[name] or ""
                # The default text's placeholder rules are the model's
                # (``EventTemplate.clean``), checked once by the model form.
                if name != "text":
                    for error in placeholders.template_text_errors(text, known):
                        form.add_error(name, error)
                if self.check_text is not None and text:
                    domain = form.cleaned_data.get("webotp_domain") or ""
                    for problem in self.check_text(text, tag, domain):
                        form.add_error(name, problem)
        if alive == 0:
            raise ValidationError("Add at least one event template.")

    def changes(self) -> list[TemplateChange]:
        """The rows as ``save_templates`` takes them; untouched rows are left out."""
        changes = []
        for form in self.forms:
            existing = form.instance if form.instance.pk else None
            if not form.has_changed() and existing is None:
                continue  # an extra row left empty
            if self.can_delete and self._should_delete_form(form):
                if existing is not None:
                    changes.append(TemplateChange(template=existing, delete=True))
                continue
            if existing is not None and not form.has_changed():
                continue
            data = form.cleaned_data
            changes.append(
                TemplateChange(
                    template=existing,
                    name=data["name"],
                    key=data["key"],
                    text=data["text"],
                    enabled=data["enabled"],
                    variants=data["variants"],
                    webotp_domain=data.get("webotp_domain") or "",
                )
            )
        return changes


TemplateFormSet = inlineformset_factory(
    Stream,
    EventTemplate,
    form=TemplateForm,
    formset=BaseTemplateFormSet,
    extra=0,
    can_delete=True,
)


class SenderForm(forms.ModelForm):
    class Meta:
        model = SenderID
        fields = ["value", "kind"]
        labels = {"value": "Sender ID"}

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.account = account

    def validate_unique(self):
        super().validate_unique()
        clash = SenderID.objects.filter(account=self.instance.account, value=self.instance.value)
        if clash.exclude(pk=self.instance.pk).exists():
            self.add_error("value", "The account already has this sender ID.")


class ContactFieldForm(forms.ModelForm):
    class Meta:
        model = ContactField
        fields = ["name", "key"]
        labels = {"name": "Field name", "key": "Placeholder key"}
        help_texts = {
            "key": "Lower-case letters, digits and underscores; templates use it as "
            "{{key}} and CSV imports as a column name."
        }

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.account = account

    def validate_unique(self):
        super().validate_unique()
        clash = ContactField.objects.filter(account=self.instance.account, key=self.instance.key)
        if clash.exists():
            self.add_error("key", "The account already has a field with this key.")


class ContactForm(forms.ModelForm):
    country = forms.ChoiceField(
        choices=[("", "International (+…)"), *country_choices()],
        required=False,
        help_text="To read a national number.",
    )

    class Meta:
        model = Contact
        fields = ["phone", "first_name", "last_name", "locale"]

    def __init__(self, *args, account: Account, **kwargs):
        super().__init__(*args, **kwargs)
        self.instance.account = account
        self.custom_keys = list(account.contact_fields.values_list("key", "name"))
        for key, name in self.custom_keys:
            self.fields[f"custom_{key}"] = forms.CharField(
                required=False,
                max_length=200,
                label=name,
                initial=(self.instance.custom_fields or {}).get(key, ""),
            )

    def clean_locale(self) -> str:
        value = (self.cleaned_data.get("locale") or "").strip()
        if value and locales.normalize_locale_or_none(value) is None:
            raise ValidationError(locales.LOCALE_HELP)
        return locales.normalize_locale_or_none(value) or ""

    def clean_phone(self):
        value = self.cleaned_data["phone"]
        try:
            return validators.normalize_phone(value, self.data.get("country") or None)
        except ValidationError as exc:
            raise ValidationError(exc.messages[0]) from None

    def clean(self):
        data = super().clean()
        data["custom_fields"] = {
            key: data[f"custom_{key}"] for key, _ in self.custom_keys if data.get(f"custom_{key}")
        }
        self.instance.custom_fields = data["custom_fields"]  # checked with the model's rules
        return data

    def validate_unique(self):
        super().validate_unique()
        clash = Contact.objects.filter(account=self.instance.account, phone=self.instance.phone)
        if self.instance.phone and clash.exclude(pk=self.instance.pk).exists():
            self.add_error("phone", "A contact with this phone number exists.")


class ContactImportForm(forms.Form):
    file = forms.FileField(
        label="CSV file",
        help_text="Columns: phone, first_name, last_name, locale (a language tag such as "
        "fr-CA), then any custom field keys. "
        "The first row names the columns.",
    )
    country = forms.ChoiceField(
        choices=[("", "International numbers (+…)"), *country_choices()],
        required=False,
        label="Country for national numbers",
    )

    def clean_file(self) -> tuple[bytes, ParsedFile]:
        """The file and its parsed rows; a file that cannot be imported at all (too
        large, not UTF-8, not CSV, no phone column) is an error on the field."""
        upload = self.cleaned_data["file"]
        limit = contact_import.max_bytes()
        if upload.size > limit:
            raise ValidationError(
                f"The file is {upload.size:,} bytes; the limit is {limit:,} bytes. "
                "Split it into smaller files."
            )
        data = upload.read()
        try:
            return data, contact_import.parse_csv(data)
        except contact_import.ImportRefused as exc:
            raise ValidationError(str(exc)) from None


class EndpointForm(forms.Form):
    """A webhook endpoint of a stream: where its events are POSTed."""

    url = forms.URLField(max_length=500, label="Endpoint URL", assume_scheme="https")


class TestNumbersForm(forms.Form):
    """Test mode's numbers, one a line: ``+15005550006 123456 delivered``."""

    numbers = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        label="Test numbers",
        help_text="One a line: number, fixed code, outcome (delivered, undelivered, "
        "submit_failure, never_delivered).",
    )

    @classmethod
    def for_stream(cls, stream: Stream) -> TestNumbersForm:
        lines = [f"{n['number']} {n['code']} {n['outcome']}" for n in stream.test_numbers]
        return cls(initial={"numbers": "\n".join(lines)})

    def clean_numbers(self) -> list[dict]:
        entries = []
        for number, line in enumerate(self.cleaned_data["numbers"].splitlines(), 1):
            if not line.strip():
                continue
            parts = line.split()
            if len(parts) != 3:
                raise forms.ValidationError(f"Line {number}: give a number, a code and an outcome.")
            entries.append(dict(zip(("number", "code", "outcome"), parts, strict=True)))
        return entries


class MemberInviteForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.DEVELOPER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
