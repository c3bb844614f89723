"""A real server for the fuzz, fault and soak tests: gunicorn in a subprocess, as in
production (docs/operations.md), on a free port (see :func:`free_port`), with its
memory read from /proc."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port nobody listens on: the kernel's pick, or the first free one of
    ``OTP_TEST_PORTS`` (``low-high``) when a machine needs tests kept in a range."""
    if not os.environ.get("OTP_TEST_PORTS"):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            return sock.getsockname()[1]
    low, _, high = os.environ["OTP_TEST_PORTS"].partition("-")
    for port in range(int(low), int(high or low) + 1):
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port in OTP_TEST_PORTS={low}-{high}")


class Server:
    """``gunicorn config.wsgi`` with the given environment (on top of this one)."""

    def __init__(self, env: dict[str, str], *, workers: int = 2, threads: int = 4):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env}
        self.workers, self.threads = workers, threads
        self.proc: subprocess.Popen | None = None
        # The server's own output (request logs, tracebacks): read it with .log().
        self.output = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed in stop()

    def start(self, timeout: float = 30) -> Server:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                str(self.workers),
                "--threads",
                str(self.threads),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.proc.returncode}:\n{self.log()}")
            try:
                requests.get(f"{self.url}/api/v1/otp/send", timeout=2)
                return self
            except requests.RequestException:  # not listening yet, or workers booting
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not answer within {timeout} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()

    def close(self) -> None:
        self.stop()
        self.output.close()

    def log(self) -> str:
        self.output.seek(0)
        return self.output.read()

    def __enter__(self) -> Server:
        try:
            return self.start()
        except BaseException:  # __exit__ will not run: leave no server behind
            self.close()
            raise

    def __exit__(self, *exc) -> None:
        self.close()

    def rss_bytes(self) -> int:
        """Resident memory of gunicorn and all its workers."""
        assert self.proc is not None
        return sum(_rss(pid) for pid in _tree(self.proc.pid))


def _tree(pid: int) -> list[int]:
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        try:
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except OSError:
            children = []
        todo += [int(c) for c in children]
    return pids


def _rss(pid: int) -> int:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0
