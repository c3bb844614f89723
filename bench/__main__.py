"""``python -m bench``: load the API and the dispatcher on one machine and print a table.

It creates a fresh PostgreSQL database, starts gunicorn with the production settings
(DEBUG off, PostgreSQL, Redis), a real Celery worker and the no-op gateway, prepares
streams, recipients and verifications, then runs wrk (Lua scripts in bench/lua/) from
a second process against: the ceiling (a bare Django JSON view in the same server),
send with the send limit off and on, verify with right and wrong codes, and the status
read; then times 20,000 messages from queued to sent through the worker. Results go to
bench/results/ (JSON, and latest.json) and a plot of throughput and p99 against
concurrency. ``--smoke`` runs it all in a few seconds (the test suite does, so it
cannot rot).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psutil
import requests

ROOT = Path(__file__).resolve().parent.parent
LUA = ROOT / "bench" / "lua"
RESULTS = ROOT / "bench" / "results"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="tiny durations: a check, not a measure"
    )
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per wrk run")
    parser.add_argument("--concurrency", default="1,4,16,32,64", help="connections to sweep")
    parser.add_argument(
        "--workers", type=int, default=2 * (os.cpu_count() or 1), help="gunicorn workers"
    )
    parser.add_argument(
        "--messages", type=int, default=20_000, help="messages for the dispatch run"
    )
    parser.add_argument("--storm", type=int, default=10_000, help="sends of the login storm")
    parser.add_argument("--celery-concurrency", type=int, default=2)
    parser.add_argument("--port", type=int, default=8650)
    parser.add_argument("--database", default="postgres://postgres@127.0.0.1:5432/otp_bench")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/13")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.concurrency, args.messages, args.storm = 1.0, "1,8", 300, 300
    args.levels = [int(c) for c in args.concurrency.split(",")]
    return args


def environment(args) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=args.database,
        REDIS_URL=args.redis,
        CELERY_BROKER_URL=args.redis,
        DEBUG="false",
        SECRET_KEY="bench-secret-key-" + "x" * 40,
        OTP_HASH_KEY="bench-hash-key-" + "y" * 40,
        OTP_ENCRYPTION_KEY="bench-encryption-key-" + "z" * 40,
        ALLOWED_HOSTS="127.0.0.1,localhost",
        OTP_DEFAULT_GATEWAY="noop",
        # Throttles stay on (their cost is measured) but do not cap the measurement.
        OTP_API_RATE_PER_TOKEN="10000000/s",  # noqa: S106 - a rate, not a password
        OTP_API_RATE_PER_IP="10000000/s",
        OTP_BENCH_CEILING="true",
        LOG_LEVEL="WARNING",
        VAR_DIR=str(Path(tempfile.gettempdir()) / "otp-bench-var"),
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    return env


def run(cmd: list[str], env: dict, **kwargs) -> str:
    return subprocess.run(
        cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True, **kwargs
    ).stdout


def reset_database(url: str) -> None:
    """A fresh database each run, so figures do not depend on earlier ones."""
    import psycopg

    base, name = url.rsplit("/", 1)
    with psycopg.connect(
        base.replace("postgres://", "postgresql://") + "/postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def flush_redis(url: str) -> None:
    import redis

    redis.Redis.from_url(url).flushdb()


class Processes:
    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd: list[str], env: dict) -> subprocess.Popen:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            self.stop(proc)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


# --- wrk -------------------------------------------------------------------------------

UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS[unit]


def wrk(
    url: str,
    script: str,
    data: Path,
    token: str,
    connections: int,
    duration: float,
    offset: int = 0,
) -> dict:
    threads = min(connections, 2)
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(duration))}s",
            "--latency",
            "--timeout",
            "10s",
            "-s",
            str(LUA / script),
            url,
            "--",
            str(data),
            token or "-",
            str(offset),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    if "Latency Distribution" not in out:
        raise RuntimeError(f"wrk measured nothing at {url} ({connections} connections):\n{out}")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    latency = dict(re.findall(r"^\s*(50|99)%\s+([\d.]+(?:us|ms|s|m))", out, re.MULTILINE))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    return {
        "connections": connections,
        "rps": round(rps, 1),
        "p50_ms": round(_ms(latency["50"]), 2),
        "p99_ms": round(_ms(latency["99"]), 2),
        "requests": total,
        "non_2xx": int(bad.group(1)) if bad else 0,
        "socket_errors": errors.group(1) if errors else "",
    }


_NOW = (
    "import json, django; django.setup(); from django.utils import timezone; "
    "print(json.dumps({'now': timezone.now().isoformat()}))"
)


def storm(url: str, data: Path, token: str, count: int, database: str) -> dict:
    """``count`` sends over 64 connections, as fast as they are answered. wrk cannot stop
    after a number of requests, so it runs until the database holds ``count`` messages
    of the storm (or stops growing) and is then interrupted (it prints its figures on
    SIGINT)."""
    import psycopg

    threads, connections = 2, 64
    proc = subprocess.Popen(
        ["wrk", "-t", str(threads), "-c", str(connections), "-d", "600s", "--latency",
         "--timeout", "30s", "-s", str(LUA / "storm.lua"), url, "--", str(data), token,
         str(count), str(threads)],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    counted = (
        "SELECT count(*) FROM gateways_outboundmessage m JOIN streams_account a "
        "ON a.id = m.account_id WHERE a.slug = 'latency'"
    )
    with psycopg.connect(database.replace("postgres://", "postgresql://"), autocommit=True) as db:
        before = last = db.execute(counted).fetchone()[0]  # the dispatch runs' messages
        still = 0
        while proc.poll() is None:
            time.sleep(0.25)
            now = db.execute(counted).fetchone()[0]
            still = still + 1 if now == last and now > before else 0
            if now - before >= count or still >= 40:  # all in, or 10 s without a new one
                break
            last = now
    proc.send_signal(signal.SIGINT)
    out = proc.communicate(timeout=30)[0]
    latency = dict(re.findall(r"^\s*(50|99)%\s+([\d.]+(?:us|ms|s|m))", out, re.MULTILINE))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": round(_ms(latency["50"]), 2),
        "p99_ms": round(_ms(latency["99"]), 2),
        "non_2xx": int(bad.group(1)) if bad else 0,
    }


def sweep(url, script, data, token, levels, duration) -> dict:
    runs, used = [], 0
    for c in levels:
        runs.append(wrk(url, script, data, token, c, duration, offset=used))
        used += runs[-1]["requests"] + 1  # at most this many lines, from each start
    best = max(runs, key=lambda r: r["rps"])
    return {"runs": runs, "peak": best}


# --- Memory ------------------------------------------------------------------------------


def peak_rss_mb(proc: subprocess.Popen) -> dict:
    """Peak resident memory (VmHWM) of a process group's children: the gunicorn or
    celery workers, not their masters."""
    try:
        parent = psutil.Process(proc.pid)
        children = parent.children(recursive=True)
    except psutil.NoSuchProcess:
        return {}
    figures = []
    for child in children:
        try:
            status = Path(f"/proc/{child.pid}/status").read_text()
        except OSError:
            continue
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        if match:
            figures.append(int(match.group(1)) / 1024)
    return {"max_mb": round(max(figures), 1), "processes": len(figures)} if figures else {}


# --- The run -----------------------------------------------------------------------------


def main(argv=None) -> int:
    args = parse_args(argv)
    if not shutil.which("wrk"):
        print("wrk is needed: apt-get install wrk", file=sys.stderr)
        return 2
    env = environment(args)
    python = sys.executable
    reset_database(args.database)
    flush_redis(args.redis)
    run([python, "manage.py", "migrate", "--noinput", "-v0"], env)
    work = Path(tempfile.mkdtemp(prefix="otp-bench-"))
    processes = Processes()
    base = f"http://127.0.0.1:{args.port}"
    figures: dict = {}
    try:
        gateway_port = free_port()
        gateway_url = f"http://127.0.0.1:{gateway_port}"
        processes.start([python, "-m", "bench.latency", str(gateway_port), "0.1"], env)
        wait_http(gateway_url + "/stats")
        prepared = json.loads(
            run(
                [
                    python,
                    "-m",
                    "bench.prepare",
                    str(work),
                    str(max(5 * args.messages, 2000)),
                    gateway_url + "/send",
                ],
                env,
            )
        )
        round_trips = json.loads(
            run([python, "-m", "bench.roundtrips", prepared["tokens"]["open"]], env)
        )
        figures["round_trips"] = round_trips
        web = processes.start(
            [
                python,
                "-m",
                "gunicorn",
                "config.wsgi",
                "-w",
                str(args.workers),
                "-b",
                f"127.0.0.1:{args.port}",
                "--backlog",
                "2048",
                "--log-level",
                "warning",
            ],
            env,
        )
        wait_http(base + "/bench/ceiling")
        worker_cmd = [
            python, "-m", "celery", "-A", "config", "worker", "-Q", "default,sms,voice",
            "-c", str(args.celery_concurrency), "-l", "warning", "--without-gossip",
            "--without-mingle",
        ]  # fmt: skip
        worker = processes.start(
            worker_cmd,
            env,
        )
        d, lv, t = args.duration, args.levels, prepared["tokens"]
        print(f"load: {os.getloadavg()[0]:.2f}; {len(lv)} concurrency levels x {d:g} s each")
        figures["ceiling"] = sweep(
            base + "/bench/ceiling", "get.lua", work / "ceiling.txt", "", lv, d
        )
        figures["send"] = sweep(
            base + "/api/v1/otp/send", "post.lua", work / "send.txt", t["open"], lv, d
        )
        figures["send_limited"] = sweep(
            base + "/api/v1/otp/send", "post.lua", work / "send.txt", t["limited"], lv, d
        )
        figures["verify"] = sweep(
            base + "/api/v1/otp/verify", "post.lua", work / "verify_right.txt", t["verify"], lv, d
        )
        figures["verify_wrong"] = sweep(
            base + "/api/v1/otp/verify", "post.lua", work / "verify_wrong.txt", t["wrong"], lv, d
        )
        figures["status"] = sweep(base, "get.lua", work / "status.txt", t["verify"], lv, d)
        # The realistic limit: the same I/O in raw SQL through the same server.
        figures["raw_send"] = sweep(
            base + "/bench/raw/send", "post.lua", work / "send.txt", t["open"], lv, d
        )
        figures["raw_verify"] = sweep(
            base + "/bench/raw/verify", "post.lua", work / "verify_raw.txt", t["raw_verify"], lv, d
        )
        figures["gunicorn_worker_peak_rss"] = peak_rss_mb(web)

        # Dispatch: stop the worker, queue N messages, start it and time the drain; to
        # the noop gateway, then through the 100 ms one.
        for name, account in (("dispatch", "bench"), ("dispatch_latency", "latency")):
            processes.stop(worker)
            queued = json.loads(
                run([python, "-m", "bench.dispatch", "queue", str(args.messages), account], env)
            )
            requests.get(gateway_url + "/stats?reset", timeout=5)
            worker = processes.start(worker_cmd, env)
            figures[name] = json.loads(
                run(
                    [
                        python,
                        "-m",
                        "bench.dispatch",
                        "drain",
                        queued["since"],
                        str(args.messages),
                        account,
                    ],
                    env,
                )
            )
            figures[name]["gateway"] = requests.get(gateway_url + "/stats?reset", timeout=5).json()
        figures["celery_worker_peak_rss"] = peak_rss_mb(worker)

        # The login storm: sends as fast as the API takes them, the worker running,
        # every message through the 100 ms gateway.
        since = json.loads(run([python, "-c", _NOW], env))["now"]
        figures["storm"] = {
            "wrk": storm(
                base + "/api/v1/otp/send", work / "send.txt", t["storm"], args.storm, args.database
            ),
            **json.loads(run([python, "-m", "bench.dispatch", "storm", since], env)),
            "gateway": requests.get(gateway_url + "/stats?reset", timeout=5).json(),
        }
    finally:
        processes.stop_all()

    result = summarise(args, figures, prepared)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = "smoke" if args.smoke else stamp
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    if not args.smoke:
        (args.out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
        plot(result, ROOT / "docs" / "performance-concurrency.png")
    print(table(result))
    return 0


def summarise(args, figures: dict, prepared: dict) -> dict:
    peak = {k: v["peak"] for k, v in figures.items() if isinstance(v, dict) and "peak" in v}
    ceiling = peak["ceiling"]["rps"]
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_after": os.getloadavg()[0],
        },
        "configuration": {
            "gunicorn_workers": args.workers,
            "celery_concurrency": args.celery_concurrency,
            "duration_s": args.duration,
            "concurrency": args.levels,
            "messages": args.messages,
            "gateway": "noop",
            "smoke": args.smoke,
        },
        "ceiling_rps": ceiling,
        "send_rps": peak["send"]["rps"],
        "send_p99_ms": peak["send"]["p99_ms"],
        "send_limited_rps": peak["send_limited"]["rps"],
        "send_limited_p99_ms": peak["send_limited"]["p99_ms"],
        "verify_rps": peak["verify"]["rps"],
        "verify_p99_ms": peak["verify"]["p99_ms"],
        "verify_wrong_rps": peak["verify_wrong"]["rps"],
        "verify_wrong_p99_ms": peak["verify_wrong"]["p99_ms"],
        "status_rps": peak["status"]["rps"],
        "status_p99_ms": peak["status"]["p99_ms"],
        "dispatch_msgs_per_s": figures["dispatch"]["msgs_per_s"],
        "raw_send_rps": peak["raw_send"]["rps"],
        "raw_send_p99_ms": peak["raw_send"]["p99_ms"],
        "raw_verify_rps": peak["raw_verify"]["rps"],
        "raw_verify_p99_ms": peak["raw_verify"]["p99_ms"],
        "dispatch_latency_msgs_per_s": figures["dispatch_latency"]["msgs_per_s"],
        "dispatch_latency_max_in_flight": figures["dispatch_latency"]["gateway"]["max_in_flight"],
        "storm_accept_rps": figures["storm"]["accept_rps"],
        "storm_accepted": figures["storm"]["accepted"],
        "storm_submit_p50_ms": figures["storm"]["p50_ms"],
        "storm_submit_p99_ms": figures["storm"]["p99_ms"],
        "send_ratio": round(peak["send"]["rps"] / ceiling, 3),
        "verify_ratio": round(peak["verify"]["rps"] / ceiling, 3),
        "send_to_raw_ratio": round(peak["send"]["rps"] / peak["raw_send"]["rps"], 3),
        "verify_to_raw_ratio": round(peak["verify"]["rps"] / peak["raw_verify"]["rps"], 3),
        "send_p99_ms_at_4": _at(figures["send"], 4),
        "verify_p99_ms_at_4": _at(figures["verify"], 4),
        "send_queries": prepared["queries"]["send"],
        "verify_queries": prepared["queries"]["verify"],
        "send_round_trips": figures["round_trips"]["send"]["total"],
        "verify_round_trips": figures["round_trips"]["verify_wrong"]["total"],
        "gunicorn_worker_peak_rss_mb": figures["gunicorn_worker_peak_rss"].get("max_mb"),
        "celery_worker_peak_rss_mb": figures["celery_worker_peak_rss"].get("max_mb"),
        "sweeps": figures,
    }


def _at(sweep_figures: dict, connections: int) -> float | None:
    """The p99 of the run at ``connections`` connections, if the sweep had one."""
    for run_figures in sweep_figures["runs"]:
        if run_figures["connections"] == connections:
            return run_figures["p99_ms"]
    return None


def table(r: dict) -> str:
    rows = [
        ("ceiling (bare JSON view)", r["ceiling_rps"], "", ""),
        ("send, limit off", r["send_rps"], r["send_p99_ms"], r["send_ratio"]),
        (
            "send, limit on",
            r["send_limited_rps"],
            r["send_limited_p99_ms"],
            round(r["send_limited_rps"] / r["ceiling_rps"], 3),
        ),
        ("verify, right codes", r["verify_rps"], r["verify_p99_ms"], r["verify_ratio"]),
        (
            "verify, wrong codes",
            r["verify_wrong_rps"],
            r["verify_wrong_p99_ms"],
            round(r["verify_wrong_rps"] / r["ceiling_rps"], 3),
        ),
        (
            "status read",
            r["status_rps"],
            r["status_p99_ms"],
            round(r["status_rps"] / r["ceiling_rps"], 3),
        ),
        (
            "raw-SQL send (limit)",
            r["raw_send_rps"],
            r["raw_send_p99_ms"],
            round(r["raw_send_rps"] / r["ceiling_rps"], 3),
        ),
        (
            "raw-SQL verify (limit)",
            r["raw_verify_rps"],
            r["raw_verify_p99_ms"],
            round(r["raw_verify_rps"] / r["ceiling_rps"], 3),
        ),
    ]
    lines = [f"{'':28} {'req/s':>10} {'p99 ms':>8} {'/ceiling':>9}"]
    lines += [f"{name:28} {rps:>10} {p99!s:>8} {ratio!s:>9}" for name, rps, p99, ratio in rows]
    d = r["sweeps"]["dispatch"]
    lines.append(
        f"dispatch: {d['messages']} messages queued -> sent in {d['seconds']} s = "
        f"{r['dispatch_msgs_per_s']} msgs/s "
        f"({r['configuration']['celery_concurrency']} worker processes)"
    )
    lines.append(
        f"dispatch through the 100 ms gateway: {r['dispatch_latency_msgs_per_s']} msgs/s, "
        f"at most {r['dispatch_latency_max_in_flight']} in flight"
    )
    lines.append(
        f"login storm: {r['storm_accepted']} sends accepted at {r['storm_accept_rps']} req/s; "
        f"accept -> gateway submit p50 {r['storm_submit_p50_ms']} ms, "
        f"p99 {r['storm_submit_p99_ms']} ms"
    )
    lines.append(
        f"send / raw send {r['send_to_raw_ratio']}, verify / raw verify "
        f"{r['verify_to_raw_ratio']}; round trips at the socket: send "
        f"{r['send_round_trips']}, verify {r['verify_round_trips']}"
    )
    lines.append(
        f"queries: send {r['send_queries']}, verify {r['verify_queries']}; peak RSS: "
        f"gunicorn worker {r['gunicorn_worker_peak_rss_mb']} MB, "
        f"celery worker {r['celery_worker_peak_rss_mb']} MB"
    )
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name, label in [
        ("ceiling", "ceiling"),
        ("send", "send"),
        ("send_limited", "send (limit on)"),
        ("verify", "verify"),
        ("verify_wrong", "verify (wrong)"),
        ("status", "status"),
    ]:
        runs = result["sweeps"][name]["runs"]
        xs = [r["connections"] for r in runs]
        left.plot(xs, [r["rps"] for r in runs], marker="o", label=label)
        right.plot(xs, [r["p99_ms"] for r in runs], marker="o", label=label)
    for ax, title in ((left, "throughput (req/s)"), (right, "p99 latency (ms)")):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("concurrent connections")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    right.axhline(50, color="grey", linestyle="--", linewidth=1)
    left.legend(fontsize=8)
    fig.suptitle(f"OTP Streams on {result['machine']['cpus']} cores, {result['when']}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    sys.exit(main())
