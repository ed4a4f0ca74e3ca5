"""Processes of the topology tests: started in a private directory, stopped by PID.

Nothing here stops a process it did not start: every ``Popen`` is recorded,
and ``stop_all()`` ends exactly those. Binaries come from ``PATH``, or for
PostgreSQL from ``/usr/lib/postgresql/<version>/bin``.
"""

from __future__ import annotations

import atexit
import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import _missing_service

ROOT = Path(__file__).resolve().parents[3]  # the repository
STARTED: list[subprocess.Popen[bytes]] = []


def binary(name: str) -> str:
    """The path of a server binary; a reported skip (a failure under CI=true) if missing."""
    found = shutil.which(name)
    if found is None:
        # PostgreSQL's server binaries are off PATH on Debian; pgbouncer is in sbin.
        candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
        candidates += [path for path in (f"/usr/sbin/{name}",) if os.access(path, os.X_OK)]
        found = candidates[-1] if candidates else None
    if found is None:
        _missing_service(f"{name} is not installed (.ci/run installs it)")
    assert found is not None
    return found


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30.0) -> float:
    """Poll ``check`` until it returns a true value; return the seconds it took."""
    started = time.monotonic()
    last_error: BaseException | None = None
    while time.monotonic() - started < timeout:
        try:
            if check():
                return time.monotonic() - started
        except Exception as error:
            last_error = error
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} ({last_error!r})")


class Runtime:
    """A private directory for one test session's servers."""

    def __init__(self) -> None:
        self.path = Path(tempfile.mkdtemp(prefix="ticketoffice-topology-"))
        # The postgres user must reach its data directories below this one.
        self.path.chmod(0o755)

    def directory(self, name: str, owner: str | None = None) -> Path:
        path = self.path / name
        path.mkdir(parents=True, exist_ok=True)
        if owner is not None:
            shutil.chown(path, owner, owner)
        return path

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def spawn(
    args: list[str], log: Path, *, user: str | None = None, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a process in the foreground of its own session, logging to ``log``."""
    with open(log, "ab") as output:
        process = subprocess.Popen(
            args,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            user=user,
            env=env,
            start_new_session=True,
        )
    STARTED.append(process)
    return process


def stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    """Stop one process we started, by its PID; SIGKILL if it lingers."""
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=5)


@atexit.register
def stop_all() -> None:
    """Stop every process started here (also at exit, if a session ends abruptly)."""
    for process in reversed(STARTED):
        with contextlib.suppress(ProcessLookupError):
            stop(process)
    STARTED.clear()
