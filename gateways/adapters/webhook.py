"""A generic HTTP webhook for in-house gateways: a JSON POST signed with HMAC-SHA256.

Settings: ``url``; credentials: ``signing_secret``. The request carries
``X-OTP-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``; the gateway
answers 2xx with ``{"id": "<its message id>"}``. It may report delivery by POSTing
``{"id", "status": "delivered"|"undelivered"|"failed"|"sent", "error"}``, signed the
same way, to the receipt URL sent in the request.
"""

import hashlib
import hmac
import json
import time

from django.http import HttpRequest

from ..voice import VoiceScript
from .base import Adapter, PermanentError, Receipt, ReceiptRefused, SettingSpec

MAX_CLOCK_SKEW = 300
STATUSES = {"sent", "delivered", "undelivered", "failed"}


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, body: bytes, header: str) -> bool:
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - timestamp) > MAX_CLOCK_SKEW:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header)


class WebhookAdapter(Adapter):
    kind = "webhook"
    voice = True
    specs = (
        SettingSpec("url", required=True, help="where the signed JSON is POSTed"),
        SettingSpec("signing_secret", required=True, secret=True),
    )

    def send(self, message) -> str:
        body = json.dumps(
            {
                "id": str(message.id),
                "channel": message.channel,
                "to": message.recipient,
                "from": message.sender,
                "text": message.text,
                "encoding": message.encoding,
                "segments": message.segments,
                "voice_language": message.voice_language,
                "voice_gender": message.voice_gender,
                # A call's script (intro, text around the code, code, repeat, rate) and
                # the same as SSML, for in-house voice gateways.
                "voice": message.voice or None,
                "ssml": VoiceScript.from_dict(message.voice).ssml() if message.voice else None,
                "receipt_url": self.receipt_url(),
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-OTP-Signature": sign(self.credentials.get("signing_secret", ""), body),
        }
        response = self.http("POST", self.settings["url"], data=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise PermanentError(f"webhook answered HTTP {response.status_code}")
        try:
            return str(response.json().get("id") or message.id)
        except (ValueError, AttributeError):
            return str(message.id)

    def parse_receipt(self, request: HttpRequest) -> list[Receipt]:
        secret = self.credentials.get("signing_secret", "")
        if not verify(secret, request.body, request.headers.get("X-OTP-Signature", "")):
            raise ReceiptRefused("bad X-OTP-Signature")
        try:
            data = json.loads(request.body)
            provider_id, status = str(data["id"]), data["status"]
        except (ValueError, KeyError, TypeError):
            raise ReceiptRefused("malformed receipt") from None
        if status not in STATUSES:
            raise ReceiptRefused(f"unknown status {status!r}")
        return [Receipt(provider_id, status, error=str(data.get("error", "")), raw_status=status)]
