"""A small sink SMSC: the upstream that Jasmin forwards our messages to. It records
every ``submit_sm`` exactly as it arrived (raw PDU bytes, parsed fields, arrival time)
and answers each with a delivery receipt when one was asked for, ``DELIVRD`` unless
the destination is listed in ``outcomes``. Jasmin relays those receipts to our ESME.

Plain sockets and smpplib's PDU codec; one thread per connection. It is a test
double for the carrier behind Jasmin only: our adapter talks to Jasmin alone."""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from smpplib import smpp

from tests.support.live import free_port


@dataclass(frozen=True)
class Submitted:
    raw: bytes  # the whole submit_sm PDU as received
    destination: str
    source: str
    source_ton: int
    source_npi: int
    data_coding: int
    esm_class: int
    registered_delivery: int
    short_message: bytes
    message_payload: bytes
    message_id: str
    at: float  # time.monotonic() on arrival

    @property
    def user_data(self) -> bytes:
        """The message bytes without a user data header."""
        data = self.short_message or self.message_payload
        if self.esm_class & 0x40:
            return data[1 + data[0] :]
        return data

    @property
    def concatenation(self) -> tuple[int, int, int] | None:
        """(reference, total, sequence) of an 8-bit concatenation header."""
        data = self.short_message
        if not self.esm_class & 0x40 or data[1:3] != b"\x00\x03":
            return None
        return data[3], data[4], data[5]


class _Sequences:
    """What smpplib asks a "client" for when it builds a PDU."""

    def __init__(self):
        self._next = 0
        self._lock = threading.Lock()

    def next_sequence(self) -> int:
        with self._lock:
            self._next += 1
            return self._next


@dataclass
class SinkSmsc:
    port: int = field(default_factory=free_port)
    outcomes: dict[str, str] = field(default_factory=dict)  # destination -> stat
    received: list[Submitted] = field(default_factory=list)
    binds: int = 0
    receipt_delay: float = 0.3
    _server: socket.socket | None = None
    _connections: list[socket.socket] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _sequences: _Sequences = field(default_factory=_Sequences)
    _ids: int = 0

    def start(self) -> SinkSmsc:
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(8)
        threading.Thread(target=self._accept, daemon=True, name="sink-smsc").start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for conn in list(self._connections):
            _close(conn)

    def to(self, destination: str) -> list[Submitted]:
        with self._lock:
            return [s for s in self.received if s.destination == destination]

    # --- the server

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self._connections.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        write = threading.Lock()
        try:
            while True:
                raw = _read_pdu(conn)
                pdu = smpp.parse_pdu(raw, client=self._sequences, allow_unknown_opt_params=True)
                if pdu.command.startswith("bind_"):
                    with self._lock:
                        self.binds += 1
                    self._answer(conn, write, pdu, f"{pdu.command}_resp", system_id="sink")
                elif pdu.command == "enquire_link":
                    self._answer(conn, write, pdu, "enquire_link_resp")
                elif pdu.command == "unbind":
                    self._answer(conn, write, pdu, "unbind_resp")
                    return
                elif pdu.command == "submit_sm":
                    self._submitted(conn, write, pdu, raw)
        except (ConnectionError, OSError, struct.error):
            return
        finally:
            _close(conn)

    def _submitted(self, conn, write, pdu, raw: bytes) -> None:
        with self._lock:
            self._ids += 1
            message_id = f"sink-{self._ids}"
            submitted = Submitted(
                raw=raw,
                destination=_text(pdu.destination_addr),
                source=_text(pdu.source_addr),
                source_ton=pdu.source_addr_ton,
                source_npi=pdu.source_addr_npi,
                data_coding=pdu.data_coding,
                esm_class=pdu.esm_class,
                registered_delivery=pdu.registered_delivery,
                short_message=pdu.short_message or b"",
                message_payload=getattr(pdu, "message_payload", None) or b"",
                message_id=message_id,
                at=time.monotonic(),
            )
            self.received.append(submitted)
        self._answer(conn, write, pdu, "submit_sm_resp", message_id=message_id)
        if submitted.registered_delivery & 0x01:
            # A moment later, as a carrier would: Jasmin stores its receipt map after
            # our submit_sm_resp.
            stat = self.outcomes.get(submitted.destination, "DELIVRD")
            threading.Timer(
                self.receipt_delay, self._receipt, args=(conn, write, submitted, stat)
            ).start()

    def _receipt(self, conn, write, submitted: Submitted, stat: str) -> None:
        now = time.strftime("%y%m%d%H%M")
        delivered = "001" if stat == "DELIVRD" else "000"
        text = (
            f"id:{submitted.message_id} sub:001 dlvrd:{delivered} submit date:{now} "
            f"done date:{now} stat:{stat} err:000 text:"
        )
        state = {"DELIVRD": 2, "EXPIRED": 3, "UNDELIV": 5, "REJECTD": 8}.get(stat, 7)
        receipt = smpp.make_pdu(
            "deliver_sm",
            client=self._sequences,
            source_addr=submitted.destination,
            destination_addr=submitted.source,
            esm_class=0x04,  # SMSC delivery receipt
            short_message=text.encode(),
            receipted_message_id=submitted.message_id,
            message_state=state,
        )
        with write, contextlib.suppress(OSError):  # the connection went meanwhile
            conn.sendall(receipt.generate())

    def _answer(self, conn, write, request, command: str, **fields) -> None:
        response = smpp.make_pdu(command, client=self._sequences, **fields)
        response.sequence = request.sequence
        with write:
            conn.sendall(response.generate())


