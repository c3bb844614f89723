"""A real Kannel (bearerbox + smsbox from Debian's ``kannel``) with the ``fakesmsc`` test
SMSC from ``kannel-extras``, on loopback and free ports, for the gateway tests."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from tests.support.live import free_port

BEARERBOX = "/usr/sbin/bearerbox"
SMSBOX = "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
PASSWORD = "kannel-test"


@dataclass
class Kannel:
    workdir: Path
    admin_port: int = field(default_factory=free_port)
    smsbox_port: int = field(default_factory=free_port)
    sendsms_port: int = field(default_factory=free_port)
    smsc_port: int = field(default_factory=free_port)
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms"

    @property
    def fakesmsc_log(self) -> Path:
        return self.workdir / "fakesmsc.out"

    def received(self) -> str:
        return self.fakesmsc_log.read_text(errors="replace")

    def start(self) -> Kannel:
        conf = self.workdir / "kannel.conf"
        conf.write_text(
            f"""group = core
admin-port = {self.admin_port}
admin-password = {PASSWORD}
smsbox-port = {self.smsbox_port}
box-allow-ip = 127.0.0.1
admin-allow-ip = 127.0.0.1
log-file = "{self.workdir}/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = fake
port = {self.smsc_port}
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
sendsms-port = {self.sendsms_port}
log-file = "{self.workdir}/smsbox.log"
log-level = 1

group = sendsms-user
username = otp
password = {PASSWORD}

group = sms-service
keyword = default
text = "ok"
catch-all = true
max-messages = 0
"""
        )
        self._spawn([BEARERBOX, str(conf)], "bearerbox.out")
        self._wait(f"http://127.0.0.1:{self.admin_port}/status.txt?password={PASSWORD}")
        self._spawn(
            [
                FAKESMSC,
                "-H",
                "127.0.0.1",
                "-r",
                str(self.smsc_port),
                "-i",
                "100000",
                "-m",
                "-1",
                "100 200 text noop",
            ],
            "fakesmsc.out",
        )
        self._spawn([SMSBOX, str(conf)], "smsbox.out")
        self._wait(f"http://127.0.0.1:{self.sendsms_port}/cgi-bin/sendsms", ok=(400, 403, 202))
        self._wait_for_smsc()
        return self

    def _spawn(self, argv: list[str], out: str) -> None:
        log = open(self.workdir / out, "wb")  # noqa: SIM115 - lives as long as the process
        self.processes.append(
            subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        )

    def _wait(self, url: str, ok=(200,), timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(url, timeout=1).status_code in ok:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"Kannel did not answer {url}")

    def _wait_for_smsc(self, timeout: float = 20) -> None:
        url = f"http://127.0.0.1:{self.admin_port}/status.txt?password={PASSWORD}"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "online" in requests.get(url, timeout=1).text.split("SMSC connections:")[-1]:
                return
            time.sleep(0.1)
        raise RuntimeError("fakesmsc did not connect")

    def stop(self) -> None:
        for proc in reversed(self.processes):
            proc.terminate()
        for proc in self.processes:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def require_kannel() -> None:
    missing = [p for p in (BEARERBOX, SMSBOX, FAKESMSC) if not shutil.which(p)]
    if missing:
        pytest.skip(f"needs Kannel (apt-get install kannel kannel-extras): {missing}")
