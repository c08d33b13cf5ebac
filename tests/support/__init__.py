"""Helpers shared by the test suites: real databases and real processes."""

from tests.support.databases import (
    create_mariadb_database,
    create_pg_database,
    drop_mariadb_database,
    drop_pg_database,
    mariadb_databases,
)
from tests.support.ports import free_port
from tests.support.processes import ChildProcess, start_process

__all__ = [
    "ChildProcess",
    "create_mariadb_database",
    "create_pg_database",
    "drop_mariadb_database",
    "drop_pg_database",
    "free_port",
    "mariadb_databases",
    "start_process",
]
