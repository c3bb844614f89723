"""The people behind the numbers, scripted per gateway: for every message a fake
webhook provider took, its signed delivery report comes back (delivered or undelivered)
and, when delivered, the recipient types the code the provider carried into the API.
What the routes that learn measure is then what real traffic would show."""

from __future__ import annotations

import json

from django.test import Client
from django.urls import reverse

from gateways.adapters import webhook
from gateways.models import Gateway, OutboundMessage
from tests.support.otp_client import OtpClient, code_from
from tests.support.providers import FakeProvider


class Recipients:
    def __init__(self, api: OtpClient) -> None:
        self.api = api
        self.client = Client()
        self.answered: dict[int, int] = {}  # gateway id -> calls answered so far

    def answer(self, fake: FakeProvider, gateway: Gateway, *, delivered: bool) -> int:
        """Answer the calls ``fake`` took since the last time; returns how many."""
        calls = fake.accepted[self.answered.get(gateway.pk, 0) :]
        path = reverse(
            "gateways:receipt",
            kwargs={"gateway_id": gateway.pk, "secret": gateway.receipt_secret},
        )
        for call in calls:
            payload = json.loads(call.body)
            message = OutboundMessage.objects.get(gateway=gateway, recipient=payload["to"])
            status = "delivered" if delivered else "undelivered"
            body = json.dumps({"id": message.provider_message_id, "status": status}).encode()
            signature = webhook.sign(fake.secret, body)
            report = self.client.post(
                path, body, content_type="application/json", HTTP_X_OTP_SIGNATURE=signature
            )
            assert report.status_code == 200, report.content
            if delivered:
                checked = self.api.verify(
                    id=str(message.verification_id), code=code_from(payload["text"])
                )
                assert checked.status_code == 200, checked.content
        self.answered[gateway.pk] = self.answered.get(gateway.pk, 0) + len(calls)
        return len(calls)
