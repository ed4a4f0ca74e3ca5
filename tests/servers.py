"""Real servers for the tests: gunicorn (WSGI) or uvicorn (ASGI) serving tests.settings.

A server runs in a subprocess on a free port, against the test database (so
tests that use one need ``transactional_db``: the server must see committed
rows) and is stopped by its PID.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from tests.conftest import _missing_service, free_port

ROOT = Path(__file__).resolve().parent.parent
# The servers' database sessions carry this name, so a test can single them out.
APPLICATION_NAME = "ticketoffice-test-server"


def database_url() -> str:
    """The URL of the test database as this process sees it (PostgreSQL only)."""
    s = connection.settings_dict
    user = s.get("USER") or "postgres"
    host, port = s.get("HOST") or "127.0.0.1", s.get("PORT") or 5432
    return f"postgres://{user}@{host}:{port}/{s['NAME']}?application_name={APPLICATION_NAME}"


class AppServer:
    """gunicorn (``kind="wsgi"``) or uvicorn (``kind="asgi"``) on a free port."""

    def __init__(self, kind: str = "wsgi", *, env: dict[str, str] | None = None, **options: Any):
        self.kind = kind
        self.port = free_port()
        self.env = env or {}
        self.options = options
        self.process: subprocess.Popen[bytes] | None = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"ticketoffice-{kind}-", suffix=".log")  # noqa: SIM115 - lives as long as the server

    def command(self) -> list[str]:
        bind = f"127.0.0.1:{self.port}"
        if self.kind == "wsgi":
            return [
                sys.executable,
                "-m",
                "gunicorn",
                "tests.wsgi:application",
                "--bind",
                bind,
                "--workers",
                str(self.options.get("workers", 2)),
                "--worker-class",
                "gthread",
                "--threads",
                str(self.options.get("threads", 25)),
                "--timeout",
                "60",
                "--log-level",
                "warning",
            ]
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "tests.asgi:application",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
        ]

    def start(self) -> AppServer:
        module = "gunicorn" if self.kind == "wsgi" else "uvicorn"
        try:
            __import__(module)
        except ImportError:
            _missing_service(f"{module} is not installed (it is in the test extra)")
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.settings",
            "DATABASE_URL": database_url(),
            "PYTHONPATH": str(ROOT),
            **self.env,
        }
        self.process = subprocess.Popen(
            self.command(), cwd=ROOT, env=env, stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"{module} did not start on port {self.port}:\n{self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None

    def request(
        self,
        path: str,
        method: str = "GET",
        headers: dict[str, str] | None = None,
        body: str | bytes | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """One request on a new connection: (status, headers, body)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            response = conn.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            conn.close()

    def __enter__(self) -> AppServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def burst(count: int, work: Callable[[], Any], *, extra: Callable[[], None] | None = None) -> list:
    """Run ``work`` in ``count`` threads released at once (and ``extra`` with them)."""
    parties = count + (1 if extra is not None else 0)
    barrier = threading.Barrier(parties)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[index] = work()
        except Exception as error:
            results[index] = error

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    if extra is not None:

        def run_extra() -> None:
            barrier.wait(timeout=30)
            extra()

        threads.append(threading.Thread(target=run_extra))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return results


class RedisServer:
    """A throwaway redis-server on its own port, without persistence."""

    def __init__(self, port: int, *args: str) -> None:
        self.port = port
        self.args = args  # more redis-server options
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                pytest.fail(f"port {self.port} is taken: another redis-server is running there")
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
                *self.args,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        client = self.client()
        for _ in range(100):
            try:
                client.ping()
                return
            except Exception:
                time.sleep(0.05)
        self.stop()
        pytest.fail(f"redis-server did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def client(self):
        import redis

        return redis.Redis(port=self.port, socket_connect_timeout=0.5, socket_timeout=0.5)
