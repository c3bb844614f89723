"""An integrator's view of the OTP API for tests: JSON requests with a stream token,
and the development outbox where the codes arrive."""

import json
import re

from django.test import Client, TestCase

from gateways.models import OutboundMessage

API = "/api/v1/otp"


class OtpClient:
    """Calls the API as an integrator would. Tasks queued by a request run when it
    commits (tests inside a transaction capture the on-commit callbacks and run them)."""

    def __init__(self, token: str | None, *, remote_addr: str = "127.0.0.1", **headers: str):
        self.client = Client(REMOTE_ADDR=remote_addr)
        self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
        self.headers.update(headers)

    def post(self, path: str, body=None, *, raw: str | bytes | None = None, **headers):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        with TestCase.captureOnCommitCallbacks(execute=True):
            return self.client.post(
                f"{API}/{path}",
                data=data,
                content_type=headers.pop("content_type", "application/json"),
                **{**self.headers, **headers},
            )

    def get(self, path: str, **headers):
        return self.client.get(f"{API}/{path}", **{**self.headers, **headers})

    def send(self, **body):
        body.setdefault("event", "login")
        return self.post("send", body)

    def verify(self, **body):
        return self.post("verify", body)

    def status(self, verification_id: str):
        return self.get(str(verification_id))

    def cancel(self, verification_id: str):
        return self.post(f"{verification_id}/cancel")


def outbox(recipient: str | None = None) -> list[OutboundMessage]:
    """Messages the console gateway recorded, newest first."""
    messages = OutboundMessage.objects.filter(gateway__kind="console")
    if recipient:
        messages = messages.filter(recipient=recipient)
    return list(messages.order_by("-created_at"))


def code_from(text: str) -> str:
    """The code in a message text that reads '... code is <code>' or '... code is 1, 2'."""
    match = re.search(r"code is ([^\s.,]+(?:, [^\s.,]+)*)", text)
    assert match, f"no code in {text!r}"
    return match.group(1).replace(", ", "")


def latest_code(recipient: str) -> str:
    messages = outbox(recipient)
    assert messages, f"nothing in the outbox for {recipient}"
    return code_from(messages[0].text)
