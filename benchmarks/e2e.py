"""End to end: the benchmark project under gunicorn (2 workers), driven by wrk on loopback."""

from __future__ import annotations

import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .fixtures import issue, used_token

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
LUA = HERE / "wrk"
PORT = int(os.environ.get("BENCH_PORT", "18000"))
BASE = f"http://127.0.0.1:{PORT}"


class Server:
    """gunicorn serving benchmarks.wsgi with 2 workers on 127.0.0.1:PORT.

    Threaded workers (gthread) keep idle keep-alive connections in a poller:
    with sync workers, a connection that waits between requests (the capped
    flood) would hold a whole worker, and the test would measure that instead.
    """

    def __init__(self, workers: int = 2, threads: int = 4) -> None:
        self.workers = workers
        self.threads = threads
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Server:
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="benchmarks.settings",
            BENCH_CONN_MAX_AGE="600",  # persistent connections, as in production
            PYTHONPATH=str(ROOT),
        )
        command = [
            sys.executable, "-m", "gunicorn", "benchmarks.wsgi:application",
            "--workers", str(self.workers), "--bind", f"127.0.0.1:{PORT}",
            "--worker-class", "gthread", "--threads", str(self.threads),
            "--keep-alive", "5", "--log-level", "warning", "--backlog", "256",
        ]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{BASE}/bare/", timeout=1) as response:  # noqa: S310
                    if response.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer within 30 s")

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def wrk(script: str, *args: str, threads: int, connections: int, seconds: float) -> dict:
    """Run wrk once and return its JSON summary."""
    command = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
        "--timeout", "5s", "-s", str(LUA / script), BASE, "--", *args,
    ]  # fmt: skip
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    for line in output.splitlines():
        if line.startswith("WRK_JSON "):
            data = json.loads(line[len("WRK_JSON ") :])
            data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
            return data
    raise RuntimeError(f"no summary from wrk:\n{output}")


def _item(scenario: str, data: dict, notes: str = "", expect: str = "2xx/3xx") -> dict:
    errors = data["status"]
    failures = data["connect"] + data["read"] + data["write"] + data["timeout"]
    if expect == "403":
        responses = f"{data['requests'] - errors:,} other, {errors:,} non-2xx/3xx"
    else:
        responses = f"{data['requests'] - errors:,} ok, {errors:,} non-2xx/3xx"
    if failures:
        responses += f", {failures} socket errors"
    return {
        "scenario": scenario,
        "rps": data["rps"],
        "p50_ms": data["p50_us"] / 1000,
        "p99_ms": data["p99_us"] / 1000,
        "responses": responses,
        "notes": notes,
        "raw": data,
    }


def _ticket_file(directory: Path, name: str, count: int) -> str:
    path = directory / f"{name}.txt"
    lines = [f"/stamp-direct/?ticket={token}" for token in issue(count)]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _median(runs: list[dict]) -> dict:
    """Median rps and latencies of repeated runs, totals of their responses."""
    merged = {key: sum(run[key] for run in runs) for key in COUNTERS}
    for key in ("rps", "p50_us", "p99_us"):
        merged[key] = statistics.median(run[key] for run in runs)
    return merged


COUNTERS = ("requests", "connect", "read", "write", "status", "timeout")


