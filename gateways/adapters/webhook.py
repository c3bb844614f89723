"""A generic HTTP webhook for in-house gateways: a JSON POST signed with HMAC-SHA256.

Settings: ``url``, optional ``status_url``; credentials: ``signing_secret``. The
request carries ``X-OTP-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">``
and ``Idempotency-Key: <our message id>`` (the same on every send of one message: the
gateway must accept a repeated key once); the gateway answers 2xx with
``{"id": "<its message id>"}``. With ``status_url``, we may ask
``GET <status_url>?id=<our message id>`` (signed over ``id=<our message id>``) whether
it took a message: 200 ``{"id": ...}`` yes, 404 no. It may report delivery by POSTing
``{"id", "status": "delivered"|"undelivered"|"failed"|"sent", "error"}``, signed the
same way, to the receipt URL sent in the request.
"""

import hashlib
import hmac
import json
import time

from django.http import HttpRequest

from ..voice import VoiceScript
from .base import (
    UNKNOWN,
    Adapter,
    GatewayError,
    Lookup,
    PermanentError,
    Receipt,
    ReceiptRefused,
    SettingSpec,
)

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
    idempotent = True  # Idempotency-Key: <our message id>
    specs = (
        SettingSpec("url", required=True, help="where the signed JSON is POSTed"),
        SettingSpec("status_url", help="where to ask whether a message was taken"),
        SettingSpec("signing_secret", required=True, secret=True),
    )

    def send(self, message) -> str:
        script = VoiceScript.from_message(message.voice, message.text) if message.voice else None
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
                "voice": {**script.as_dict(), "code": script.code} if script else None,
                "ssml": script.ssml() if script else None,
                "receipt_url": self.receipt_url(),
            }
        ).encode()
        headers = {
            "Content-Type": "application/json",
            "X-OTP-Signature": sign(self.credentials.get("signing_secret", ""), body),
            "Idempotency-Key": str(message.id),
        }
        response = self.http("POST", self.settings["url"], data=body, headers=headers)
        if not 200 <= response.status_code < 300:
            raise PermanentError(f"webhook answered HTTP {response.status_code}")
        try:
            return str(response.json().get("id") or message.id)
        except (ValueError, AttributeError):
            return str(message.id)

    def lookup(self, message) -> Lookup:
        if not self.settings.get("status_url"):
            return UNKNOWN
        query = f"id={message.id}"
        headers = {
            "X-OTP-Signature": sign(self.credentials.get("signing_secret", ""), query.encode())
        }
        try:
            response = self.http("GET", f"{self.settings['status_url']}?{query}", headers=headers)
        except GatewayError:
            return UNKNOWN
        if response.status_code == 404:
            return Lookup(False)
        if response.status_code != 200:
            return UNKNOWN
        try:
            return Lookup(True, str(response.json()["id"]))
        except (ValueError, KeyError, TypeError):
            return UNKNOWN

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
