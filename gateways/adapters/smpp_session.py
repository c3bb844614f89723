"""One bound SMPP session per gateway and worker process, kept across tasks: a
module-level registry keyed by gateway id, rebuilt when the gateway's settings
change. A reader thread owns the connection: it binds (again, with backoff, when the
bind is lost), answers ``enquire_link``, sends its own after ``enquire_link_interval``
idle seconds, matches each ``submit_sm_resp`` to its waiting sender, and hands every
delivery receipt (``deliver_sm``) to the ``gateways.apply_smpp_receipt`` task — the
receipt flow every gateway uses, bound to the SMSC account the bind authenticated
as. Senders (the batch's threads) wait for a free slot in the submit window
(``window`` unanswered ``submit_sm`` at most) and for their turn under
``throughput`` (``submit_sm`` a second on this bind).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import random
import select
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

import smpplib.client
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp
from celery import current_app
from django.conf import settings as django_settings
from django.db import connections

from . import smpp_codec
from .base import PermanentError, Receipt, RetryableError

log = logging.getLogger(__name__)

RECEIPT_TASK = "gateways.apply_smpp_receipt"

# submit_sm_resp statuses worth another try on this gateway; any other refusal is
# permanent (invalid destination or source, bad message, ...): fail over.
RETRYABLE = {
    0x08: "ESME_RSYSERR",
    0x14: "ESME_RMSGQFUL",
    0x45: "ESME_RSUBMITFAIL",
    0x58: "ESME_RTHROTTLED",
    0x64: "ESME_RX_T_APPN",
    0x04: "ESME_RINVBNDSTS",
}
# Bind refusals no retry cures (the credentials): the messages fail over instead of
# waiting. ESME_RBINDFAIL (too many binds, a restart) is retried like a lost bind.
REFUSED_BINDS = {0x0E: "ESME_RINVPASWD", 0x0F: "ESME_RINVSYSID"}
ESME_ROK = 0x00
ESME_RX_T_APPN = 0x64


@dataclass(frozen=True)
class Config:
    host: str
    port: int
    system_id: str
    password: str
    system_type: str = ""
    window: int = 10
    throughput: float = 0.0
    enquire_link_interval: float = 30.0
    timeout: float = 10.0  # connect, bind, and each submit_sm_resp
    at_most_once: bool = False

    @property
    def account(self) -> list:
        """What ``SmppAdapter.bind_account`` says of the gateway (a list: the task's JSON)."""
        return ["smpp", self.host, self.port, self.system_id]

    @classmethod
    def of(cls, gateway) -> Config:
        settings, credentials = gateway.settings or {}, gateway.credentials or {}
        return cls(
            host=settings["host"],
            port=int(settings["port"]),
            system_id=settings["system_id"],
            password=credentials.get("password", ""),
            system_type=settings.get("system_type") or "",
            window=int(settings.get("window") or 10),
            throughput=float(settings.get("throughput") or 0),
            enquire_link_interval=float(settings.get("enquire_link_interval") or 30),
            timeout=float(settings.get("timeout") or django_settings.GATEWAY_HTTP_TIMEOUT),
            at_most_once=gateway.delivery_guarantee == "at_most_once",
        )


_sessions: dict[int, Session] = {}
_registry_lock = threading.Lock()


def session_for(gateway) -> Session:
    """This process's session for ``gateway``, bound (or binding) already when it
    exists; a new one when the gateway's settings changed or the process forked."""
    version = _version(gateway)
    with _registry_lock:
        session = _sessions.get(gateway.pk)
        if session is not None and session.version == version and session.pid == os.getpid():
            return session
        if session is not None and session.pid == os.getpid():
            session.close()
        session = Session(gateway.pk, version, Config.of(gateway))
        _sessions[gateway.pk] = session
        session.start()
        return session


def close_all() -> None:
    """Unbind every session of this process (tests; a worker's shutdown)."""
    with _registry_lock:
        sessions = list(_sessions.values())
        _sessions.clear()
    for session in sessions:
        session.close()


def _version(gateway) -> str:
    facts = [gateway.settings, gateway.credentials, gateway.delivery_guarantee]
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()


@dataclass
class _Pending:
    """One submit_sm waiting for its response."""

    own_id: str
    done: threading.Event = field(default_factory=threading.Event)
    status: int | None = None
    message_id: str = ""
    lost: str = ""


class Session:
    # Seconds the reader waits for a PDU before it checks the link and its stop flag.
    POLL = 0.1
    # Receipts name the SMSC's id; the last ones it gave us map back to our message,
    # for a receipt that arrives before the worker recorded the send.
    REMEMBERED = 50_000

    def __init__(self, gateway_id: int, version: str, config: Config):
        self.gateway_id, self.version, self.config = gateway_id, version, config
        self.pid = os.getpid()
        # The project's Celery app, as the creating thread sees it: in the reader
        # thread ``current_app`` would be Celery's unconfigured default.
        self._celery = current_app._get_current_object()
        self._client: smpplib.client.Client | None = None
        self._bound = threading.Event()
        self._closing = threading.Event()
        self._write = threading.Lock()
        self._state = threading.Lock()
        self._pending: dict[int, _Pending] = {}
        self._window = threading.BoundedSemaphore(max(1, config.window))
        self._next_slot = 0.0
        self._reference = random.randrange(256)
        self._ours: OrderedDict[str, str] = OrderedDict()
        self._last_error = "not bound yet"
        self._refused = False
        self._thread = threading.Thread(target=self._run, name=f"smpp-{gateway_id}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._closing.set()
        client = self._client
        if client is not None and self._bound.is_set():
            try:
                with self._write:
                    client.send_pdu(smpplib.smpp.make_pdu("unbind", client=client))
            except (smpplib.exceptions.ConnectionError, smpplib.exceptions.PDUError, OSError):
                pass
        self._thread.join(timeout=5)
        self._disconnect("session closed")

    def next_reference(self) -> int:
        with self._state:
            self._reference = (self._reference + 1) % 256
            return self._reference

    # --- sending (the batch's threads)

    def submit_all(
        self, submits: list[smpp_codec.Submit], *, own_id: str, source, destination: str
    ) -> list[str]:
        """Submit every part, pipelined in the window; the SMSC's id of each part."""
        self._wait_until_bound()
        pending = [self._submit(part, own_id, source, destination) for part in submits]
        return [self._answer(p) for p in pending]

    def _wait_until_bound(self) -> None:
        deadline = time.monotonic() + self.config.timeout
        while not self._bound.wait(min(0.1, max(0.0, deadline - time.monotonic()))):
            if self._refused:  # no wait cures a refused password
                raise PermanentError(self._last_error)
            if time.monotonic() >= deadline:
                raise RetryableError(f"not bound: {self._last_error}")

    def _submit(self, part: smpp_codec.Submit, own_id: str, source, destination) -> _Pending:
        if not self._window.acquire(timeout=self.config.timeout):
            raise RetryableError(f"submit window full ({self.config.window} unanswered)")
        pending = _Pending(own_id)
        try:
            self._wait_for_turn()
            client = self._client
            if client is None or not self._bound.is_set():
                raise RetryableError(f"not bound: {self._last_error}")
            ton, npi, sender = source
            fields = {
                "source_addr_ton": ton,
                "source_addr_npi": npi,
                "source_addr": sender,
                "dest_addr_ton": 1,
                "dest_addr_npi": 1,
                "destination_addr": destination,
                "esm_class": part.esm_class,
                "data_coding": part.data_coding,
                "registered_delivery": 1,
                "short_message": part.short_message or None,
            }
            if part.message_payload:
                fields["message_payload"] = part.message_payload
            with self._write:
                pdu = smpplib.smpp.make_pdu("submit_sm", client=client, **fields)
                with self._state:
                    self._pending[pdu.sequence] = pending
                try:
                    client.send_pdu(pdu)
                except (smpplib.exceptions.ConnectionError, OSError) as exc:
                    raise RetryableError(f"bind lost while sending: {exc}") from exc
        except BaseException:
            self._forget(pending)
            raise
        return pending

    def _answer(self, pending: _Pending) -> str:
        if not pending.done.wait(self.config.timeout):
            self._forget(pending)
            return self._unknown(f"no submit_sm_resp within {self.config.timeout} s")
        if pending.lost:
            return self._unknown(pending.lost)
        status = pending.status or ESME_ROK
        if status == ESME_ROK:
            return pending.message_id
        name = RETRYABLE.get(status) or smpplib.consts.DESCRIPTIONS.get(status, "unknown")
        reason = f"submit_sm refused: 0x{status:02X} {name}"
        if status in RETRYABLE:
            raise RetryableError(reason)
        raise PermanentError(reason)

    def _forget(self, pending: _Pending) -> None:
        """Give a submit's window slot back, once, unless its answer or the end of the
        bind did."""
        with self._state:
            if pending.done.is_set():
                return
            for sequence, waiting in list(self._pending.items()):
                if waiting is pending:
                    del self._pending[sequence]
            pending.done.set()
        self._window.release()

    def _unknown(self, reason: str) -> str:
        """The SMSC may or may not have taken it: resend (at least once) or not."""
        if self.config.at_most_once:
            raise PermanentError(f"{reason}; not sent again: the gateway delivers at most once")
        raise RetryableError(reason)

    def _wait_for_turn(self) -> None:
        """Space submits 1/throughput seconds apart on this bind."""
        if self.config.throughput <= 0:
            return
        with self._state:
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1 / self.config.throughput
        if slot > now:
            time.sleep(slot - now)

    # --- the reader thread

    def _run(self) -> None:
        failures = 0
        while not self._closing.is_set():
            try:
                self._bind()
                failures = 0
                self._read()
            except Exception as exc:  # the link is gone, whatever broke it
                if not self._closing.is_set():
                    log.warning("SMPP gateway %s: %r", self.gateway_id, exc)
                self._disconnect(str(exc) or exc.__class__.__name__)
            if self._closing.is_set():
                return
            failures += 1
            # Backoff with jitter: 0.5 s, 1 s, 2 s, ... up to 30 s between binds.
            self._closing.wait(min(30.0, 0.5 * 2 ** (failures - 1)) * random.uniform(0.8, 1.2))

    def _bind(self) -> None:
        client = smpplib.client.Client(
            self.config.host,
            self.config.port,
            timeout=self.config.timeout,
            allow_unknown_opt_params=True,
            logger_name="gateways.adapters.smpp.wire",
        )
        self._client = client
        try:
            client.connect()
            client.bind_transceiver(
                system_id=self.config.system_id,
                password=self.config.password,
                system_type=self.config.system_type,
            )
        except smpplib.exceptions.PDUError as exc:
            status = exc.args[1] if len(exc.args) > 1 else None
            self._last_error = f"bind refused: {exc.args[0]}"
            self._refused = status in REFUSED_BINDS
            raise ConnectionError(self._last_error) from exc
        except smpplib.exceptions.ConnectionError as exc:
            self._refused = False
            raise ConnectionError(
                f"cannot connect to {self.config.host}:{self.config.port}"
            ) from exc
        self._refused = False
        self._bound.set()
        log.info("SMPP gateway %s bound to %s", self.gateway_id, self.config.host)

    def _read(self) -> None:
        client = self._client
        last_heard, asked_at = time.monotonic(), None  # asked_at: an enquire_link unanswered
        while not self._closing.is_set():
            readable, _, _ = select.select([client._socket], [], [], self.POLL)
            now = time.monotonic()
            if not readable:
                if asked_at is not None and now - asked_at > self.config.timeout:
                    raise ConnectionError("no answer to enquire_link")
                if asked_at is None and now - last_heard >= self.config.enquire_link_interval:
                    self._send(smpplib.smpp.make_pdu("enquire_link", client=client))
                    asked_at = now
                continue
            pdu = client.read_pdu()  # the socket's timeout bounds a half-received PDU
            last_heard, asked_at = time.monotonic(), None
            if pdu.command == "submit_sm_resp":
                self._answered(pdu.sequence, pdu.status, _text(getattr(pdu, "message_id", "")))
            elif pdu.command == "generic_nack":
                self._answered(pdu.sequence, pdu.status or 0x08, "")
            elif pdu.command == "deliver_sm":
                self._respond(pdu, "deliver_sm_resp", status=self._received(pdu))
            elif pdu.command == "enquire_link":
                self._respond(pdu, "enquire_link_resp")
            elif pdu.command == "unbind":
                self._respond(pdu, "unbind_resp")
                raise ConnectionError("the SMSC unbound")

    def _answered(self, sequence: int, status: int, message_id: str) -> None:
        with self._state:
            pending = self._pending.pop(sequence, None)
            if pending is None or pending.done.is_set():
                return
            if status == ESME_ROK and message_id:
                self._remember(message_id, pending.own_id)
            pending.status, pending.message_id = status, message_id
            pending.done.set()
        self._window.release()

    def _remember(self, smsc_id: str, own_id: str) -> None:
        self._ours[smsc_id] = own_id
        while len(self._ours) > self.REMEMBERED:
            self._ours.popitem(last=False)

    def _received(self, pdu) -> int:
        """A delivery receipt, handed to the receipt task; the deliver_sm_resp status.
        A receipt that cannot be handed on is answered with a temporary error, so the
        SMSC delivers it again later."""
        facts = smpp_codec.read_receipt(
            esm_class=pdu.esm_class,
            short_message=pdu.short_message,
            receipted_message_id=getattr(pdu, "receipted_message_id", None),
            message_state=getattr(pdu, "message_state", None),
        )
        if facts is None:
            return ESME_ROK  # a message from a phone: not ours to take
        with self._state:
            message_id = self._ours.get(facts.smsc_message_id, facts.smsc_message_id)
        receipt = Receipt(message_id, facts.status, facts.error, f"smpp:{facts.stat}")
        try:
            self._celery.signature(
                RECEIPT_TASK, args=(self.gateway_id, self.config.account, *_fields(receipt))
            ).apply_async()
        except Exception as exc:  # kombu raises several types
            log.warning("SMPP receipt %s not handed on (%s)", facts.smsc_message_id, exc)
            return ESME_RX_T_APPN
        finally:
            connections.close_all()  # an eager task opened this thread's connection
        return ESME_ROK

    def _respond(self, request, command: str, **fields) -> None:
        response = smpplib.smpp.make_pdu(command, client=self._client, **fields)
        response.sequence = request.sequence
        self._send(response)

    def _send(self, pdu) -> None:
        with self._write:
            self._client.send_pdu(pdu)

    def _disconnect(self, reason: str) -> None:
        """The bind is gone: every unanswered submit learns it now."""
        self._bound.clear()
        self._last_error = reason
        client, self._client = self._client, None
        if client is not None and client._socket is not None:
            with contextlib.suppress(OSError):
                client._socket.close()
            client._socket = None
            client.state = smpplib.consts.SMPP_CLIENT_STATE_CLOSED
        with self._state:
            lost = [p for p in self._pending.values() if not p.done.is_set()]
            self._pending = {}
            for pending in lost:
                pending.lost = f"bind lost before the SMSC answered ({reason})"
                pending.done.set()
        for _ in lost:
            self._window.release()


def _fields(receipt: Receipt) -> tuple[str, str, str, str]:
    return receipt.provider_message_id, receipt.status, receipt.error, receipt.raw_status


def _text(value) -> str:
    return value.decode("latin-1") if isinstance(value, bytes) else (value or "")
