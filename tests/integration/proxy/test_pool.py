"""The per-backend pool limit: a session that finds every connection pinned waits, then gets a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pymysql
import pytest

from tests.integration.proxy.conftest import Proxy, proxy_config, start_proxy
from tests.support import ChildProcess, create_mariadb_database, drop_mariadb_database, free_port


@pytest.fixture
def database() -> Iterator[str]:
    name = create_mariadb_database("txc_proxy")
    yield name
    drop_mariadb_database(name)


def test_sessions_beyond_max_connections_wait_then_get_1040(
    database: str, tmp_path: Path, processes: list[ChildProcess]
) -> None:
    port = free_port()
    config = proxy_config(port, {"ds0": database}, {})
    config["pool"]["max_connections"] = 2
    proc = start_proxy(config, tmp_path)
    processes.append(proc)
    proxy = Proxy(port, [database], proc, config)
    with proxy.connect() as setup, setup.cursor() as cur:
        cur.execute("CREATE TABLE plain (id INT PRIMARY KEY)")
    holders = [proxy.connect() for _ in range(2)]
    try:
        for i, conn in enumerate(holders):
            conn.begin()
            conn.cursor().execute("INSERT INTO plain (id) VALUES (%s)", (i,))  # pins one connection each
        with proxy.connect() as third, third.cursor() as cur:
            with pytest.raises(pymysql.err.MySQLError) as err:
                cur.execute("SELECT COUNT(*) FROM plain")
            assert err.value.args[0] == 1040 and "ds0" in err.value.args[1]
            holders[0].commit()  # gives its connection back
            cur.execute("SELECT COUNT(*) FROM plain")
            assert cur.fetchone() == (1,)
    finally:
        for conn in holders:
            conn.close()
