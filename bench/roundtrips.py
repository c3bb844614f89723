"""Round trips per request counted at the socket: PostgreSQL and Redis (cache and
broker) reached through counting proxies, so health checks, transaction statements
and the task publish count too — not only the queries Django's counter sees.

A round trip is a turn of the conversation: the client speaking after the server last
did (or first). ``python -m bench.roundtrips <token>`` prints, per request kind, the
round trips to each service, the second of two identical requests (caches warm).
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import sys
import threading
from urllib.parse import urlsplit, urlunsplit


class CountingProxy:
    """A TCP forwarder to ``host:port`` that counts client turns over all connections."""

    def __init__(self, host: str, port: int):
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.turns = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.listener.accept()
            server = socket.create_connection(self.target)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            state = {"last": "server"}
            threading.Thread(
                target=self._pipe, args=(client, server, state, "client"), daemon=True
            ).start()
            threading.Thread(
                target=self._pipe, args=(server, client, state, "server"), daemon=True
            ).start()

    def _pipe(self, source, sink, state, side: str) -> None:
        try:
            while data := source.recv(65536):
                with self.lock:
                    if side == "client" and state["last"] == "server":
                        self.turns += 1
                    state["last"] = side
                sink.sendall(data)
        except OSError:
            pass  # the other side closed: the shutdown below ends both directions
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def take(self) -> int:
        with self.lock:
            turns, self.turns = self.turns, 0
        return turns


def _through(url: str, proxy: CountingProxy) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    host = f"127.0.0.1:{proxy.port}"
    netloc = f"{netloc[0]}@{host}" if len(netloc) == 2 else host
    return urlunsplit(parts._replace(netloc=netloc))


def main(token: str) -> None:
    pg_url, redis_url = os.environ["DATABASE_URL"], os.environ["REDIS_URL"]
    pg = urlsplit(pg_url)
    rd = urlsplit(redis_url)
    postgres = CountingProxy(pg.hostname or "127.0.0.1", pg.port or 5432)
    redis_proxy = CountingProxy(rd.hostname or "127.0.0.1", rd.port or 6379)
    os.environ["DATABASE_URL"] = _through(pg_url, postgres)
    os.environ["REDIS_URL"] = _through(redis_url, redis_proxy)
    os.environ["CELERY_BROKER_URL"] = os.environ["REDIS_URL"]

    import django

    django.setup()
    from django.db import close_old_connections
    from django.test import Client

    from gateways.models import OutboundMessage

    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def measure(call) -> dict:
        close_old_connections()  # what gunicorn's request_started does (the test client not)
        call()  # warm: caches filled, connections open
        postgres.take(), redis_proxy.take()
        close_old_connections()
        answer = call()
        counts = {"postgres": postgres.take(), "redis": redis_proxy.take()}
        counts["total"] = counts["postgres"] + counts["redis"]
        return answer, counts

    def send():
        body = json.dumps({"recipient": "+14155552671", "event": "login"})
        return client.post("/api/v1/otp/send", body, content_type="application/json", **auth)

    sent, send_counts = measure(send)
    vid = sent.json()["id"]
    text = OutboundMessage.objects.filter(verification_id=vid).get().text
    code = text.rsplit(" ", 1)[1]
    postgres.take(), redis_proxy.take()

    def verify():
        body = json.dumps({"id": vid, "code": "000000" if code != "000000" else "111111"})
        return client.post("/api/v1/otp/verify", body, content_type="application/json", **auth)

    _, verify_counts = measure(verify)

    def status():
        return client.get(f"/api/v1/otp/{vid}", **auth)

    _, status_counts = measure(status)
    print(json.dumps({"send": send_counts, "verify_wrong": verify_counts, "status": status_counts}))


if __name__ == "__main__":
    main(sys.argv[1])
