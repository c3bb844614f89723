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
# What one run measures, in order (``--only`` picks some).
PHASES = ("api", "guard", "dispatch", "storm", "scale")


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
    parser.add_argument(
        "--only",
        default=",".join(PHASES),
        help=f"phases to run, of {','.join(PHASES)} (the ceiling always runs); only a run "
        "of them all writes latest.json",
    )
    parser.add_argument(
        "--guard-concurrency", default="4,16", help="connections of the guard on/off runs"
    )
    parser.add_argument(
        "--scale-connections", type=int, default=16, help="connections of the scale-out runs"
    )
    parser.add_argument(
        "--scale-messages", type=int, default=10_000, help="messages per scale-out drain"
    )
    args = parser.parse_args(argv)
    if args.smoke:
        args.duration, args.concurrency, args.messages, args.storm = 1.0, "1,8", 300, 300
        args.guard_concurrency, args.scale_messages = "4", 300
    args.levels = [int(c) for c in args.concurrency.split(",")]
    args.guard_levels = [int(c) for c in args.guard_concurrency.split(",")]
    args.phases = [p for p in args.only.split(",") if p]
    unknown = set(args.phases) - set(PHASES)
    if unknown:
        parser.error(f"unknown phases: {', '.join(sorted(unknown))}")
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


def _die_with_parent() -> None:
    """In a child, before exec: end with the harness, even if it is killed outright
    (SIGKILL cannot be handled, so no ``finally`` would stop the child otherwise)."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _on_term(signum, frame) -> None:
    raise KeyboardInterrupt  # the run's ``finally`` stops every process group it started


class Processes:
    """The servers and workers of a run, each the leader of its own process group, so
    stopping one stops its children (gunicorn's and Celery's workers) too."""

    def __init__(self):
        self.procs: list[subprocess.Popen] = []

    def start(self, cmd: list[str], env: dict) -> subprocess.Popen:
        proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
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


def _wrk_command(
    url: str, script: str, data: Path, token: str, connections: int, duration: float, offset: int
) -> list[str]:
    return [
        "wrk",
        "-t",
        str(min(connections, 2)),
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
    ]


def _wrk_figures(out: str, url: str, connections: int) -> dict:
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


def wrk(
    url: str,
    script: str,
    data: Path,
    token: str,
    connections: int,
    duration: float,
    offset: int = 0,
) -> dict:
    command = _wrk_command(url, script, data, token, connections, duration, offset)
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return _wrk_figures(out, url, connections)


def wrk_together(runs: list[tuple], duration: float) -> list[dict]:
    """Several wrk runs at once (``(url, script, data, token, connections, offset)``
    each): clients spread over several servers, as a load balancer would spread them."""
    procs = [
        (
            url,
            connections,
            subprocess.Popen(
                _wrk_command(url, script, data, token, connections, duration, offset),
                stdout=subprocess.PIPE,
                text=True,
            ),
        )
        for url, script, data, token, connections, offset in runs
    ]
    return [_wrk_figures(proc.communicate()[0], url, c) for url, c, proc in procs]


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


def gunicorn_command(python: str, workers: int, port: int) -> list[str]:
    return [
        python, "-m", "gunicorn", "config.wsgi", "-w", str(workers),
        "-b", f"127.0.0.1:{port}", "--backlog", "2048", "--log-level", "warning",
    ]  # fmt: skip


def worker_command(python: str, concurrency: int, name: str = "bench") -> list[str]:
    return [
        python, "-m", "celery", "-A", "config", "worker", "-Q", "default,sms,voice",
        "-c", str(concurrency), "-n", f"{name}@%h", "-l", "warning", "--without-gossip",
        "--without-mingle",
    ]  # fmt: skip


def guard_cost(base: str, data: Path, tokens: dict, levels: list[int], duration: float) -> dict:
    """Send with the fraud guard off and on, alternated (off, on, off, on at each level)
    so that a change of the machine's load between runs falls on both alike."""
    runs: dict[str, list[dict]] = {"off": [], "on": []}
    used = 0
    for connections in levels:
        for _ in range(2):
            for side in ("off", "on"):
                runs[side].append(
                    wrk(
                        base + "/api/v1/otp/send",
                        "post.lua",
                        data,
                        tokens[f"guard_{side}"],
                        connections,
                        duration,
                        offset=used,
                    )
                )
            used += max(r["requests"] for r in (runs["off"][-1], runs["on"][-1])) + 1
    result: dict = {"runs": runs}
    for side in ("off", "on"):
        per_level = {}
        for connections in levels:
            same = [r for r in runs[side] if r["connections"] == connections]
            per_level[connections] = {
                "rps": round(sum(r["rps"] for r in same) / len(same), 1),
                "p99_ms": round(sum(r["p99_ms"] for r in same) / len(same), 2),
            }
        result[side] = per_level
    best = max(levels, key=lambda c: result["off"][c]["rps"])
    result["at"] = best
    return result


