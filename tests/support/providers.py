"""Local stand-ins for hosted SMS/voice providers, checking each request the way the
provider does (path, authentication, required form fields) and answering with the
provider's documented success and error bodies. Behaviour is scripted per test:
``fail_next`` answers with errors before recovering, ``hang`` stalls like a dead host.
"""

from __future__ import annotations

import base64
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from gateways.adapters import webhook as webhook_adapter
from gateways.sms import sms_parts

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def twilio_error(code: int, message: str, status: int = 400) -> dict:
    return {
        "code": code,
        "message": message,
        "status": status,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
    }


def vonage_error(status: str, text: str) -> dict:
    return {"message-count": "1", "messages": [{"status": status, "error-text": text}]}


@dataclass
class Call:
    path: str
    form: dict
    headers: dict
    body: bytes
    repeated: bool = False  # a send the provider deduplicated (webhook Idempotency-Key)


@dataclass
class FakeProvider:
    """One provider server on 127.0.0.1 and a free port."""

    kind: str  # twilio, vonage, webhook
    account: str = "AC" + "0" * 32
    secret: str = "provider-secret"
    calls: list[Call] = field(default_factory=list)
    accepted: list[Call] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # HTTP statuses to answer first
    hang_seconds: float = 0.0
    hang_first: int = 0  # with hang_seconds: only the first N calls hang, then fail 503
    _seq: int = 0
    # The webhook's idempotency: our message id (Idempotency-Key) -> its id, taken once.
    taken: dict[str, str] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)

    def __post_init__(self):
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status, answer = provider.handle(self.path, dict(self.headers), body)
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self):
                status, answer = provider.status(self.path, dict(self.headers))
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval, in every test.
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    # --- the providers' rules

    def handle(self, path: str, headers: dict, body: bytes) -> tuple[int, dict]:
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        call = Call(path=urlparse(path).path, form=form, headers=headers, body=body)
        self.calls.append(call)
        if self.hang_seconds and (not self.hang_first or len(self.calls) <= self.hang_first):
            time.sleep(self.hang_seconds)
            if self.hang_first:
                return 503, self.error_body(503)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return status, self.error_body(status)
        status, answer = getattr(self, f"_{self.kind}")(call)
        if status < 300 and not call.repeated:
            self.accepted.append(call)
        return status, answer

    def error_body(self, status: int) -> dict:
        if self.kind == "twilio":
            code = 20429 if status == 429 else 20500
            return {"code": code, "message": "Internal Server Error", "status": status}
        if self.kind == "vonage":
            return {"message-count": "1", "messages": [{"status": "5", "error-text": "Internal"}]}
        return {"error": "unavailable"}

    def _twilio(self, call: Call) -> tuple[int, dict]:
        match = re.fullmatch(r"/2010-04-01/Accounts/([^/]+)/(Messages|Calls)\.json", call.path)
        if not match:
            return 404, {"code": 20404, "message": "The requested resource was not found"}
        auth = call.headers.get("Authorization", "")
        expected = "Basic " + base64.b64encode(f"{self.account}:{self.secret}".encode()).decode()
        if match.group(1) != self.account or auth != expected:
            return 401, {"code": 20003, "message": "Authentication Error", "status": 401}
        to = call.form.get("To", "")
        if not to:
            return 400, {
                "code": 21604,
                "message": "A 'To' phone number is required.",
                "status": 400,
            }
        if not E164.match(to):
            return 400, {
                "code": 21211,
                "message": f"The 'To' number {to} is not a valid phone number.",
                "status": 400,
            }
        if not call.form.get("From"):
            return 400, {
                "code": 21603,
                "message": "A 'From' phone number is required.",
                "status": 400,
            }
        self._seq += 1
        if match.group(2) == "Messages":
            if not call.form.get("Body"):
                return 400, {"code": 21602, "message": "Message body is required.", "status": 400}
            sid = f"SM{self._seq:032x}"
        else:
            if "<Say" not in call.form.get("Twiml", ""):
                return 400, {"code": 21205, "message": "Url or Twiml is required.", "status": 400}
            sid = f"CA{self._seq:032x}"
        return 201, {"sid": sid, "status": "queued", "to": to, "from": call.form["From"]}

    def _vonage(self, call: Call) -> tuple[int, dict]:
        if call.path != "/sms/json":
            return 404, {}
        f = call.form
        if f.get("api_key") != self.account or f.get("api_secret") != self.secret:
            return 200, {
                "message-count": "1",
                "messages": [{"status": "4", "error-text": "Bad Credentials"}],
            }
        for name in ("from", "to", "text"):
            if not f.get(name):
                return 200, {
                    "message-count": "1",
                    "messages": [{"status": "2", "error-text": f"Missing {name} param"}],
                }
        if not f["to"].isdigit():
            return 200, {
                "message-count": "1",
                "messages": [{"status": "3", "error-text": "Invalid to"}],
            }
        if sms_parts(f["text"]).encoding == "ucs2" and f.get("type") != "unicode":
            return 200, {
                "message-count": "1",
                "messages": [{"status": "6", "error-text": "Invalid Message"}],
            }
        self._seq += 1
        return 200, {
            "message-count": "1",
            "messages": [
                {
                    "to": f["to"],
                    "message-id": f"0A{self._seq:014X}",
                    "status": "0",
                    "remaining-balance": "3.14159265",
                    "message-price": "0.03330000",
                    "network": "12345",
                }
            ],
        }

    def _webhook(self, call: Call) -> tuple[int, dict]:
        signature = call.headers.get("X-OTP-Signature", "")
        if not webhook_adapter.verify(self.secret, call.body, signature):
            return 401, {"error": "bad signature"}
        key = call.headers.get("Idempotency-Key", "")
        if key in self.taken:  # a repeated send of one message: taken once
            call.repeated = True
            return 200, {"id": self.taken[key]}
        self._seq += 1
        if key:
            self.taken[key] = f"wh-{self._seq}"
        return 200, {"id": f"wh-{self._seq}"}

    def status(self, path: str, headers: dict) -> tuple[int, dict]:
        """The webhook's ``status_url``: did it take our message?"""
        url = urlparse(path)
        if self.kind != "webhook" or url.path != "/status":
            return 404, {}
        if not webhook_adapter.verify(
            self.secret, url.query.encode(), headers.get("X-OTP-Signature", "")
        ):
            return 401, {"error": "bad signature"}
        message_id = parse_qs(url.query).get("id", [""])[0]
        self.lookups.append(message_id)
        if message_id in self.taken:
            return 200, {"id": self.taken[message_id]}
        return 404, {"error": "unknown"}
