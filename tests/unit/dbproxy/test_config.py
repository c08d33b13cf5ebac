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
    assert config.transactions.advertise is None  # registers its own listen address


def test_the_phase2_address_registered_may_be_one_in_front_of_the_proxy() -> None:
    settings = "{coordinator: 127.0.0.1:7070, listen: 127.0.0.1:7400, advertise: 127.0.0.1:7401}"
    config = parse_config(GOOD.replace("{mode: best_effort}", settings), "proxy.yaml")
    assert config.transactions.advertise == "127.0.0.1:7401"


@pytest.mark.parametrize(
    ("transactions", "expected"),
    [
        ("{mode: best_effort, coordinator: 127.0.0.1:7070}", "exclude each other"),
        ("{coordinator: localhost}", "must be HOST:PORT"),
        ("{coordinator: 127.0.0.1:7070, advertise: somewhere}", "must be HOST:PORT"),
        ("{coordinator: 127.0.0.1:7070, service: 'a b'}", "transactions.service"),
        ("{mode: sometimes}", "transactions.mode"),
    ],
)
def test_bad_transactions_section(transactions: str, expected: str) -> None:
    text = GOOD.replace("{mode: best_effort}", transactions)
    with pytest.raises(ConfigError) as err:
        parse_config(text, "proxy.yaml")
    assert expected in str(err.value)


MULTI = """listen: 127.0.0.1:3307
users:
  app: secret
  reader: {password: r, databases: {app: read_only}}
backends:
  ds0: mysql://proxy:pw@127.0.0.1:3306/s0
  ds1: mysql://proxy:pw@127.0.0.1:3306/s1
databases:
  app:
    default_backend: ds0
    sharded_tables:
      t:
        column: id
        algorithm: mod
        nodes:
          - ds0.t_0
          - ds1.t_1
      u:
        column: id
        algorithm: mod
        nodes: [ds0.u_0, ds1.u_1]
transactions: {mode: best_effort}
"""


T_NODES = "databases.app.sharded_tables.t"
COLUMN_ID = "        column: id\n        algorithm: mod\n        nodes:\n"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("- ds1.t_1", "- ds0.t_0"), f"proxy.yaml:17: {T_NODES}.nodes.1: node ds0.t_0 is listed twice"),
        (
            ("nodes: [ds0.u_0, ds1.u_1]", "nodes: [ds0.u_0, ds1.t_1]"),
            "proxy.yaml:21: databases.app.sharded_tables.u.nodes.1: physical table s1.t_1 is already a shard of app.t",
        ),
        (
            (COLUMN_ID, COLUMN_ID.replace("id", "''")),
            f"proxy.yaml:13: {T_NODES}.column: String should have at least 1 character",
        ),
        (("- ds1.t_1", "- ds9.t_1"), f"proxy.yaml:17: {T_NODES}.nodes.1: unknown backend 'ds9' (known: ds0, ds1)"),
        (
            ("  app: secret\n", "  app: secret\n  app: other\n"),
            "proxy.yaml:4: users.app: duplicate key (first at line 3)",
        ),
        (
            ("databases: {app: read_only}", "databases: {nope: read_only}"),
            "proxy.yaml:4: users.reader.databases.nope: unknown logical database 'nope'",
        ),
        (("databases: {app: read_only}", "databases: {app: read_mostly}"), "proxy.yaml:4: users.reader"),
    ],
)
def test_silent_acceptances_are_errors_at_their_line(change: tuple[str, str], expected: str) -> None:
    assert change[0] in MULTI
    parse_config(MULTI, "proxy.yaml")  # the unchanged text is valid
    with pytest.raises(ConfigError) as err:
        parse_config(MULTI.replace(*change), "proxy.yaml")
    assert expected in str(err.value)


def test_user_grants_parse() -> None:
    config = parse_config(MULTI, "proxy.yaml")
    reader = config.user("reader")
    assert reader is not None and reader.databases == {"app": "read_only"}
    app = config.user("app")
    assert app is not None and app.password == "secret" and app.databases is None
    assert config.user("nobody") is None


def test_check_config_prints_the_routing_table(tmp_path: pytest.TempPathFactory) -> None:
    import subprocess
    import sys
    from pathlib import Path

    path = Path(str(tmp_path)) / "proxy.yaml"
    path.write_text(MULTI)
    out = subprocess.run(
        [sys.executable, "-m", "dbproxy.main", "--check-config", str(path)], capture_output=True, text=True, check=True
    )
    assert "t: mod(id)" in out.stdout and "shard 1 -> ds1.t_1" in out.stdout
    assert "reader: app (read-only)" in out.stdout
    path.write_text(MULTI.replace("- ds1.t_1", "- ds0.t_0"))
    bad = subprocess.run(
        [sys.executable, "-m", "dbproxy.main", "--check-config", str(path)], capture_output=True, text=True
    )
    assert bad.returncode == 2 and f"{path}:17:" in bad.stderr
    version = subprocess.run([sys.executable, "-m", "dbproxy.main", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("dbproxy ")


def test_a_bad_dsn_error_names_its_backends_entry_and_line() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(GOOD.replace("mysql://root@127.0.0.1/s1", "postgres://root@127.0.0.1/s1"), "proxy.yaml")
    assert info.value.problems == [
        "proxy.yaml:6: backends.ds1: DSN 'postgres://root@127.0.0.1/s1' must start with mysql:// or mariadb://"
    ]


BOMB = "\n".join(
    [
        'a: &a ["x", "x", "x", "x", "x", "x", "x", "x", "x"]',
        *(f"{n}: &{n} [{', '.join([f'*{p}'] * 9)}]" for p, n in zip("abcdef", "bcdefg", strict=True)),
    ]
)


def test_a_yaml_anchor_bomb_is_refused_before_it_is_expanded() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(BOMB, "bomb.yaml")
    (problem,) = info.value.problems
    assert problem.startswith("bomb.yaml:6: YAML anchors and aliases expand this file beyond 100000 nodes")


def test_a_few_aliases_are_fine() -> None:
    text = GOOD.replace("transactions: {mode: best_effort}", "transactions: &tx {mode: best_effort}\nx: *tx")
    with pytest.raises(ConfigError) as info:  # the alias is read; the unknown key is what is wrong
        parse_config(text, "proxy.yaml")
    assert "x: Extra inputs are not permitted" in info.value.problems[0]