def drain_messages(python: str, env: dict, processes, worker_cmds, account: str, count: int,
                   gateway_url: str) -> dict:  # fmt: skip
    """Queue ``count`` messages with no worker running, start the workers and time the
    drain from the first to the last ``sent_at``."""
    queued = json.loads(run([python, "-m", "bench.dispatch", "queue", str(count), account], env))
    requests.get(gateway_url + "/stats?reset", timeout=5)
    workers = [processes.start(cmd, env) for cmd in worker_cmds]
    figures = json.loads(
        run([python, "-m", "bench.dispatch", "drain", queued["since"], str(count), account], env)
    )
    figures["gateway"] = requests.get(gateway_url + "/stats?reset", timeout=5).json()
    figures["workers"] = workers
    return figures


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _on_term)
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
        figures["round_trips"] = json.loads(
            run([python, "-m", "bench.roundtrips", prepared["tokens"]["open"]], env)
        )
        web = processes.start(gunicorn_command(python, args.workers, args.port), env)
        wait_http(base + "/bench/ceiling")
        worker_cmd = worker_command(python, args.celery_concurrency)
        worker = processes.start(worker_cmd, env)
        d, lv, t = args.duration, args.levels, prepared["tokens"]
        print(
            f"load: {os.getloadavg()[0]:.2f}; {len(lv)} concurrency levels x {d:g} s each; "
            f"phases: {', '.join(args.phases)}"
        )
        figures["load_before"] = os.getloadavg()[0]
        figures["ceiling"] = sweep(
            base + "/bench/ceiling", "get.lua", work / "ceiling.txt", "", lv, d
        )
        if "api" in args.phases:
            api_sweeps(figures, base, work, t, lv, d)
        if "guard" in args.phases:
            figures["guard"] = guard_cost(base, work / "send.txt", t, args.guard_levels, d)
        figures["gunicorn_worker_peak_rss"] = peak_rss_mb(web)

        # Dispatch: stop the worker, queue N messages, start it and time the drain; to
        # the noop gateway, then through the 100 ms one.
        if "dispatch" in args.phases:
            for name, account in (("dispatch", "bench"), ("dispatch_latency", "latency")):
                processes.stop(worker)
                figures[name] = drain_messages(
                    python, env, processes, [worker_cmd], account, args.messages, gateway_url
                )
                worker = figures[name].pop("workers")[0]
            figures["celery_worker_peak_rss"] = peak_rss_mb(worker)

        # The login storm: sends as fast as the API takes them, the worker running,
        # every message through the 100 ms gateway.
        if "storm" in args.phases:
            since = json.loads(run([python, "-c", _NOW], env))["now"]
            figures["storm"] = {
                "wrk": storm(
                    base + "/api/v1/otp/send",
                    work / "send.txt",
                    t["storm"],
                    args.storm,
                    args.database,
                ),
                **json.loads(run([python, "-m", "bench.dispatch", "storm", since], env)),
                "gateway": requests.get(gateway_url + "/stats?reset", timeout=5).json(),
            }
        if "scale" in args.phases:
            processes.stop(worker)
            figures["scale"] = scale_out(args, env, processes, work, t, gateway_url)
    finally:
        processes.stop_all()

    result = summarise(args, figures, prepared)
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = "smoke" if args.smoke else stamp
    if set(args.phases) != set(PHASES) and not args.smoke:
        name = f"{stamp}-{'-'.join(args.phases)}"
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    if not args.smoke and set(args.phases) == set(PHASES):
        (args.out / "latest.json").write_text(json.dumps(result, indent=2) + "\n")
        plot(result, ROOT / "docs" / "performance-concurrency.png")
    print(table(result))
    return 0


def api_sweeps(figures: dict, base: str, work: Path, t: dict, lv: list[int], d: float) -> None:
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


