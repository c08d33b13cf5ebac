from __future__ import annotations

import pytest

from dbproxy.config import BackendDSN, parse_config
from dbproxy.errors import ConfigError

GOOD = """
listen: 127.0.0.1:3307
users: {app: secret}
backends:
  ds0: mysql://root:pw@127.0.0.1:3306/s0
  ds1: mysql://root@127.0.0.1/s1
databases:
  app:
    default_backend: ds0
    sharded_tables:
      t: {column: id, algorithm: range, boundaries: [100], nodes: [ds0.t_0, {backend: ds1, table: t_1}]}
    broadcast_tables: [settings]
transactions: {mode: best_effort}
"""


def test_good_config_parses() -> None:
    config = parse_config(GOOD, "proxy.yaml")
    assert config.listen_port == 3307
    table = config.databases["app"].sharded_tables["t"]
    assert [n.backend for n in table.nodes] == ["ds0", "ds1"]
    assert config.backend_dsn("ds1") == BackendDSN(host="127.0.0.1", port=3306, user="root", password="", database="s1")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("boundaries: [100]", "boundaries: [100, 200]"),
            "proxy.yaml:11: databases.app.sharded_tables.t: range sharding over 2 nodes needs 1",
        ),
        (("ds0.t_0", "ds0-t_0"), "must be 'backend.table'"),
        (("default_backend: ds0", "default_backend: nope"), "unknown backend 'nope'"),
        (("listen: 127.0.0.1:3307", "listen: localhost"), "proxy.yaml:2: listen: listen 'localhost' must be HOST:PORT"),
        (("mysql://root@127.0.0.1/s1", "postgres://x/y"), "must start with mysql://"),
        (("broadcast_tables: [settings]", "broadcast_tables: [t]"), "both sharded and broadcast"),
        (("users: {app: secret}", "users: {app: secret}\nextra: 1"), "extra: Extra inputs are not permitted"),
    ],
)
def test_bad_config_errors_name_line_key_and_problem(change: tuple[str, str], expected: str) -> None:
    text = GOOD.replace(*change)
    with pytest.raises(ConfigError) as err:
        parse_config(text, "proxy.yaml")
    assert expected in str(err.value)


def test_all_problems_are_reported_together() -> None:
    text = GOOD.replace("algorithm: range", "algorithm: rnd").replace("listen: 127.0.0.1:3307", "listen: x")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "proxy.yaml")
    assert len(err.value.problems) == 2


def test_shipped_example_config_is_valid() -> None:
    from pathlib import Path

    import dbproxy
    from dbproxy.config import load_config

    config = load_config(Path(dbproxy.__file__).with_name("example.yaml"))
    assert config.databases["shop"].sharded_tables["customers"].auto_increment


def test_dsn_with_unix_socket_and_unknown_option() -> None:
    dsn = BackendDSN.parse("mysql://app:p%40ss@localhost/shop?unix_socket=/run/mysqld/mysqld.sock")
    assert (dsn.user, dsn.password, dsn.unix_socket) == ("app", "p@ss", "/run/mysqld/mysqld.sock")
    assert str(dsn) == "/run/mysqld/mysqld.sock/shop"
    with pytest.raises(ValueError, match="unknown option"):
        BackendDSN.parse("mysql://root@h/db?ssl=1")


def test_two_backends_without_coordinator_or_best_effort_are_refused_naming_the_key() -> None:
    text = GOOD.replace("transactions: {mode: best_effort}\n", "")
    with pytest.raises(ConfigError) as err:
        parse_config(text, "proxy.yaml")
    assert "transactions.coordinator" in str(err.value)
    assert "transactions.mode: best_effort" in str(err.value)


def test_a_coordinator_makes_multi_backend_commits_atomic() -> None:
    coordinated = "transactions: {coordinator: 127.0.0.1:7070, service: shop}"
    text = GOOD.replace("transactions: {mode: best_effort}", coordinated)
    config = parse_config(text, "proxy.yaml")
    assert config.coordinated
    assert config.transactions.service == "shop"


@pytest.mark.parametrize(
    ("transactions", "expected"),
    [
        ("{mode: best_effort, coordinator: 127.0.0.1:7070}", "exclude each other"),
        ("{coordinator: localhost}", "must be HOST:PORT"),
        ("{coordinator: 127.0.0.1:7070, service: 'a b'}", "transactions.service"),
        ("{mode: sometimes}", "transactions.mode"),
    ],
)
def test_bad_transactions_section(transactions: str, expected: str) -> None:
    text = GOOD.replace("{mode: best_effort}", transactions)
    with pytest.raises(ConfigError) as err:
        parse_config(text, "proxy.yaml")
    assert expected in str(err.value)
