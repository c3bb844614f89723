"""Twilio: the Messages API for SMS, the Calls API with TwiML ``<Say>`` for voice, and
status callbacks authenticated by ``X-Twilio-Signature``.

Settings: ``account_sid``, optional ``api_base`` (default https://api.twilio.com);
credentials: ``auth_token``. Wire format:
https://www.twilio.com/docs/messaging/api/message-resource#create-a-message-resource
https://www.twilio.com/docs/voice/api/call-resource#create-a-call-resource
https://www.twilio.com/docs/usage/webhooks/webhooks-security
"""

import base64
import hashlib
import hmac
from xml.sax.saxutils import escape, quoteattr

from django.http import HttpRequest

from .base import (
    Adapter,
    PermanentError,
    Receipt,
    ReceiptRefused,
    RetryableError,
    SettingSpec,
)

# Twilio error codes worth another try; the others mean the request itself is wrong.
RETRYABLE_CODES = {20429, 20500, 20503, 30001, 31000}
MESSAGE_STATUS = {
    "accepted": "sent",
    "queued": "sent",
    "sending": "sent",
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "undelivered",
    "failed": "failed",
}
CALL_STATUS = {
    "queued": "sent",
    "initiated": "sent",
    "ringing": "sent",
    "in-progress": "delivered",
    "completed": "delivered",
    "busy": "undelivered",
    "no-answer": "undelivered",
    "canceled": "undelivered",
    "failed": "failed",
}
VOICES = {"female": "woman", "male": "man"}


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's request signature: HMAC-SHA1 over the URL and the sorted POST params."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class TwilioAdapter(Adapter):
    kind = "twilio"
    voice = True
    specs = (
        SettingSpec("account_sid", required=True),
        SettingSpec("from", help="sender when the stream has none"),
        SettingSpec("api_base", help="default `https://api.twilio.com`"),
        SettingSpec("auth_token", required=True, secret=True),
    )

    @property
    def _base(self) -> str:
        sid = self.settings.get("account_sid", "")
        api = self.settings.get("api_base", "https://api.twilio.com").rstrip("/")
        return f"{api}/2010-04-01/Accounts/{sid}"

    def send(self, message) -> str:
        auth = (self.settings.get("account_sid", ""), self.credentials.get("auth_token", ""))
        form = {"To": message.recipient, "From": message.sender or self.settings.get("from", "")}
        form["StatusCallback"] = self.receipt_url()
        if message.channel == "voice":
            say = "<Say{}{}>{}</Say>".format(
                f" voice={quoteattr(VOICES.get(message.voice_gender, 'woman'))}",
                f" language={quoteattr(message.voice_language)}" if message.voice_language else "",
                escape(message.text),
            )
            form["Twiml"] = f"<Response>{say}</Response>"
            url = f"{self._base}/Calls.json"
        else:
            form["Body"] = message.text
            url = f"{self._base}/Messages.json"
        response = self.http("POST", url, data=form, auth=auth)
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code in (200, 201) and body.get("sid"):
            return body["sid"]
        code = body.get("code")
        reason = f"Twilio {response.status_code} code {code}: {body.get('message', '')}"
        if code in RETRYABLE_CODES:
            raise RetryableError(reason)
        raise PermanentError(reason)

    def parse_receipt(self, request: HttpRequest) -> list[Receipt]:
        params = {key: request.POST.get(key) for key in request.POST}
        expected = signature(
            self.credentials.get("auth_token", ""), request.build_absolute_uri(), params
        )
        given = request.headers.get("X-Twilio-Signature", "")
        if not hmac.compare_digest(expected, given):
            raise ReceiptRefused("bad X-Twilio-Signature")
        if params.get("MessageSid") and params.get("MessageStatus"):
            raw = params["MessageStatus"]
            status = MESSAGE_STATUS.get(raw, "sent")
            sid = params["MessageSid"]
        elif params.get("CallSid") and params.get("CallStatus"):
            raw = params["CallStatus"]
            status = CALL_STATUS.get(raw, "sent")
            sid = params["CallSid"]
        else:
            raise ReceiptRefused("not a Twilio status callback")
        code = params.get("ErrorCode") or ""
        error = f"Twilio error {code}" if code else ""
        return [Receipt(sid, status, error=error, raw_status=raw)]
