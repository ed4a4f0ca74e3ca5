"""Run the benchmark suite and write the results page.

    python -m benchmarks            # full run (a few minutes): docs/benchmarks/results.*
    python -m benchmarks --quick    # CI smoke run: every path, small numbers, a temp directory

Targets are reported, never asserted: the exit status is 0 whatever the ratios.
"""

from __future__ import annotations

import argparse
import os
import platform
import socket
import sys
import tempfile
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs" / "benchmarks"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def ensure_databases() -> None:
    """Create the two benchmark databases on PostgreSQL if they do not exist yet."""
    import dj_database_url

    from benchmarks import settings

    for url in (settings.DATABASE_URL, settings.BIG_DATABASE_URL):
        config = dj_database_url.parse(url)
        if config["ENGINE"] != "django.db.backends.postgresql":
            continue
        import psycopg
        from psycopg import sql

        with psycopg.connect(
            host=config["HOST"] or None,
            port=config["PORT"] or None,
            user=config["USER"] or None,
            password=config["PASSWORD"] or None,
            dbname="postgres",
            autocommit=True,
        ) as admin:
            found = admin.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [config["NAME"]]
            ).fetchone()
            if not found:
                admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))


def check_down_port() -> None:
    """The "down" cache alias must point at a port where nothing listens."""
    from urllib.parse import urlparse

    from benchmarks import settings

    url = urlparse(settings.DOWN_REDIS_URL)
    with socket.socket() as probe:
        probe.settimeout(0.2)
        if probe.connect_ex((url.hostname or "127.0.0.1", url.port or 6379)) == 0:
            raise SystemExit(f"{settings.DOWN_REDIS_URL} accepts connections: pick a closed port")


def prepare() -> None:
    """Set up Django, migrate both databases, empty the small table and the Redis db."""
    # Forced: a parent (pytest) may have exported its own settings module.
    os.environ["DJANGO_SETTINGS_MODULE"] = "benchmarks.settings"
    ensure_databases()
    check_down_port()
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django_redis import get_redis_connection

    from benchmarks.models import Invitation
    from benchmarks.scale import empty

    for alias in ("default", "big"):
        call_command("migrate", database=alias, verbosity=0)
    empty("default")
    Invitation.objects.all().delete()
    get_user_model().objects.filter(username__startswith="bench-").delete()
    # The benchmarks' own Redis db (BENCH_REDIS_URL): flushed, or with
    # BENCH_KEY_PREFIX (the test suite's db) only the keys that start with it.
    client = get_redis_connection("default")
    prefix = settings.BENCH_KEY_PREFIX
    if not prefix:
        client.flushdb()
    for key in client.scan_iter(match=f"{prefix}*", count=1000) if prefix else ():
        client.delete(key)


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def commit() -> str:
    """The measured commit of this repository, marked when the tree has changes."""
    import subprocess

    try:

        def git(*args: str) -> str:
            done = subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True)
            return done.stdout.decode().strip()

        sha = git("rev-parse", "--short", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{sha} (with uncommitted changes)" if dirty else sha


def machine() -> list[tuple[str, str]]:
    """What the numbers were measured on."""
    from django.db import connection
    from django_redis import get_redis_connection

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            database = "PostgreSQL " + cursor.fetchone()[0]
    else:
        database = f"{connection.vendor} {connection.Database.sqlite_version}"
    redis_server = get_redis_connection("default").info("server")["redis_version"]
    return [
        ("CPU", f"{cpu}, {os.cpu_count()} logical cores"),
        ("Load average at start", ", ".join(f"{v:.2f}" for v in os.getloadavg())),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("Django", _version("django")),
        ("Database server", database),
        ("Redis server", redis_server),
        ("psycopg", _version("psycopg")),
        ("redis-py / hiredis", f"{_version('redis')} / {_version('hiredis')}"),
        ("django-redis", _version("django-redis")),
        ("django-sesame", _version("django-sesame")),
        ("itsdangerous", _version("itsdangerous")),
        ("django-ticketoffice", f"{_version('django-ticketoffice')}, commit {commit()}"),
        ("gunicorn", _version("gunicorn")),
    ]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="CI smoke run: every path, seconds")
    size.add_argument(
        "--tiny",
        action="store_true",
        help="the test suite's run: 2 rounds of 1 call, a 1,000-iteration PBKDF2, no e2e",
    )
    parser.add_argument("--rounds", type=int, help="override the number of recorded rounds")
    parser.add_argument("--skip-e2e", action="store_true", help="no gunicorn + wrk runs")
    parser.add_argument("--no-chart", action="store_true", help="do not draw paths.png")
    parser.add_argument(
        "--output",
        type=Path,
        help="directory for results.{md,rst,json} and paths.png (default: docs/benchmarks "
        "for a full run, a temporary directory otherwise)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    if args.tiny:
        os.environ["BENCH_TINY_PBKDF2"] = "1"
    sys.path.insert(0, str(ROOT))
    prepare()
    from benchmarks import suite

    results = suite.run(mode, args, machine(), log)
    results.machine.append(("Run time", f"{time.perf_counter() - started:.0f} s ({mode})"))
    default = DOCS if mode == "full" else Path(tempfile.gettempdir()) / f"ticketoffice-bench-{mode}"
    output = args.output or default
    output.mkdir(parents=True, exist_ok=True)
    suite.write(results, output, chart=not args.no_chart)
    log(f"written to {output}/results.md, results.rst, results.json"
        + ("" if args.no_chart else ", paths.png"))  # fmt: skip
    return 0
