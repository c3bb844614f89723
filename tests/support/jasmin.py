"""A real Jasmin SMS gateway (``pip install jasmin``, in its own Python 3.11 venv under
``var/jasmin-venv``: its Twisted stack does not belong in ours) for the SMPP adapter
tests: our ESME binds to its SMPP server; its MT route forwards to an upstream SMSC
connector (the sink of ``tests/support/smsc.py``), whose receipts it relays back.

Each run has its own ports, config, store and log directory, a Redis database of its
own (``JASMIN_REDIS_DB``, default 15) and ids unique to the run, so its RabbitMQ
queues (on the shared vhost) are its own. Facts about the set-up are in
docs/operations.md ("An SMPP gateway, with Jasmin")."""

from __future__ import annotations

import ast
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.live import ROOT, free_port

VENV = Path(os.environ.get("JASMIN_VENV", ROOT / "var" / "jasmin-venv"))
JASMIND = VENV / "bin" / "jasmind.py"
AMQP_SPEC = VENV / "lib/python3.11/site-packages/txamqp/specs/standard/amqp0-9-1.stripped.xml"
# 0.11.1 relays no delivery receipt to SMPP users (jookies/jasmin#1236: its
# submit_sm_resp handler raises AttributeError); 0.11.0 does.
VERSION = "jasmin==0.11.0"

# Our ESME's account on Jasmin, and one that Jasmin holds to THROTTLED_RATE submit_sm
# a second (it answers ESME_RTHROTTLED to a submit_sm closer than 1/rate to the last).
SYSTEM_ID = "otp"
THROTTLED_SYSTEM_ID = "otpslow"
THROTTLED_RATE = 4
PASSWORD = "otp-pwd"


def require_jasmin() -> None:
    """Install Jasmin into its venv when it is missing (CI's .ci/run does it first);
    skip only when that cannot be done (no Python 3.11, no registry)."""
    if JASMIND.exists():
        return
    python = _python311()
    if python is None:
        pytest.skip("Jasmin needs Python 3.11 (python3.11 not found)")
    for argv in (
        [python, "-m", "venv", str(VENV)],
        [str(VENV / "bin/pip"), "install", "-q", VERSION],
    ):
        done = subprocess.run(argv, capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"could not install {VERSION}: {done.stderr[-500:]}")


def _python311() -> str | None:
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    for candidate in ("python3.11",):
        found = subprocess.run(["which", candidate], capture_output=True, text=True)
        if found.returncode == 0:
            return found.stdout.strip()
    return None