def scale_out(args, env: dict, processes, work: Path, t: dict, gateway_url: str) -> dict:
    """Throughput with one and with two of each: gunicorn instances (send, the same
    connections spread over the instances as a load balancer would), and Celery workers
    (dispatch of the same number of queued messages, to the noop gateway and through the
    100 ms one). On one machine: what a second node's processes add or cost when they
    share its cores (a second host would bring its own)."""
    python = sys.executable
    connections, d = args.scale_connections, args.duration
    figures: dict = {"connections": connections}
    # One worker delivers what the sends queue, as in the send runs.
    worker = processes.start(worker_command(python, args.celery_concurrency), env)
    second_port = free_port()
    urls = [f"http://127.0.0.1:{args.port}", f"http://127.0.0.1:{second_port}"]
    second = processes.start(gunicorn_command(python, args.workers, second_port), env)
    wait_http(urls[1] + "/bench/ceiling")
    used = 0
    for instances in (1, 2, 1, 2):  # alternated: load drift falls on both
        share = connections // instances
        send = (work / "send.txt", t["scale"])
        runs = wrk_together(
            [
                (url + "/api/v1/otp/send", "post.lua", *send, share, used + i * 5_000)
                for i, url in enumerate(urls[:instances])
            ],
            d,
        )
        used += sum(r["requests"] for r in runs) + 1
        figures.setdefault(f"gunicorn_{instances}", []).append(
            {
                "rps": round(sum(r["rps"] for r in runs), 1),
                "p99_ms": max(r["p99_ms"] for r in runs),
                "non_2xx": sum(r["non_2xx"] for r in runs),
            }
        )
    processes.stop(second)
    processes.stop(worker)
    for instances in ("gunicorn_1", "gunicorn_2"):
        rounds = figures[instances]
        figures[f"{instances}_rps"] = round(sum(r["rps"] for r in rounds) / len(rounds), 1)
    for gateway, account in (("noop", "bench"), ("latency", "latency")):
        for workers in (1, 2):
            cmds = [
                worker_command(python, args.celery_concurrency, name=f"scale{i}")
                for i in range(workers)
            ]
            drained = drain_messages(
                python, env, processes, cmds, account, args.scale_messages, gateway_url
            )
            for proc in drained.pop("workers"):
                processes.stop(proc)
            figures[f"celery_{workers}_{gateway}"] = drained
    return figures


def summarise(args, figures: dict, prepared: dict) -> dict:
    peak = {k: v["peak"] for k, v in figures.items() if isinstance(v, dict) and "peak" in v}
    ceiling = peak["ceiling"]["rps"]
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "load_before": figures.get("load_before"),
            "load_after": os.getloadavg()[0],
        },
        "configuration": {
            "gunicorn_workers": args.workers,
            "celery_concurrency": args.celery_concurrency,
            "duration_s": args.duration,
            "concurrency": args.levels,
            "messages": args.messages,
            "gateway": "noop",
            "phases": args.phases,
            "smoke": args.smoke,
        },
        "ceiling_rps": ceiling,
        "send_queries": prepared["queries"]["send"],
        "verify_queries": prepared["queries"]["verify"],
        "send_round_trips": figures["round_trips"]["send"]["total"],
        "verify_round_trips": figures["round_trips"]["verify_wrong"]["total"],
        "gunicorn_worker_peak_rss_mb": figures["gunicorn_worker_peak_rss"].get("max_mb"),
    }
    for name in ("send", "send_limited", "verify", "verify_wrong", "status", "raw_send",
                 "raw_verify"):  # fmt: skip
        if name in peak:
            result[f"{name}_rps"] = peak[name]["rps"]
            result[f"{name}_p99_ms"] = peak[name]["p99_ms"]
    if "send" in peak:
        result.update(
            send_ratio=round(peak["send"]["rps"] / ceiling, 3),
            verify_ratio=round(peak["verify"]["rps"] / ceiling, 3),
            send_to_raw_ratio=round(peak["send"]["rps"] / peak["raw_send"]["rps"], 3),
            verify_to_raw_ratio=round(peak["verify"]["rps"] / peak["raw_verify"]["rps"], 3),
            send_p99_ms_at_4=_at(figures["send"], 4),
            verify_p99_ms_at_4=_at(figures["verify"], 4),
        )
    if "guard" in figures:
        g = figures["guard"]
        at = g["at"]
        result.update(
            send_guard_off_rps=g["off"][at]["rps"],
            send_guard_on_rps=g["on"][at]["rps"],
            send_guard_off_p99_ms=g["off"][at]["p99_ms"],
            send_guard_on_p99_ms=g["on"][at]["p99_ms"],
            guard_connections=at,
            guard_cost=round(1 - g["on"][at]["rps"] / g["off"][at]["rps"], 3),
        )
    if "dispatch" in figures:
        result.update(
            dispatch_msgs_per_s=figures["dispatch"]["msgs_per_s"],
            dispatch_latency_msgs_per_s=figures["dispatch_latency"]["msgs_per_s"],
            dispatch_latency_max_in_flight=figures["dispatch_latency"]["gateway"]["max_in_flight"],
            celery_worker_peak_rss_mb=figures["celery_worker_peak_rss"].get("max_mb"),
        )
    if "storm" in figures:
        result.update(
            storm_accept_rps=figures["storm"]["accept_rps"],
            storm_accepted=figures["storm"]["accepted"],
            storm_submit_p50_ms=figures["storm"]["p50_ms"],
            storm_submit_p99_ms=figures["storm"]["p99_ms"],
        )
    if "scale" in figures:
        s = figures["scale"]
        result.update(
            scale_send_1_gunicorn_rps=s["gunicorn_1_rps"],
            scale_send_2_gunicorn_rps=s["gunicorn_2_rps"],
            scale_dispatch_1_worker_msgs_per_s=s["celery_1_noop"]["msgs_per_s"],
            scale_dispatch_2_workers_msgs_per_s=s["celery_2_noop"]["msgs_per_s"],
            scale_dispatch_latency_1_worker_msgs_per_s=s["celery_1_latency"]["msgs_per_s"],
            scale_dispatch_latency_2_workers_msgs_per_s=s["celery_2_latency"]["msgs_per_s"],
        )
    result["sweeps"] = figures
    return result


