"""Previews: the API requests an integrator makes to a stream (endpoint, headers, body,
a curl line), each event template's variants as the recipient sees them, and what a
message is estimated to cost."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass

from django.conf import settings
from django.http import HttpRequest

from gateways import selectors as gateway_selectors
from streams import phones, placeholders, wording
from streams.messages import MessageFormat, compose_sms
from streams.models import Stream

TOKEN_HINT = "YOUR_API_TOKEN"  # noqa: S105 - a placeholder shown in the previews
# Sample values: a copied preview is a request the API accepts, and what it sends is
# plainly a sample ("Hi Sample first name, ..."), never a "<first_name>" placeholder.
SAMPLE_RECIPIENT = "+14155552671"
SAMPLE_CODE = "482913"
SAMPLE_VERIFICATION_ID = "00000000-0000-4000-8000-000000000000"


def sample_value(name: str) -> str:
    return "Sample " + name.replace("_", " ")


def api_previews(request: HttpRequest, stream: Stream) -> list[dict]:
    """The auth request this stream takes (only the one matching who generates the
    code: the other is refused with ``code_not_allowed`` or ``code_required``) and the
    verification request."""
    base = request.build_absolute_uri("/api/v1/otp/")
    template = stream.templates.filter(enabled=True).first() or stream.templates.first()
    event = template.key if template else "login"
    body: dict = {"recipient": SAMPLE_RECIPIENT, "event": event, "channel": "sms"}
    if stream.is_customized_sender:
        sender = stream.account.sender_ids.first()
        body["sender"] = sender.value if sender else "YourSender"
    if template:
        extra = [n for n in placeholders.placeholders_in(template.text) if n != placeholders.CODE]
        if extra:
            body["variables"] = {n: sample_value(n) for n in extra}
    if stream.platform_generates_code:
        send = {
            "id": "send-platform",
            "title": "Auth request (the platform generates the code)",
            "current": True,
            **_request(base + "send", body),
        }
    else:
        send = {
            "id": "send-client",
            "title": "Auth request (your app generates the code)",
            "current": True,
            **_request(base + "send", {**body, "code": SAMPLE_CODE}),
        }
    verify = {
        "id": "verify",
        "title": "Verification request",
        "note": "Use the id from the auth request's answer in place of the sample id.",
        "current": True,
        **_request(base + "verify", {"id": SAMPLE_VERIFICATION_ID, "code": SAMPLE_CODE}),
    }
    return [send, verify]


def _request(url: str, body: dict) -> dict:
    payload = json.dumps(body, indent=2, ensure_ascii=False)
    headers = [f"Authorization: Bearer {TOKEN_HINT}", "Content-Type: application/json"]
    curl = " \\\n  ".join(
        [f"curl -X POST {shlex.quote(url)}"]
        + [f"-H {shlex.quote(h)}" for h in headers]
        + [f"-d {shlex.quote(json.dumps(body, ensure_ascii=False))}"]
    )
    return {"method": "POST", "url": url, "headers": headers, "body": payload, "curl": curl}


# --- Message previews: each variant as the recipient sees it ------------------------

SAMPLE_CONTACT = {"first_name": "Alex", "last_name": "Martin"}
RETRIEVER_MAX_BYTES = 140


def sample_code(stream: Stream) -> str:
    """A code of the stream's length and alphabet, for previews and counters."""
    alphabet = "4829130576" if stream.code_digits else "KXPQRTMWBZ"
    return (alphabet * 4)[: stream.code_length]


def sample_values(stream: Stream) -> dict[str, str]:
    """Contact values for previews: a sample name, and each custom field's name."""
    values = dict(SAMPLE_CONTACT)
    for key, name in stream.account.contact_fields.values_list("key", "name"):
        values[key] = name
    return values


@dataclass(frozen=True)
class MessagePreview:
    locale: str
    label: str
    text: str  # what the recipient gets, autofill lines and smart encoding included
    parts: gateway_selectors.SmsParts
    original_parts: gateway_selectors.SmsParts  # the same without smart encoding
    replaced: int  # characters smart encoding replaced
    problems: list[str]

    @property
    def counter_label(self) -> str:
        """The counter's sentence; static/js/console.js (describeCounter) says the same."""
        p = self.parts
        label = (
            f"{p.characters} characters · {p.segments} SMS segment{'' if p.segments == 1 else 's'}"
            f" · {'Unicode' if p.is_unicode else 'GSM-7'}"
        )
        if not p.characters:
            label += " · an empty text cannot be sent"
        if self.replaced:
            label += (
                f" · smart encoding replaced {self.replaced} "
                f"character{'' if self.replaced == 1 else 's'}"
            )
            saving = []
            fewer = self.original_parts.segments - p.segments
            if fewer > 0:
                saving.append(f"{fewer} segment{'' if fewer == 1 else 's'} saved")
            if self.original_parts.is_unicode and not p.is_unicode:
                saving.append("GSM-7 instead of Unicode")
            if saving:
                label += f" ({', '.join(saving)})"
        return label