def run(seconds: float, tickets_per_run: int, rounds: int, log) -> tuple[list[dict], str]:
    """Run every scenario; return the table items and a note."""
    if shutil.which("wrk") is None:
        return [], "wrk is not installed (apt install wrk): end-to-end runs skipped."
    replay_path = f"/stamp-direct/?ticket={used_token()}"
    # A bounded flood: 4 connections, one request per 40 ms each: at most 100 req/s.
    limited_rate, limited_pause = 100, "40"
    items: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ticketoffice-wrk-") as tmp:
        directory = Path(tmp)
        counter = iter(range(10_000))

        def fresh_file() -> str:
            return _ticket_file(directory, f"tickets-{next(counter)}", tickets_per_run)

        with Server():
            log("e2e: warm-up ...")
            wrk("bare.lua", threads=1, connections=4, seconds=1)
            log("e2e: bare view ...")
            items.append(
                _item("bare view", wrk("bare.lua", threads=2, connections=8, seconds=seconds),
                      "2 wrk threads, 8 connections")
            )  # fmt: skip
            log("e2e: stamp_invitation on fresh tickets ...")
            items.append(
                _item(
                    "stamp_invitation, fresh tickets (one request each, redirect off)",
                    wrk("fresh.lua", fresh_file(), "2", threads=2, connections=8,
                        seconds=seconds),
                    "2 wrk threads, 8 connections; every request consumes a ticket",
                )
            )  # fmt: skip
            log("e2e: replay flood ...")
            items.append(
                _item(
                    "replay flood (one used ticket)",
                    wrk("replay.lua", replay_path, threads=2, connections=8, seconds=seconds),
                    "2 wrk threads, 8 connections; every answer is a 403",
                    expect="403",
                )
            )

            def users_with(flood_script: str | None, *flood_args: str) -> tuple[dict, dict]:
                users_args = ("fresh.lua", fresh_file(), "1")
                if flood_script is None:
                    return wrk(*users_args, threads=1, connections=4, seconds=seconds), {}
                with ThreadPoolExecutor(2) as pool:
                    users = pool.submit(wrk, *users_args, threads=1, connections=4, seconds=seconds)
                    flood = pool.submit(
                        wrk, flood_script, *flood_args, threads=1, connections=4,
                        seconds=seconds,
                    )  # fmt: skip
                    return users.result(), flood.result()

            scenarios = {
                "alone": (None,),
                "replay": ("replay.lua", replay_path),
                "control": ("bare.lua",),
                "limited": ("replay.lua", replay_path, limited_pause),
            }
            runs: dict[str, list[tuple[dict, dict]]] = {name: [] for name in scenarios}
            # Interleaved rounds: a burst of noise on the machine hits every scenario.
            for index in range(rounds):
                log(f"e2e: valid users alone / with floods, round {index + 1} of {rounds} ...")
                for name, flood in scenarios.items():
                    runs[name].append(users_with(*flood))

    users = {name: _median([u for u, _ in pairs]) for name, pairs in runs.items()}
    floods = {name: _median([f for _, f in pairs]) for name, pairs in runs.items() if pairs[0][1]}
    shape = f"median of {rounds} interleaved rounds; users: 1 wrk thread, 4 connections"
    items += [
        _item("valid users alone", users["alone"], shape),
        _item("valid users during a replay flood", users["replay"], "flood: 4 connections"),
        _item("  the replay flood itself", floods["replay"], "all 403", expect="403"),
        _item("valid users during a bare-view flood (control)", users["control"],
              "same flood shape, plain view"),
        _item("  the bare-view flood itself", floods["control"], ""),
        _item(f"valid users during a replay flood capped at {limited_rate} req/s",
              users["limited"], f"4 connections, {limited_pause} ms pause each"),
        _item("  the capped replay flood itself", floods["limited"], "all 403", expect="403"),
    ]  # fmt: skip
    alone = users["alone"]
    drop = 1 - users["replay"]["rps"] / alone["rps"]
    capped_drop = 1 - users["limited"]["rps"] / alone["rps"]
    control_drop = 1 - users["control"]["rps"] / alone["rps"]
    note = (
        "wrk, gunicorn (2 gthread workers, 4 threads each), PostgreSQL and Redis share "
        "2 cores, and a flood with as many connections as the valid users takes about "
        "half of the workers' turns whatever it asks for: compare the replay flood with "
        "the control (a bare-view flood of the same shape). Drop of valid users' req/s: "
        f"{drop:.0%} during the replay flood, {control_drop:.0%} during the control, "
        f"{capped_drop:.0%} during the replay flood capped at {limited_rate} req/s."
    )
    return items, note
