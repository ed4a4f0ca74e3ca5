"""Redis topologies: one server, a 6-node Cluster, Sentinel with a primary and a replica."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

from tests.conftest import free_port

from .processes import Runtime, binary, spawn, stop, wait_for


class RedisNode:
    """One redis-server (or redis-sentinel) without persistence."""

    def __init__(self, runtime: Runtime, *options: str, sentinel_conf: str | None = None) -> None:
        self.port = free_port()
        self.dir = runtime.directory(f"redis-{self.port}")
        self.options = list(options)
        self.sentinel_conf = sentinel_conf
        self.process: subprocess.Popen[bytes] | None = None
        self.started = False

    @property
    def address(self) -> tuple[str, int]:
        return ("127.0.0.1", self.port)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        # A free port can be taken between free_port() and the server's bind (an
        # outgoing connection's local port, another test server): on a first
        # start, a server that exits at once gets new ports. A restart keeps its
        # port, which the cluster or the sentinels know.
        for _attempt in range(3):
            self._spawn()
            if self.started or not self._exited_early():
                break
            self._new_ports()
        wait_for(self.client().ping, f"redis on port {self.port}", timeout=10)
        self.started = True

    def _exited_early(self) -> bool:
        for _ in range(20):
            if self.process is not None and self.process.poll() is not None:
                return True
            try:
                if self.client().ping():
                    return False
            except Exception:  # noqa: S110 - not up yet
                pass
            time.sleep(0.05)
        return False

    def _new_ports(self) -> None:
        self.port = free_port()
        (self.dir / "sentinel.conf").unlink(missing_ok=True)  # it names the port
        if "--cluster-port" in self.options:
            index = self.options.index("--cluster-port")
            self.options[index + 1] = str(free_port())

    def _spawn(self) -> None:
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
