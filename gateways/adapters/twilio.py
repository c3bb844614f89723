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

from ..voice import VoiceScript
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
# The languages of the basic voices (no SSML).
BASIC_LANGUAGES = frozenset({"en-US", "en-GB", "es-ES", "fr-FR", "de-DE"})
# Twilio's Amazon Polly voices (female, male) by language: SSML <prosody> and <break>
# work with them (https://www.twilio.com/docs/voice/twiml/say/text-speech).
POLLY_VOICES = {
    "arb": ("Polly.Zeina", "Polly.Zeina"),
    "cmn-CN": ("Polly.Zhiyu", "Polly.Zhiyu"),
    "da-DK": ("Polly.Naja", "Polly.Mads"),
    "de-DE": ("Polly.Marlene", "Polly.Hans"),
    "en-AU": ("Polly.Nicole", "Polly.Russell"),
    "en-GB": ("Polly.Amy", "Polly.Brian"),
    "en-IN": ("Polly.Aditi", "Polly.Aditi"),
    "en-US": ("Polly.Joanna", "Polly.Matthew"),
    "es-ES": ("Polly.Conchita", "Polly.Enrique"),
    "es-MX": ("Polly.Mia", "Polly.Mia"),
    "es-US": ("Polly.Penelope", "Polly.Miguel"),
    "fr-CA": ("Polly.Chantal", "Polly.Chantal"),
    "fr-FR": ("Polly.Celine", "Polly.Mathieu"),
    "it-IT": ("Polly.Carla", "Polly.Giorgio"),
    "ja-JP": ("Polly.Mizuki", "Polly.Takumi"),
    "ko-KR": ("Polly.Seoyeon", "Polly.Seoyeon"),
    "nb-NO": ("Polly.Liv", "Polly.Liv"),
    "nl-NL": ("Polly.Lotte", "Polly.Ruben"),
    "pl-PL": ("Polly.Ewa", "Polly.Jacek"),
    "pt-BR": ("Polly.Vitoria", "Polly.Ricardo"),
    "pt-PT": ("Polly.Ines", "Polly.Cristiano"),
    "ro-RO": ("Polly.Carmen", "Polly.Carmen"),
    "ru-RU": ("Polly.Tatyana", "Polly.Maxim"),
    "sv-SE": ("Polly.Astrid", "Polly.Astrid"),
    "tr-TR": ("Polly.Filiz", "Polly.Filiz"),
}
# Languages whose Twilio tag is not the BCP 47 one a request names.
# A bare language picks its most common voice.
ALIASES = {
    "ar": "arb", "zh": "cmn-CN", "zh-CN": "cmn-CN", "zh-Hans": "cmn-CN", "nb": "nb-NO",
    "no": "nb-NO", "en": "en-US", "es": "es-ES", "fr": "fr-FR", "pt": "pt-BR", "de": "de-DE",
    "it": "it-IT", "ja": "ja-JP", "nl": "nl-NL", "pl": "pl-PL", "ru": "ru-RU", "sv": "sv-SE",
    "tr": "tr-TR", "da": "da-DK", "ko": "ko-KR", "ro": "ro-RO",
}  # fmt: skip


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's request signature: HMAC-SHA1 over the URL and the sorted POST params."""
    data = url + "".join(f"{key}{params[key]}" for key in sorted(params))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def twiml(message, engine: str = "basic") -> str:
    """The call's TwiML. With Amazon Polly voices (``engine`` "polly", or a language the
    basic voices lack) one ``<Say>`` reads the voice script as SSML: ``<prosody>`` for
    the rate, ``<break>`` after each character of the code and between readings. The
    basic voices (man, woman) take no SSML: each reading is its own ``<Say>`` with the
    code spelled with commas, and ``<Pause>`` verbs between readings."""
    language = TwilioAdapter.speaks(message.voice_language)
    if language is None:
        raise PermanentError(f"Twilio has no voice for the language {message.voice_language!r}")
    script = VoiceScript.from_message(message.voice, message.text) if message.voice else None
    if engine != "polly" and language in BASIC_LANGUAGES:
        say = "<Say voice={} language={}>{{}}</Say>".format(
            quoteattr(VOICES.get(message.voice_gender, "woman")), quoteattr(language)
        )
        if script is None:
            return f"<Response>{say.format(escape(message.text))}</Response>"
        readings = [say.format(escape(script.intro))] if script.intro else []
        readings += [say.format(escape(script.reading_text()))] * script.repeat
        return "<Response>" + '<Pause length="1"/>'.join(readings) + "</Response>"
    female, male = POLLY_VOICES[language]
    voice = male if message.voice_gender == "male" else female
    speech = script.ssml() if script else escape(message.text)
    return (
        f"<Response><Say voice={quoteattr(voice)} language={quoteattr(language)}>"
        f"{speech}</Say></Response>"
    )


class TwilioAdapter(Adapter):
    kind = "twilio"
    voice = True
    voice_languages = frozenset(POLLY_VOICES) | BASIC_LANGUAGES
    specs = (
        SettingSpec("account_sid", required=True),
        SettingSpec("from", help="sender when the stream has none"),
        SettingSpec("api_base", help="default `https://api.twilio.com`"),
        SettingSpec(
            "voice_engine",
            help="`basic` (man/woman voices, the default) or `polly` (Amazon Polly voices, "
            "which read SSML: speech rate and pauses)",
        ),
        SettingSpec("auth_token", required=True, secret=True),
    )

    @classmethod
    def speaks(cls, language: str) -> str | None:
        return super().speaks(ALIASES.get(language, language) or "en-US")

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
            form["Twiml"] = twiml(message, self.settings.get("voice_engine", "basic"))
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
