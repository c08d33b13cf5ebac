"""Backend connectivity options."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.integration.proxy.conftest import Proxy, mod_table, proxy_config, start_proxy
from tests.support import ChildProcess, free_port, mariadb_databases


@pytest.fixture
def databases() -> Iterator[list[str]]:
    with mariadb_databases("txc_proxy", 2) as names:
        yield names


def test_backend_over_unix_socket(databases: list[str], tmp_path: Path, processes: list[ChildProcess]) -> None:
    with pymysql.connect(host="127.0.0.1", user="root", password="") as admin, admin.cursor() as cur:
        cur.execute("SELECT @@socket")
        (socket_path,) = cur.fetchone()
    port = free_port()
    config = proxy_config(
        port,
        {"ds0": f"mysql://root:@localhost/{databases[0]}?unix_socket={socket_path}", "ds1": databases[1]},
        {"items": mod_table("id", 2, "items")},
    )
    proc = start_proxy(config, tmp_path)
    processes.append(proc)
    with Proxy(port, databases, proc, config).connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY)")
        cur.execute("INSERT INTO items (id) VALUES (1), (2), (3)")
        cur.execute("SELECT COUNT(*) FROM items")
        assert cur.fetchone() == (3,)
