"""TLS towards clients: a client that requires SSL connects, and a user with require_tls cannot log in without."""

from __future__ import annotations

import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from tests.integration.proxy.conftest import LOGICAL_DB, PASSWORD, USER, Proxy, mod_table, proxy_config, start_proxy
from tests.support import create_mariadb_database, drop_mariadb_database, free_port


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A throwaway certificate for 127.0.0.1, made now (nothing secret is kept in the repository)."""
    cert, key = directory / "proxy.crt", directory / "proxy.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture(scope="module")
def tls_proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Proxy, Path]]:
    shards = [create_mariadb_database("txc_tls") for _ in range(2)]
    directory = tmp_path_factory.mktemp("tls")
    cert, key = self_signed(directory)
    port = free_port()
    config: dict[str, Any] = proxy_config(
        port, {"ds0": shards[0], "ds1": shards[1]}, {"items": mod_table("id", 2, "items")}
    )
    config["tls"] = {"cert": str(cert), "key": str(key)}
    config["users"] = {USER: PASSWORD, "secure": {"password": "s", "require_tls": True}}
    proc = start_proxy(config, directory)
    yield Proxy(port, shards, proc, config), cert
    proc.kill()
    for name in shards:
        drop_mariadb_database(name)


def test_a_client_requiring_ssl_connects_and_is_encrypted(tls_proxy: tuple[Proxy, Path]) -> None:
    proxy, cert = tls_proxy
    with proxy.connect(ssl={"ca": str(cert)}) as conn, conn.cursor() as cur:
        assert isinstance(conn._sock, ssl.SSLSocket)
        assert conn._sock.version() in ("TLSv1.2", "TLSv1.3")
        cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
        cur.execute("INSERT INTO items (id, k) VALUES (1, 10), (2, 20)")
        cur.execute("SELECT SUM(k) FROM items")
        assert cur.fetchall() == ((30,),)
    with proxy.connect(ssl_disabled=True) as conn, conn.cursor() as cur:  # plain connections still work
        assert not isinstance(conn._sock, ssl.SSLSocket)
        cur.execute("SELECT COUNT(*) FROM items")
        assert cur.fetchall() == ((2,),)


def test_require_tls_per_user(tls_proxy: tuple[Proxy, Path]) -> None:
    proxy, cert = tls_proxy
    with pytest.raises(pymysql.err.OperationalError) as info:
        proxy.connect(user="secure", password="s", ssl_disabled=True)
    assert info.value.args[0] == 1045
    with proxy.connect(user="secure", password="s", ssl={"ca": str(cert)}) as conn, conn.cursor() as cur:
        cur.execute("SELECT DATABASE()")
        assert cur.fetchall() == ((LOGICAL_DB,),)
    with proxy.connect(user="secure", password="s") as conn:  # pymysql's default: TLS when offered
        assert isinstance(conn._sock, ssl.SSLSocket)
    assert "Traceback" not in proxy.process.output()
