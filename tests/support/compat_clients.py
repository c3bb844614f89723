"""The two peers' clients as their documentation has them call: query-string requests
with an ``authToken`` header (VerifyNow), JSON bodies with ``api-login``/``api-key``
headers (Octopush) -- only the base URL changed. Tasks queued by a request run when it
commits, so its message is in the outbox when the call returns."""

import base64
import json
from urllib.parse import urlencode

from django.test import Client, TestCase

from compat.credentials import rotate_secret
from compat.models import CompatCredential
from tests.support import factories

VERIFYNOW = "/compat/verifynow"
OCTOPUSH = "/compat/octopush/v1/public"


def make_credential(peer: str, *, stream=None, login="", event_key="login", **stream_fields):
    """A credential on a (new) stream; returns it with its plaintext secret."""
    if stream is None:
        account = factories.make_account()
        sender = factories.make_sender(account, "Acme")
        stream_fields.setdefault("default_sender", sender)
        stream, _ = factories.make_stream(account, **stream_fields)
    credential = CompatCredential(
        account=stream.account,
        peer=peer,
        login=login or f"C-{stream.pk:04d}{peer[:3].upper()}",
        stream=stream,
        event_key=event_key,
    )
    credential.full_clean(exclude=["secret_hash"])
    secret = rotate_secret(credential=credential)
    return credential, secret


class VerifyNowClient:
    def __init__(self, customer_id: str, password: str, *, remote_addr: str = "127.0.0.1"):
        self.client = Client(REMOTE_ADDR=remote_addr)
        self.customer_id = customer_id
        self.key = base64.b64encode(password.encode()).decode()
        self.auth_token = ""

    def call(self, method: str, path: str, params: dict, **headers):
        url = f"{VERIFYNOW}{path}?{urlencode(params)}"
        if self.auth_token and "HTTP_AUTHTOKEN" not in headers:
            headers["HTTP_AUTHTOKEN"] = self.auth_token
        with TestCase.captureOnCommitCallbacks(execute=True):
            return getattr(self.client, method.lower())(url, **headers)

    def token(self, **params):
        params = {"customerId": self.customer_id, "key": self.key, "scope": "NEW", **params}
        response = self.call("GET", "/auth/v1/authentication/token", params)
        if response.status_code == 200:
            self.auth_token = response.json()["token"]
        return response

    def send(self, mobile_number="9990655875", *, version=2, **params):
        path = "/verification/v2/verification/send" if version == 2 else "/verification/v3/send"
        params = {
            "countryCode": "91",
            "customerId": self.customer_id,
            "flowType": "SMS",
            "mobileNumber": mobile_number,
            **params,
        }
        return self.call("POST", path, params)

    def validate(self, verification_id, code, *, version=2, method="GET", **params):
        path = (
            "/verification/v2/verification/validateOtp"
            if version == 2
            else "/verification/v3/validateOtp"
        )
        params = {
            "customerId": self.customer_id,
            "verificationId": verification_id,
            "code": code,
            **params,
        }
        return self.call(method, path, params)


class OctopushClient:
    def __init__(self, login: str | None, key: str | None, *, remote_addr: str = "127.0.0.1"):
        self.client = Client(REMOTE_ADDR=remote_addr)
        self.headers = {}
        if login is not None:
            self.headers["HTTP_API_LOGIN"] = login
        if key is not None:
            self.headers["HTTP_API_KEY"] = key

    def call(self, method: str, path: str, body=None, *, raw=None, content_type=None):
        data = raw if raw is not None else json.dumps(body if body is not None else {})
        with TestCase.captureOnCommitCallbacks(execute=True):
            return getattr(self.client, method.lower())(
                f"{OCTOPUSH}{path}",
                data=data,
                content_type=content_type or "application/json",
                **self.headers,
            )

    def generate(self, body=None, **kwargs):
        return self.call("POST", "/service/otp/generate", body, **kwargs)

    def validate(self, body=None, **kwargs):
        return self.call("PUT", "/service/otp/validate", body, **kwargs)
