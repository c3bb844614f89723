"""The API previews of the wizard's summary: endpoint, headers, body and a curl line
for each request an integrator makes to this stream."""

from __future__ import annotations

import json
import shlex

from django.http import HttpRequest

from streams import placeholders
from streams.models import Stream

TOKEN_HINT = "YOUR_API_TOKEN"  # noqa: S105 - a placeholder shown in the previews


def api_previews(request: HttpRequest, stream: Stream) -> list[dict]:
    base = request.build_absolute_uri("/api/v1/otp/")
    template = stream.templates.filter(enabled=True).first() or stream.templates.first()
    event = template.key if template else "login"
    body: dict = {"recipient": "+14155552671", "event": event, "channel": "sms"}
    if stream.is_customized_sender:
        sender = stream.account.sender_ids.first()
        body["sender"] = sender.value if sender else "YourSender"
    if template:
        extra = [n for n in placeholders.placeholders_in(template.text) if n != placeholders.CODE]
        if extra:
            body["variables"] = {n: f"<{n}>" for n in extra}
    platform = {
        "id": "send-platform",
        "title": "Auth request (the platform generates the code)",
        "current": stream.platform_generates_code,
        **_request(base + "send", body),
    }
    client = {
        "id": "send-client",
        "title": "Auth request (your app generates the code)",
        "current": not stream.platform_generates_code,
        **_request(base + "send", {**body, "code": "482913"}),
    }
    verify = {
        "id": "verify",
        "title": "Verification request",
        "current": True,
        **_request(base + "verify", {"id": "<id from the send answer>", "code": "482913"}),
    }
    return [platform, client, verify]


def _request(url: str, body: dict) -> dict:
    payload = json.dumps(body, indent=2, ensure_ascii=False)
    headers = [f"Authorization: Bearer {TOKEN_HINT}", "Content-Type: application/json"]
    curl = " \\\n  ".join(
        [f"curl -X POST {shlex.quote(url)}"]
        + [f"-H {shlex.quote(h)}" for h in headers]
        + [f"-d {shlex.quote(json.dumps(body, ensure_ascii=False))}"]
    )
    return {"method": "POST", "url": url, "headers": headers, "body": payload, "curl": curl}
