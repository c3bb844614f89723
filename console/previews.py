"""The API previews of the wizard's summary: endpoint, headers, body and a curl line
for each request an integrator makes to this stream."""

from __future__ import annotations

import json
import shlex

from django.http import HttpRequest

from streams import placeholders
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
