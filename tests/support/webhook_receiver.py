"""A customer's webhook receiver, as a process of its own: it checks each request's
signature (the recipe of docs/api.md) and appends what it got to a JSON-lines file.

    python -m tests.support.webhook_receiver PORT SECRET LOGFILE
"""

import hashlib
import hmac
import json
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPLAY_WINDOW = 300


def signature_ok(secret: str, body: bytes, header: str) -> bool:
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(time.time() - timestamp) > REPLAY_WINDOW:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return hmac.compare_digest(expected.hexdigest(), parts.get("v1", ""))


def serve(port: int, secret: str, log: Path) -> None:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ok = signature_ok(secret, body, self.headers.get("X-OTP-Signature", ""))
            event = json.loads(body)
            line = {
                "received_at": time.time(),
                "id": event["id"],
                "type": event["type"],
                "verification": (event["data"] or {}).get("id"),
                "signature_ok": ok,
            }
            with log.open("a") as f:
                f.write(json.dumps(line) + "\n")
            self.send_response(200 if ok else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

    ThreadingHTTPServer.allow_reuse_address = True
    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def start(port: int, secret: str, log: Path) -> subprocess.Popen:
    """Start the receiver and wait until it accepts connections."""
    import socket

    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.webhook_receiver", str(port), secret, str(log)],
        cwd=Path(__file__).resolve().parents[2],
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("the webhook receiver did not start")


def received(log: Path) -> list[dict]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


if __name__ == "__main__":
    serve(int(sys.argv[1]), sys.argv[2], Path(sys.argv[3]))