@dataclass
class Jasmin:
    workdir: Path
    upstream_port: int
    smpp_port: int = field(default_factory=free_port)
    jcli_port: int = field(default_factory=free_port)
    run: str = field(default_factory=lambda: secrets.token_hex(3))
    process: subprocess.Popen | None = None

    @property
    def log(self) -> Path:
        return self.workdir / "jasmind.out"

    @property
    def connector(self) -> str:
        return f"sink{self.run}"

    def received_payloads(self) -> list[bytes]:
        """The ``message_payload`` of each submit_sm its SMPP server decoded (its DEBUG
        log prints every PDU it receives)."""
        log = (self.workdir / "logs" / "default-smpps.log").read_text(errors="replace")
        found = re.findall(r"^message_payload: (b'.*'|b\".*\")$", log, re.MULTILINE)
        return [ast.literal_eval(value) for value in found]

    def start(self) -> Jasmin:
        config = self.workdir / "jasmin.cfg"
        config.write_text(self._config())
        for store in ("store",):
            (self.workdir / store).mkdir(exist_ok=True)
        since = self.log.stat().st_size if self.log.exists() else 0
        log = open(self.log, "ab")  # noqa: SIM115 - lives as long as the process
        self.process = subprocess.Popen(
            [
                str(VENV / "bin" / "python"),
                str(JASMIND),
                "-c",
                str(config),
                "--enable-dlr-thrower",
                "--enable-dlr-lookup",
                "--disable-http-api",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
            # Jasmin reads REDIS_URL, CLOUDAMQP_URL and any SECTION_OPTION variable over
            # its config file: ours (REDIS_URL above all) must not reach it.
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(self.workdir), "LANG": "C.UTF-8"},
        )
        self._wait_for("jCli Started.", since)
        self._wait_for("SMPPServer Started.", since)
        return self

    def configure(self) -> Jasmin:
        """Our ESME's user and group, the upstream connector (started), an MT route to it."""
        with JCli(self.jcli_port) as jcli:
            jcli.add("group", gid="otp")
            jcli.add("user", username=SYSTEM_ID, password=PASSWORD, gid="otp", uid="otp")
            jcli.add(
                "user",
                username=THROTTLED_SYSTEM_ID,
                password=PASSWORD,
                gid="otp",
                uid=THROTTLED_SYSTEM_ID,
                **{"mt_messaging_cred quota smpps_throughput": str(THROTTLED_RATE)},
            )
            jcli.add(
                "smppccm",
                cid=self.connector,
                host="127.0.0.1",
                port=str(self.upstream_port),
                username="jasmin",
                password="jasmin",
                submit_throughput="0",  # no cap of Jasmin's own: we test ours
                con_loss_delay="1",
                con_fail_delay="1",
                logfile=self.workdir / "logs" / "connector.log",
            )
            jcli.command(f"smppccm -1 {self.connector}")
            jcli.add(
                "mtrouter", type="DefaultRoute", connector=f"smppc({self.connector})", rate="0"
            )
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def discard_queues(self) -> None:
        """Delete the RabbitMQ queue of this run's connector (Jasmin declares one per
        connector and never deletes it)."""
        from kombu import Connection

        with Connection("amqp://guest:guest@127.0.0.1:5672//", connect_timeout=5) as broker:
            broker.default_channel.queue_delete(f"submit.sm.{self.connector}")

    def _wait_for(self, line: str, since: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if line.encode() in self.log.read_bytes()[since:]:
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"Jasmin did not log {line!r}: {self.log.read_text()[-3000:]}")

    def _config(self) -> str:
        logs, store = self.workdir / "logs", self.workdir / "store"
        logs.mkdir(exist_ok=True)
        redis_db = os.environ.get("JASMIN_REDIS_DB", "15")

        def section(name: str, **values) -> str:
            lines = [f"[{name}]"] + [f"{k} = {v}" for k, v in values.items()]
            return "\n".join(lines) + "\n"

        free = {
            name: free_port()
            for name in ("router", "smpp-server-pb", "client-management", "interceptor", "http")
        }
        return "\n".join(
            [
                section(
                    "smpp-server",
                    id=f"smpps{self.run}",
                    bind="127.0.0.1",
                    port=self.smpp_port,
                    log_file=logs / "default-smpps.log",
                    log_level="DEBUG",
                ),
                section(
                    "smpp-server-pb",
                    bind="127.0.0.1",
                    port=free["smpp-server-pb"],
                    log_file=logs / "smpp-server-pb.log",
                ),
                section(
                    "client-management",
                    bind="127.0.0.1",
                    port=free["client-management"],
                    store_path=store,
                    log_file=logs / "smppclient-manager.log",
                ),
                section("service-smppclient", log_file=logs / "service-smppclients.log"),
                section("sm-listener", log_file=logs / "messages.log"),
                section(
                    "dlr",
                    log_file=logs / "dlr.log",
                    log_level="DEBUG",
                    dlr_lookup_retry_delay=1,
                    dlr_lookup_max_retries=5,
                ),
                section("dlr-thrower", log_file=logs / "dlr-thrower.log"),
                section("deliversm-thrower", log_file=logs / "deliversm-thrower.log"),
                section(
                    "router",
                    bind="127.0.0.1",
                    port=free["router"],
                    store_path=store,
                    log_file=logs / "router.log",
                ),
                section(
                    "http-api", bind="127.0.0.1", port=free["http"], log_file=logs / "http.log"
                ),
                section("jcli", bind="127.0.0.1", port=self.jcli_port, log_file=logs / "jcli.log"),
                section("interceptor", log_file=logs / "interceptor.log"),
                section(
                    "amqp-broker",
                    host="127.0.0.1",
                    port=5672,
                    username="guest",
                    password="guest",
                    vhost="/",
                    spec=AMQP_SPEC,
                    log_file=logs / "amqp-client.log",
                ),
                section("redis-client", host="127.0.0.1", port=6379, dbid=redis_db, poolsize=4),
            ]
        )


class JCli:
    """Jasmin's telnet console: log in, one command at a time, read to the prompt."""

    PROMPT = b"jcli : "

    # Jasmin's default console login.
    USER, PASSWORD = "jcliadmin", "jclipwd"

    def __init__(self, port: int):
        self.port = port

    def __enter__(self) -> JCli:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=15)
        # It negotiates telnet options first and asks for the user name on a first line.
        self._until(b"Authentication required.")
        self._send("")
        self._until(b"Username: ")
        self._send(self.USER)
        self._until(b"Password: ")
        self._send(self.PASSWORD)
        self._until(self.PROMPT)
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._send("quit")
        finally:
            self.sock.close()

    def command(self, line: str, expect: bytes = PROMPT) -> str:
        self._send(line)
        return self._until(expect)

    def add(self, kind: str, **values: str) -> None:
        """``<kind> -a``, one ``key value`` line each, ``ok``; refused unless it says so."""
        self.command(f"{kind} -a", expect=b"> ")
        for key, value in values.items():
            self.command(f"{key} {value}", expect=b"> ")
        answer = self.command("ok")
        if "Successfully added" not in answer:
            raise RuntimeError(f"jCli refused {kind} {values}: {answer}")

    def _send(self, line: str) -> None:
        self.sock.sendall(line.encode() + b"\r\n")

    def _until(self, marker: bytes) -> str:
        data = b""
        while marker not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise RuntimeError(f"jCli closed: {data!r}")
            data += chunk
        return data.decode(errors="replace")
