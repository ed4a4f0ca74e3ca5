"""Session fixtures that start real topologies on free local ports (marker ``topology``).

Run them with ``pytest -m topology``. Every server is started here and stopped
here by its PID; a missing binary is a reported skip locally and a failure
under ``CI=true``. Measured figures (start-up and recovery times) are printed
at the end of the run and written to ``$TOPOLOGY_FIGURES`` if set.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.topology import servers

FIGURES: dict[str, dict[str, Any]] = {}
DATABASE = "ticketoffice"


def record(name: str, **figures: Any) -> None:
    """Keep a figure for the end-of-run summary (and the docs)."""
    FIGURES.setdefault(name, {}).update(figures)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    if not FIGURES:
        return
    terminalreporter.section("topology figures")
    for name, figures in FIGURES.items():
        line = ", ".join(f"{key}: {value}" for key, value in figures.items())
        terminalreporter.write_line(f"{name}: {line}")
    target = os.environ.get("TOPOLOGY_FIGURES")
    if target:
        with open(target, "w") as output:
            json.dump(FIGURES, output, indent=2, sort_keys=True)


@pytest.fixture(scope="session")
def runtime() -> Iterator[servers.Runtime]:
    runtime = servers.Runtime()
    yield runtime
    servers.stop_all()
    runtime.remove()


def timed(name: str, start) -> Any:
    began = time.monotonic()
    value = start()
    record("start-up (s)", **{name: round(time.monotonic() - began, 2)})
    return value


@pytest.fixture(scope="session")
def pg(runtime) -> Iterator[servers.PostgresTopology]:
    """Our own PostgreSQL primary with the project's tables (no replica yet)."""
    topology = servers.PostgresTopology(runtime)

    def start() -> None:
        topology.start_primary()
        topology.create_database(DATABASE)
        servers.migrate({"DATABASES": {"default": topology.primary.database(DATABASE)}})

    timed("postgres primary + migrate", start)
    yield topology
    topology.stop()


@pytest.fixture(scope="session")
def base_settings(pg) -> dict[str, Any]:
    """What every topology's server shares: the database, a short breaker interval."""
    return {
        "DATABASES": {"default": pg.primary.database(DATABASE)},
        # Recovery is measured; the default interval (5 s) would dominate it.
        "TICKETOFFICE_CACHE_RETRY_INTERVAL": 1.0,
    }


@pytest.fixture(scope="session")
def start_app(runtime) -> Iterator[Any]:
    """Start a gunicorn with settings; all are stopped at the end of the session."""
    started: list[servers.Gunicorn] = []

    def start(settings: dict[str, Any], name: str) -> servers.Gunicorn:
        app = servers.Gunicorn(runtime, settings)
        seconds = app.start()
        record("start-up (s)", **{f"gunicorn ({name})": round(seconds, 2)})
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()


@pytest.fixture(scope="session")
def redis_server(runtime) -> Iterator[servers.RedisNode]:
    """A plain redis-server of our own, for the stamps of the PostgreSQL topologies."""
    node = servers.RedisNode(runtime)
    timed("redis-server", node.start)
    yield node
    node.stop()


@pytest.fixture(scope="session")
def redis_stamps(redis_server) -> dict[str, Any]:
    """The documented django-redis settings, pointed at our redis-server."""
    import copy

    from docs.snippets import settings_redis as snippet

    caches = copy.deepcopy(snippet.CACHES)
    caches["tickets"]["LOCATION"] = f"{redis_server.url}/0"
    return {"CACHES": caches, "TICKETOFFICE_CACHE": snippet.TICKETOFFICE_CACHE}
