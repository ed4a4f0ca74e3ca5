"""Run the benchmark suite and write docs/benchmarks/results.{md,rst} and ratios.png.

    python -m benchmarks            # full run: micro, end to end, 1,000,000 rows (~5-10 min)
    python -m benchmarks --quick    # smoke run for CI: small N, seconds, no thresholds

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


def ensure_database() -> None:
    """Create the benchmark database if it does not exist yet."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    from benchmarks import settings

    config = dj_database_url.parse(settings.DATABASE_URL)
    if config["ENGINE"] != "django.db.backends.postgresql":
        return
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
    """Set up Django, migrate, and start from an empty table and an empty Redis db."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")
    ensure_database()
    check_down_port()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django_redis import get_redis_connection

    from django_ticketoffice.models import Ticket

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Ticket._meta.db_table} RESTART IDENTITY")
    get_user_model().objects.filter(username__startswith="bench-").delete()
    # Redis db 10 belongs to the benchmarks alone (BENCH_REDIS_URL).
    get_redis_connection("default").flushdb()


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


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
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    redis_server = get_redis_connection("default").info("server")["redis_version"]
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        ("Date", time.strftime("%Y-%m-%d %H:%M %Z")),
        ("CPU", f"{cpu}, {os.cpu_count()} logical cores"),
        ("Load average at start", load),
        ("OS", f"{platform.system()} {platform.release()}"),
        ("Python", platform.python_version()),
        ("Django", _version("django")),
        ("django-ticketoffice", _version("django-ticketoffice")),
        ("itsdangerous", _version("itsdangerous")),
        ("django-redis / redis-py / hiredis",
         f"{_version('django-redis')} / {_version('redis')} / {_version('hiredis')}"),
        ("psycopg", _version("psycopg")),
        ("django-sesame", _version("django-sesame")),
        ("gunicorn", _version("gunicorn")),
        ("PostgreSQL server", postgres),
        ("Redis server", redis_server),
    ]  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: small N, seconds, for CI")
    parser.add_argument("--skip-e2e", action="store_true", help="no gunicorn + wrk runs")
    parser.add_argument("--skip-scale", action="store_true", help="no 1,000,000-row run")
    parser.add_argument(
        "--output",
        type=Path,
        help="directory for results.md, results.rst and ratios.png (default: docs/benchmarks "
        "for a full run, a temporary directory for --quick)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    sys.path.insert(0, str(ROOT))
    prepare()

    from benchmarks import e2e, micro, scale
    from benchmarks.report import Report, chart, markdown, micro_rows, rst, text_table

    mode = "quick" if args.quick else "full"
    sizes = micro.QUICK if args.quick else micro.FULL
    report = Report(mode=mode, machine=machine())

    results = micro.run_all(sizes, log)
    report.rows = micro_rows(results)

    if args.skip_e2e:
        report.e2e_note = "End-to-end runs skipped (--skip-e2e)."
    else:
        seconds, tickets, rounds = (1, 800, 1) if args.quick else (3, 2500, 5)
        report.e2e, rows, report.e2e_note = e2e.run(seconds, tickets, rounds, log)
        report.rows += rows

    if args.skip_scale:
        report.scale_note = "Scale runs skipped (--skip-scale)."
    else:
        big, n = (20_000, 30) if args.quick else (1_000_000, 500)
        report.scale, rows, report.scale_note = scale.run(big, n, sizes.count_runs, log)
        report.rows += rows

    elapsed = time.perf_counter() - started
    report.machine.append(("Run time", f"{elapsed:.0f} s ({mode})"))
    output = args.output or (
        DOCS if not args.quick else Path(tempfile.gettempdir()) / "ticketoffice-benchmarks-quick"
    )
    output.mkdir(parents=True, exist_ok=True)
    (output / "results.md").write_text(markdown(report), encoding="utf-8")
    (output / "results.rst").write_text(rst(report), encoding="utf-8")
    chart(report, output / "ratios.png")
    print(text_table(report))
    met = [row for row in report.rows if row.met in ("yes", "no")]
    print(
        f"\n{sum(row.met == 'yes' for row in met)}/{len(met)} targets met "
        f"({mode} run, {elapsed:.0f} s). Written to {output}/results.md, results.rst, ratios.png"
    )
    return 0