def _read_pdu(conn: socket.socket) -> bytes:
    head = _exactly(conn, 4)
    (length,) = struct.unpack(">L", head)
    return head + _exactly(conn, length - 4)


def _exactly(conn: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _text(value) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else (value or "")


def _close(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        conn.shutdown(socket.SHUT_RDWR)
    conn.close()


@dataclass
class Link:
    """A TCP relay between our ESME and Jasmin that a test can cut: both ends see the
    connection drop, as on a network failure."""

    target_port: int
    port: int = field(default_factory=free_port)
    cuts: int = 0
    # Cleared: bytes wait in the link (a stalled network), none is lost.
    flowing: threading.Event = field(default_factory=threading.Event)
    # Cleared: a connection is accepted and closed at once (the SMSC is down).
    open_: threading.Event = field(default_factory=threading.Event)
    # How many PDUs of each command id our ESME sent through the link.
    sent: Counter = field(default_factory=Counter)
    _server: socket.socket | None = None
    _pairs: list[tuple[socket.socket, socket.socket]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Link:
        self.flowing.set()
        self.open_.set()
        self._server = socket.socket()
        self._server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._server.bind(("127.0.0.1", self.port))
        self._server.listen(8)
        threading.Thread(target=self._accept, daemon=True, name="link").start()
        return self

    def cut(self) -> int:
        """Drop every connection now; returns how many there were."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
            self.cuts += 1
        for a, b in pairs:
            _close(a)
            _close(b)
        return len(pairs)

    def connections(self) -> int:
        with self._lock:
            return len(self._pairs)

    def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.cut()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            if not self.open_.is_set():
                _close(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._pairs.append((client, upstream))
            for a, b, seen in ((client, upstream, self.sent), (upstream, client, None)):
                threading.Thread(
                    target=_relay, args=(a, b, self.flowing, seen), daemon=True
                ).start()


def _relay(
    source: socket.socket, target: socket.socket, flowing: threading.Event, seen: Counter | None
) -> None:
    stream = b""
    try:
        while chunk := source.recv(65536):
            flowing.wait()
            target.sendall(chunk)
            if seen is not None:  # count whole PDUs: length, then command id
                stream += chunk
                while len(stream) >= 8 and len(stream) >= struct.unpack(">L", stream[:4])[0]:
                    length, command = struct.unpack(">LL", stream[:8])
                    seen[command] += 1
                    stream = stream[length:]
    except OSError:
        pass
    finally:
        _close(source)
        _close(target)
