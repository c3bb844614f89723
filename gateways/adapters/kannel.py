"""Kannel, over its HTTP ``sendsms`` interface (smsbox), with delivery reports through
``dlr-url``.

Settings: ``url`` (e.g. ``http://kannel:13013/cgi-bin/sendsms``), ``username``,
optional ``smsc`` (route to one SMSC); credentials: ``password``. Kannel gives no
message id, so ours goes into the dlr-url and comes back with the report.
"""

from django.http import HttpRequest

from .base import (
    Adapter,
    PermanentError,
    Receipt,
    ReceiptRefused,
    RetryableError,
    SettingSpec,
)

# Kannel's DLR types (the %d of dlr-url) and what they mean for the message.
DLR_STATUS = {
    "1": "delivered",  # delivered to the phone
    "2": "undelivered",  # delivery failure
    "4": "sent",  # buffered by the SMSC
    "8": "sent",  # accepted by the SMSC
    "16": "failed",  # rejected by the SMSC
}
DLR_MASK = 1 | 2 | 4 | 8 | 16


class KannelAdapter(Adapter):
    kind = "kannel"
    specs = (
        SettingSpec("url", required=True, help="`http://host:13013/cgi-bin/sendsms`"),
        SettingSpec("username", required=True),
        SettingSpec("smsc", help="route through this SMSC only"),
        SettingSpec("password", required=True, secret=True),
    )

    def send(self, message) -> str:
        params = {
            "username": self.settings.get("username", ""),
            "password": self.credentials.get("password", ""),
            "to": message.recipient,
            "text": message.text,
            "dlr-mask": str(DLR_MASK),
            "dlr-url": f"{self.receipt_url()}?id={message.id}&type=%d&answer=%A",
        }
        if message.sender:
            params["from"] = message.sender
        if self.settings.get("smsc"):
            params["smsc"] = self.settings["smsc"]
        if message.encoding == "ucs2":
            params.update(coding="2", charset="UTF-8")
        response = self.http("GET", self.settings["url"], params=params)
        body = response.text.strip()
        if response.status_code in (200, 202) and body[:2] in ("0:", "3:"):
            # "0: Accepted for delivery" or "3: Queued for later delivery"
            return str(message.id)
        if response.status_code in (403, 400, 404):
            raise PermanentError(f"Kannel refused: HTTP {response.status_code} {body[:200]}")
        raise RetryableError(f"Kannel answered HTTP {response.status_code} {body[:200]}")

    def parse_receipt(self, request: HttpRequest) -> list[Receipt]:
        params = request.GET
        message_id, dlr_type = params.get("id", ""), params.get("type", "")
        if not message_id or dlr_type not in DLR_STATUS:
            raise ReceiptRefused("not a Kannel delivery report")
        status = DLR_STATUS[dlr_type]
        error = params.get("answer", "") if status in ("undelivered", "failed") else ""
        return [Receipt(message_id, status, error=error, raw_status=f"kannel:{dlr_type}")]
