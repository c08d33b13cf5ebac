"""What `dbproxy grants` gives each backend account: the physical databases behind its user's logical ones."""

from __future__ import annotations

from dbproxy.config import parse_config
from dbproxy.grants import READ_ONLY, READ_WRITE, account_grants, grants_script

CONFIG = """\
users:
  plain: secret
  reports:
    password: r
    databases: {shop: read_only, Stats: read_write}
    backend_account: {user: dbp_reports, password: "it's", host: "10.0.0.%"}
backends:
  ds0: "mysql://root:@db1:3306/shop_0"
  ds1: "mysql://root:@db2:3306/shop_1"
  ds2: "mysql://root:@db1:3306/stats"
  ds3: "mysql://root:@db2:3306/other"
transactions: {mode: best_effort}
databases:
  shop:
    default_backend: ds0
    sharded_tables: {orders: {column: id, algorithm: mod, nodes: [ds0.orders_0, ds1.orders_1]}}
  stats: {default_backend: ds2}
  other: {default_backend: ds3}
"""


def test_each_account_gets_its_users_physical_databases_per_server() -> None:
    grants = {g.server: g for g in account_grants(parse_config(CONFIG))}
    assert set(grants) == {"db1:3306", "db2:3306"}  # the user without an account gets nothing
    assert grants["db1:3306"].databases == {"shop_0": False, "stats": True}
    assert grants["db2:3306"].databases == {"shop_1": False}  # never `other`
    statements = grants["db1:3306"].statements()
    assert statements == [
        "CREATE OR REPLACE USER 'dbp_reports'@'10.0.0.%' IDENTIFIED BY 'it''s'",
        f"GRANT {READ_ONLY} ON `shop\\_0`.* TO 'dbp_reports'@'10.0.0.%'",
        f"GRANT {READ_WRITE} ON `stats`.* TO 'dbp_reports'@'10.0.0.%'",
    ]


def test_a_config_without_accounts_says_so() -> None:
    text = CONFIG.replace('    backend_account: {user: dbp_reports, password: "it\'s", host: "10.0.0.%"}\n', "")
    assert grants_script(parse_config(text)).startswith("-- no user has a backend_account")
