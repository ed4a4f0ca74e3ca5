"""Real topologies on free local ports, each process started and stopped by its PID.

Nothing here stops a process it did not start: every ``Popen`` is recorded,
and ``stop_all()`` ends exactly those. Binaries come from ``PATH``, or for
PostgreSQL from ``/usr/lib/postgresql/<version>/bin``.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.conftest import _missing_service, free_port

ROOT = Path(__file__).resolve().parents[2]
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


def stop_all() -> None:
    for process in reversed(STARTED):
        with contextlib.suppress(ProcessLookupError):
            stop(process)
    STARTED.clear()


# Redis --------------------------------------------------------------------------------------


class RedisNode:
    """One redis-server (or redis-sentinel) without persistence."""

    def __init__(self, runtime: Runtime, *options: str, sentinel_conf: str | None = None) -> None:
        self.port = free_port()
        self.dir = runtime.directory(f"redis-{self.port}")
        self.options = list(options)
        self.sentinel_conf = sentinel_conf
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.sentinel_conf is not None:
            conf = self.dir / "sentinel.conf"
            if not conf.exists():
                conf.write_text(f"port {self.port}\nbind 127.0.0.1\n{self.sentinel_conf}")
            args = [binary("redis-server"), str(conf), "--sentinel"]
        else:
            args = [binary("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1"]
            args += ["--save", "", "--appendonly", "no", "--dir", str(self.dir)]
            # A replica's first sync starts at once (Redis waits 5 s for more replicas).
            args += ["--repl-diskless-sync-delay", "0", *self.options]
        self.process = spawn(args, self.dir / "log")
        wait_for(self.client().ping, f"redis on port {self.port}", timeout=10)

    def stop(self) -> None:
        stop(self.process)

    def kill(self) -> None:
        stop(self.process, signal.SIGKILL)

    def client(self) -> Any:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries: a node that is down must say so at once.
        return redis.Redis(
            host="127.0.0.1", port=self.port, socket_connect_timeout=0.5, socket_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )  # fmt: skip

    def get_calls(self) -> int:
        """Server-side count of GET commands (INFO commandstats)."""
        stats = self.client().info("commandstats")
        return int(stats.get("cmdstat_get", {}).get("calls", 0))


def synced(replica: RedisNode) -> bool:
    """The replica's link to its master is up: it could take over."""
    return bool(replica.client().info("replication").get("master_link_status") == "up")