def preview_message(
    stream: Stream,
    *,
    text: str,
    locale: str,
    fmt: MessageFormat,
    values: dict[str, str] | None = None,
) -> MessagePreview:
    """``text`` rendered with a sample code and sample contact values, composed and
    encoded as the send path does (otp.services.send_otp)."""
    code = sample_code(stream)
    filled = {
        **(values if values is not None else sample_values(stream)),
        placeholders.CODE: code,
        placeholders.BRAND: stream.brand_name,
        placeholders.EXPIRES_IN: wording.expires_in(stream.code_ttl_seconds, locale),
    }
    body = placeholders.PLACEHOLDER_RE.sub(lambda m: filled.get(m.group(1), m.group(0)), text)
    composed = compose_sms(body, code=code, locale=locale, fmt=fmt)
    measure = gateway_selectors.measure_sms(composed, smart_encoding=stream.smart_encoding)
    parts = measure.parts
    problems = []
    if fmt.retriever_app_hash and parts.payload_bytes > RETRIEVER_MAX_BYTES:
        problems.append(
            f"With the SMS Retriever hash this message is {parts.payload_bytes} bytes; "
            f"Android reads it only up to {RETRIEVER_MAX_BYTES} (one segment). Shorten the text."
        )
    return MessagePreview(
        locale=locale,
        label="",
        text=measure.text,
        parts=parts,
        original_parts=measure.original_parts,
        replaced=measure.replaced,
        problems=problems,
    )


def message_previews(stream: Stream) -> list[dict]:
    """Every event template of ``stream``, each variant as its recipients see it."""
    values = sample_values(stream)
    result = []
    for template in stream.templates.all():
        fmt = MessageFormat.of(stream, template)
        variants = [(stream.default_locale, template.text, "Default")]
        variants += [(tag, text, tag) for tag, text in sorted(template.variants.items())]
        rows = []
        for tag, text, label in variants:
            preview = preview_message(stream, text=text, locale=tag, fmt=fmt, values=values)
            rows.append({"label": label, "locale": tag, "preview": preview})
        result.append({"template": template, "variants": rows})
    return result


# --- The estimated cost of a message, in the message editor -----------------------------

PRICE_SCALE = 100_000  # prices have 5 decimal places: counted in whole 1/100,000ths


def cost_countries(stream: Stream) -> dict:
    """The countries the editor estimates a message's cost for (the stream's allowlist,
    else every country with an SMS price, the stream's blocked ones left out), each
    with the price of one SMS segment in 1/100,000ths (None: no price), and the
    currency. static/js/console.js (describeCost) reads the same."""
    prices = gateway_selectors.sms_unit_prices(
        stream.account, stream.allowed_countries or None, stream=stream
    )
    codes = stream.allowed_countries or [
        c for c in prices if c not in (stream.blocked_countries or [])
    ]
    named = sorted((phones.country_name(c), c) for c in codes)
    return {
        "currency": settings.OTP_CURRENCY,
        "countries": {
            code: {
                "name": name,
                "price": int(prices[code] * PRICE_SCALE) if code in prices else None,
            }
            for name, code in named
        },
    }


def _money(amount: int) -> str:
    """1/100,000ths as a decimal with 2 to 5 places (1580 -> "0.0158")."""
    whole, fraction = divmod(amount, PRICE_SCALE)
    return f"{whole}.{f'{fraction:05d}'.rstrip('0').ljust(2, '0')}"


def describe_cost(segments: int, country: str, costs: dict) -> str:
    """The editor's sentence for a text of ``segments`` SMS segments to ``country``
    (``costs`` from :func:`cost_countries`); describeCost in console.js says the same."""
    entry = costs["countries"].get(country)
    if entry is None or not segments:
        return ""
    if entry["price"] is None:
        return f"No SMS price for {entry['name']} in the price table: no estimate."
    plural = "" if segments == 1 else "s"
    return (
        f"≈ {_money(entry['price'] * segments)} {costs['currency']} a message to "
        f"{entry['name']} ({segments} segment{plural} at {_money(entry['price'])})"
    )