def _at(sweep_figures: dict, connections: int) -> float | None:
    """The p99 of the run at ``connections`` connections, if the sweep had one."""
    for run_figures in sweep_figures["runs"]:
        if run_figures["connections"] == connections:
            return run_figures["p99_ms"]
    return None


def table(r: dict) -> str:
    c = r["ceiling_rps"]
    rows = [("ceiling (bare JSON view)", "", c)]
    for name, label in (
        ("send", "send, limit off"),
        ("send_limited", "send, limit on"),
        ("verify", "verify, right codes"),
        ("verify_wrong", "verify, wrong codes"),
        ("status", "status read"),
        ("raw_send", "raw-SQL send (limit)"),
        ("raw_verify", "raw-SQL verify (limit)"),
        ("send_guard_off", "send, guard off"),
        ("send_guard_on", "send, guard on"),
    ):
        if f"{name}_rps" in r:
            rows.append((label, r[f"{name}_p99_ms"], r[f"{name}_rps"]))
    lines = [f"{'':28} {'req/s':>10} {'p99 ms':>8} {'/ceiling':>9}"]
    lines += [f"{n:28} {rps:>10} {p99!s:>8} {round(rps / c, 3)!s:>9}" for n, p99, rps in rows]
    if "send_guard_on_rps" in r:
        lines.append(
            f"guard cost: send {r['guard_cost']:.1%} slower with the guard on "
            f"(at {r['guard_connections']} connections, off/on alternated)"
        )
    if "dispatch_msgs_per_s" in r:
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
    if "storm_accepted" in r:
        lines.append(
            f"login storm: {r['storm_accepted']} sends accepted at {r['storm_accept_rps']} "
            f"req/s; accept -> gateway submit p50 {r['storm_submit_p50_ms']} ms, "
            f"p99 {r['storm_submit_p99_ms']} ms"
        )
    if "scale_send_1_gunicorn_rps" in r:
        lines.append(
            f"scale-out: send {r['scale_send_1_gunicorn_rps']} -> "
            f"{r['scale_send_2_gunicorn_rps']} req/s with 2 gunicorn instances; dispatch "
            f"{r['scale_dispatch_1_worker_msgs_per_s']} -> "
            f"{r['scale_dispatch_2_workers_msgs_per_s']} msgs/s (noop), "
            f"{r['scale_dispatch_latency_1_worker_msgs_per_s']} -> "
            f"{r['scale_dispatch_latency_2_workers_msgs_per_s']} msgs/s (100 ms) "
            "with 2 Celery workers"
        )
    if "send_to_raw_ratio" in r:
        lines.append(
            f"send / raw send {r['send_to_raw_ratio']}, verify / raw verify "
            f"{r['verify_to_raw_ratio']}"
        )
    lines.append(
        f"round trips at the socket: send {r['send_round_trips']}, verify "
        f"{r['verify_round_trips']}; queries: send {r['send_queries']}, verify "
        f"{r['verify_queries']}; peak RSS: gunicorn worker {r['gunicorn_worker_peak_rss_mb']} "
        f"MB, celery worker {r.get('celery_worker_peak_rss_mb')} MB"
    )
    return "\n".join(lines)


def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "send" not in result["sweeps"]:
        return
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