class RedisClusterTopology:
    """Six cluster nodes: three masters, each with one replica."""

    def __init__(self, runtime: Runtime) -> None:
        options = ["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"]
        self.nodes = [RedisNode(runtime, *options) for _ in range(6)]
        for node in self.nodes:
            node.options += ["--cluster-config-file", str(node.dir / "nodes.conf")]
            # The bus port defaults to port + 10000, which may be taken or past 65535.
            node.options += ["--cluster-port", str(free_port())]

    def start(self) -> None:
        for node in self.nodes:
            node.start()
        addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
        subprocess.run(
            [
                binary("redis-cli"),
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "1",
                "--cluster-yes",
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_healthy()

    def wait_healthy(self, timeout: float = 30) -> float:
        """Every live node sees the cluster OK, three masters, each with a replica."""

        def healthy() -> bool:
            for node in self.live_nodes():
                if node.client().execute_command("CLUSTER INFO")["cluster_state"] != "ok":
                    return False
            masters = self.masters()
            if len(masters) != 3 or not all(self.replicas_of(m) for m in masters):
                return False
            return all(synced(r) for m in masters for r in self.replicas_of(m))

        return wait_for(healthy, "a healthy cluster", timeout)

    def live_nodes(self) -> list[RedisNode]:
        return [n for n in self.nodes if n.process is not None and n.process.poll() is None]

    def _roles(self) -> list[dict[str, Any]]:
        """Each node as a live node sees it (redis-py parses CLUSTER NODES)."""
        view = self.live_nodes()[0].client().execute_command("CLUSTER NODES")
        roles = []
        for address, fields in view.items():
            failing = "fail" in fields["flags"]  # "fail" or "fail?"
            roles.append(
                {
                    "id": fields["node_id"],
                    "port": int(address.split("@")[0].rsplit(":", 1)[1]),
                    "master": "master" in fields["flags"].split(",") and not failing,
                    "of": fields["master_id"],
                    "alive": not failing and fields["connected"],
                }
            )
        return roles

    def node(self, port: int | str) -> RedisNode:
        return next(n for n in self.nodes if n.port == int(port))

    def masters(self) -> list[RedisNode]:
        return [self.node(r["port"]) for r in self._roles() if r["master"]]

    def replicas_of(self, master: RedisNode) -> list[RedisNode]:
        roles = self._roles()
        master_id = next(r["id"] for r in roles if r["port"] == master.port)
        return [self.node(r["port"]) for r in roles if r["of"] == master_id and r["alive"]]

    def master_for(self, key: str) -> RedisNode:
        """The master that serves ``key`` now."""
        client = self.live_nodes()[0].client()
        slot = client.execute_command("CLUSTER KEYSLOT", key)
        for start, end, owner, *_replicas in client.execute_command("CLUSTER SLOTS"):
            if start <= slot <= end:
                return self.node(owner[1])
        raise AssertionError(f"no master serves slot {slot}")

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def get_calls(self) -> int:
        return sum(node.get_calls() for node in self.live_nodes())

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


class SentinelTopology:
    """A primary, its replica, and three sentinels watching them as "mymaster"."""

    SERVICE = "mymaster"

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.primary = RedisNode(runtime)
        self.replica = RedisNode(runtime)
        self.replica.options += ["--replicaof", "127.0.0.1", str(self.primary.port)]
        conf = (
            f"sentinel monitor {self.SERVICE} 127.0.0.1 {self.primary.port} 2\n"
            f"sentinel down-after-milliseconds {self.SERVICE} 1000\n"
            f"sentinel failover-timeout {self.SERVICE} 10000\n"
            f"sentinel parallel-syncs {self.SERVICE} 1\n"
        )
        self.sentinels = [RedisNode(runtime, sentinel_conf=conf) for _ in range(3)]

    @property
    def redis_nodes(self) -> list[RedisNode]:
        return [self.primary, self.replica]

    def start(self) -> None:
        for node in [*self.redis_nodes, *self.sentinels]:
            node.start()
        self.wait_ready()

    def wait_ready(self, timeout: float = 30) -> float:
        """Every sentinel knows the master, its replica and the two other sentinels."""

        def ready() -> bool:
            master = self.master_address()
            for sentinel in self.sentinels:
                client = sentinel.client()
                info = client.sentinel_master(self.SERVICE)
                if (info["ip"], int(info["port"])) != master or info["num-other-sentinels"] < 2:
                    return False
                replicas = client.sentinel_slaves(self.SERVICE)
                if not any(not r["is_odown"] and not r["is_sdown"] for r in replicas):
                    return False
            replica = next(n for n in self.redis_nodes if n.port != master[1])
            return synced(replica)

        return wait_for(ready, "three sentinels agreeing on a master and a replica", timeout)

    def master_address(self) -> tuple[str, int]:
        """The master as the first sentinel that answers names it."""
        errors = []
        for sentinel in self.sentinels:
            try:
                host, port = sentinel.client().sentinel_get_master_addr_by_name(self.SERVICE)
            except Exception as error:
                errors.append(error)
                continue
            return (host.decode() if isinstance(host, bytes) else host), int(port)
        raise AssertionError(f"no sentinel answers: {errors}")

    def node(self, port: int) -> RedisNode:
        return next(n for n in self.redis_nodes if n.port == int(port))

    @property
    def sentinel_addresses(self) -> list[tuple[str, int]]:
        return [s.address for s in self.sentinels]

    def stop(self) -> None:
        for node in [*self.sentinels, *self.redis_nodes]:
            node.stop()


# PostgreSQL ---------------------------------------------------------------------------------

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


# The application server -----------------------------------------------------------------------


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
