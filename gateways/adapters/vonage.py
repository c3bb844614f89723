"""Vonage (Nexmo) SMS API, with delivery receipts to the ``callback`` URL.

Settings: ``api_key``, optional ``api_base`` (default https://rest.nexmo.com);
credentials: ``api_secret``. Wire format: https://developer.vonage.com/en/api/sms
"""

import json

from django.http import HttpRequest

from .base import (
    Adapter,
    PermanentError,
    Receipt,
    ReceiptRefused,
    RetryableError,
    SettingSpec,
)

# Status codes of the SMS API answer: 1 throttled, 5 internal error, 10 too many binds.
RETRYABLE_STATUS = {"1", "5", "10"}
DLR_STATUS = {
    "delivered": "delivered",
    "accepted": "sent",
    "buffered": "sent",
    "unknown": "sent",
    "expired": "undelivered",
    "failed": "undelivered",
    "rejected": "failed",
}


class VonageAdapter(Adapter):
    kind = "vonage"
    specs = (
        SettingSpec("api_key", required=True),
        SettingSpec("from", help="sender when the stream has none"),
        SettingSpec("api_base", help="default `https://rest.nexmo.com`"),
        SettingSpec("api_secret", required=True, secret=True),
    )

    def send(self, message) -> str:
        api = self.settings.get("api_base", "https://rest.nexmo.com").rstrip("/")
        form = {
            "api_key": self.settings.get("api_key", ""),
            "api_secret": self.credentials.get("api_secret", ""),
            "from": message.sender or self.settings.get("from", ""),
            "to": message.recipient.lstrip("+"),
            "text": message.text,
            "type": "unicode" if message.encoding == "ucs2" else "text",
            "callback": self.receipt_url(),
            "client-ref": str(message.id),
        }
        response = self.http("POST", f"{api}/sms/json", data=form)
        try:
            parts = response.json()["messages"]
        except (ValueError, KeyError, TypeError):
            raise RetryableError(f"Vonage answered HTTP {response.status_code}") from None
        failed = [p for p in parts if str(p.get("status")) != "0"]
        if not failed:
            # A long text is sent as several parts; the first part's id names the message.
            return parts[0]["message-id"]
        status = str(failed[0].get("status"))
        reason = f"Vonage status {status}: {failed[0].get('error-text', '')}"
        if status in RETRYABLE_STATUS:
            raise RetryableError(reason)
        raise PermanentError(reason)

    def parse_receipt(self, request: HttpRequest) -> list[Receipt]:
        if request.content_type == "application/json":
            try:
                params = json.loads(request.body or b"{}")
            except ValueError:
                raise ReceiptRefused("malformed JSON") from None
        else:
            params = request.POST if request.method == "POST" else request.GET
        message_id, raw = params.get("messageId"), params.get("status")
        if not message_id or raw not in DLR_STATUS:
            raise ReceiptRefused("not a Vonage delivery receipt")
        status = DLR_STATUS[raw]
        error = params.get("err-code", "")
        error = f"Vonage err-code {error}" if error not in ("", "0") else ""
        return [Receipt(str(message_id), status, error=error, raw_status=raw)]
