"""The application server of the topology tests: gunicorn with tests.topology.settings."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from typing import Any

from tests.conftest import _missing_service, free_port

from .processes import ROOT, Runtime, spawn, stop, wait_for


def django_env(overrides: dict[str, Any]) -> dict[str, str]:
    """The environment of a process that runs Django with tests.topology.settings."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["DJANGO_SETTINGS_MODULE"] = "tests.topology.settings"
    env["TOPOLOGY_SETTINGS"] = json.dumps(overrides)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def migrate(overrides: dict[str, Any]) -> None:
    subprocess.run(
        [sys.executable, "-m", "django", "migrate", "--noinput", "-v", "0"],
        check=True,
        env=django_env(overrides),
        cwd=ROOT,
        timeout=180,
    )


class Gunicorn:
    """A real gunicorn (gthread workers) serving tests.topology.urls with given settings."""

    def __init__(self, runtime: Runtime, overrides: dict[str, Any], workers: int = 2) -> None:
        self.port = free_port()
        self.root = runtime.directory(f"gunicorn-{self.port}")
        self.overrides = overrides
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> float:
        if shutil.which("gunicorn", path=os.path.dirname(sys.executable)) is None:
            _missing_service('gunicorn is not installed (pip install -e ".[test]")')
        started = time.monotonic()
        args = [sys.executable, "-m", "gunicorn", "tests.topology.wsgi:application"]
        args += ["--bind", f"127.0.0.1:{self.port}", "--workers", str(self.workers)]
        args += ["--worker-class", "gthread", "--threads", "8", "--backlog", "512"]
        args += ["--timeout", "60", "--graceful-timeout", "3", "--worker-tmp-dir", "/dev/shm"]
        self.process = spawn(args, self.root / "log", env=django_env(self.overrides))
        wait_for(self.healthy, f"gunicorn on port {self.port}", timeout=60)
        return time.monotonic() - started

    def healthy(self) -> bool:
        health = f"{self.url}/topology/health/"  # always http://127.0.0.1
        with urllib.request.urlopen(health, timeout=5) as response:  # noqa: S310
            return bool(response.status == 200)

    def stop(self) -> None:
        stop(self.process)

    def log(self) -> str:
        return (self.root / "log").read_text(errors="replace")
