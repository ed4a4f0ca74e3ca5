"""Real topologies on free local ports, each process started and stopped by its PID."""

from .app import Gunicorn, django_env, migrate
from .postgres import PgBouncer, PostgresServer, PostgresTopology, run_as_postgres
from .processes import ROOT, STARTED, Runtime, binary, spawn, stop, stop_all, wait_for
from .redis import RedisClusterTopology, RedisNode, SentinelTopology, synced

__all__ = [
    "ROOT",
    "STARTED",
    "Gunicorn",
    "PgBouncer",
    "PostgresServer",
    "PostgresTopology",
    "RedisClusterTopology",
    "RedisNode",
    "Runtime",
    "SentinelTopology",
    "binary",
    "django_env",
    "migrate",
    "run_as_postgres",
    "spawn",
    "stop",
    "stop_all",
    "synced",
    "wait_for",
]
