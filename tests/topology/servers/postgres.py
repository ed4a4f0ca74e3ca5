"""PostgreSQL topologies: a primary (initdb), a streaming replica, pgbouncer."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

from tests.conftest import _missing_service, free_port

from .processes import Runtime, binary, spawn, stop, wait_for

POSTGRES_OPTIONS = [
    "-c", "listen_addresses=127.0.0.1",
    "-c", "unix_socket_directories=",
    "-c", "fsync=off",
    "-c", "synchronous_commit=off",
    "-c", "full_page_writes=off",
    "-c", "max_connections=200",
    "-c", "shared_buffers=32MB",
    "-c", "wal_level=replica",
    "-c", "max_wal_senders=4",
    "-c", "hot_standby=on",
]  # fmt: skip


def run_as_postgres() -> None:
    """PostgreSQL and pgbouncer refuse to run as root: they run as ``postgres``."""
    import pwd

    try:
        pwd.getpwnam("postgres")
    except KeyError:
        _missing_service("there is no postgres user (apt-get install postgresql)")
    if os.geteuid() != 0:
        _missing_service("starting servers as the postgres user needs root")


class PostgresServer:
    """A PostgreSQL server run as the postgres user on its own port and directory."""

    def __init__(self, runtime: Runtime, name: str) -> None:
        run_as_postgres()
        self.port = free_port()
        self.root = runtime.directory(f"pg-{name}", owner="postgres")
        self.data = self.root / "data"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        args = [binary("postgres"), "-D", str(self.data), "-p", str(self.port), *POSTGRES_OPTIONS]
        self.process = spawn(args, self.root / "log", user="postgres")
        wait_for(lambda: self.execute("SELECT 1"), f"postgres on port {self.port}", timeout=30)

    def stop(self) -> None:
        stop(self.process, signal.SIGINT)  # "fast" shutdown

    def connect(self, dbname: str = "postgres") -> Any:
        import psycopg

        return psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True,
            connect_timeout=2,
        )  # fmt: skip

    def execute(
        self, sql: str, params: tuple[Any, ...] = (), dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        with self.connect(dbname) as connection:
            cursor = connection.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def database(self, name: str) -> dict[str, Any]:
        """A Django DATABASES entry for this server."""
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": name,
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": self.port,
        }


class PostgresTopology:
    """A primary (initdb) and, on demand, a streaming replica (pg_basebackup -R)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.primary = PostgresServer(runtime, "primary")
        self.replica: PostgresServer | None = None

    def start_primary(self) -> None:
        subprocess.run(
            [
                binary("initdb"),
                "-D",
                str(self.primary.data),
                "-U",
                "postgres",
                "-A",
                "trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ],
            check=True,
            capture_output=True,
            user="postgres",
            timeout=120,
        )
        self.primary.start()

    def start_replica(self) -> None:
        replica = PostgresServer(self.runtime, "replica")
        subprocess.run(
            [
                binary("pg_basebackup"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.primary.port),
                "-U",
                "postgres",
                "-D",
                str(replica.data),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
            user="postgres",
            timeout=120,
        )
        replica.start()
        self.replica = replica

        def streaming() -> bool:
            rows = self.primary.execute("SELECT state FROM pg_stat_replication")
            return rows == [("streaming",)]

        wait_for(streaming, "the replica to stream", timeout=30)

    def create_database(self, name: str) -> None:
        from psycopg import sql

        with self.primary.connect() as connection:
            connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))

    def stop(self) -> None:
        if self.replica is not None:
            self.replica.stop()
        self.primary.stop()


class PgBouncer:
    """pgbouncer in transaction pooling mode in front of one PostgreSQL server."""

    def __init__(self, runtime: Runtime, server: PostgresServer, dbname: str) -> None:
        run_as_postgres()
        self.port = free_port()
        self.root = runtime.directory(f"pgbouncer-{self.port}", owner="postgres")
        self.server = server
        self.dbname = dbname
        self.process: subprocess.Popen[bytes] | None = None

    def configure(self) -> Path:
        users = self.root / "users.txt"
        users.write_text('"postgres" ""\n')
        ini = self.root / "pgbouncer.ini"
        ini.write_text(
            "[databases]\n"
            f"{self.dbname} = host=127.0.0.1 port={self.server.port} dbname={self.dbname}\n"
            "[pgbouncer]\n"
            f"listen_addr = 127.0.0.1\nlisten_port = {self.port}\nunix_socket_dir =\n"
            f"auth_type = trust\nauth_file = {users}\n"
            "pool_mode = transaction\nmax_client_conn = 400\ndefault_pool_size = 20\n"
            "ignore_startup_parameters = extra_float_digits,options\n"
            "server_reset_query =\n"
        )
        for path in (users, ini):
            shutil.chown(path, "postgres", "postgres")
        return ini

    def start(self) -> None:
        ini = self.configure()
        self.process = spawn([binary("pgbouncer"), str(ini)], self.root / "log", user="postgres")
        wait_for(self.ready, f"pgbouncer on port {self.port}", timeout=15)

    def ready(self) -> bool:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=self.dbname,
            connect_timeout=2, autocommit=True,
        ) as connection:  # fmt: skip
            return connection.execute("SELECT 1").fetchone() == (1,)

    def stop(self) -> None:
        stop(self.process, signal.SIGINT)

    def kill(self) -> None:
        stop(self.process, signal.SIGKILL)

    def database(self) -> dict[str, Any]:
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": self.dbname,
            "USER": "postgres",
            "HOST": "127.0.0.1",
            "PORT": self.port,
        }
