"""A gateway that takes time to answer: ``python -m bench.latency <port> [seconds]``
serves the webhook gateway's protocol (POST JSON, answer ``{"id": ...}``) after
``seconds`` (0.1 by default), with keep-alive, and ``GET /stats`` says how many
requests it answered and how many were in flight at most — what a real HTTP provider
(50 to 300 ms) makes a dispatcher wait for."""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_lock = threading.Lock()
_stats = {"answered": 0, "in_flight": 0, "max_in_flight": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: a dispatcher may reuse its connections
    delay = 0.1

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with _lock:
            _stats["in_flight"] += 1
            _stats["max_in_flight"] = max(_stats["max_in_flight"], _stats["in_flight"])
        time.sleep(self.delay)
        with _lock:
            _stats["in_flight"] -= 1
            _stats["answered"] += 1
        try:
            message_id = json.loads(body).get("id", "")
        except ValueError:
            message_id = ""
        self._answer({"id": f"latency-{message_id}"})

    def do_GET(self) -> None:
        """The figures so far; ``/stats?reset`` starts them afresh after answering."""
        with _lock:
            figures = dict(_stats)
            if "reset" in self.path:
                _stats.update(answered=0, max_in_flight=_stats["in_flight"])
        self._answer(figures)

    def _answer(self, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


def main(port: int, delay: float) -> None:
    Handler.delay = delay
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    server.request_queue_size = 1024
    server.serve_forever()


if __name__ == "__main__":
    main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.1)
