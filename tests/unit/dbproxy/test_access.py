"""Confinement decided on the statement alone (router/access.py through the planner): which statements are
refused with which MySQL error, which grants a plan needs, and how information_schema is confined."""

from __future__ import annotations

import pytest

from dbproxy.config import parse_config
from dbproxy.errors import AccessRefused, ProxyError
from dbproxy.executor.plans.base import Routed
from dbproxy.executor.plans.explain import Explain
from dbproxy.planner.planner import Planner
from dbproxy.router.schema import LogicalSchema
from dbproxy.router.split import split_statements

CONFIG = """
users: {app: secret}
backends: {ds0: "mysql://r@h/phys0", ds1: "mysql://r@h/phys1"}
databases:
  app:
    default_backend: ds0
    sharded_tables:
      t: {column: id, algorithm: mod, nodes: [ds0.t_0, ds1.t_1]}
  other_app:
    default_backend: ds1
transactions: {mode: best_effort}
"""


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner(LogicalSchema(parse_config(CONFIG)), max_depth=20)


@pytest.mark.parametrize(
    ("sql", "code"),
    [
        ("SELECT * FROM mysql.user", 1142),
        ("SELECT * FROM `mysql`.`user` u JOIN t ON t.id = u.x", 1142),
        ("SELECT * FROM secret_db.x", 1044),
        ("DROP TABLE secret_db.x", 1044),
        ("CALL secret_db.p()", 1044),
        ("SELECT LOAD_FILE('/etc/shadow')", 1227),
        ("SELECT 1 INTO DUMPFILE '/tmp/x'", 1227),
        ("ALTER USER root IDENTIFIED BY 'x'", 1227),
        ("SET PASSWORD = PASSWORD('x')", 1227),
        ("SET GLOBAL general_log = 1", 1227),
        ("SET SESSION sql_log_bin = 0", 1227),
        ("KILL USER root", 1227),
        ("SHOW MASTER STATUS", 1227),
        ("SHOW BINLOG EVENTS", 1227),
        ("START SLAVE", 1227),
        ("SELECT * FROM information_schema.INNODB_TRX", 1142),
        ("DELETE FROM information_schema.TABLES", 1142),
        ("EXECUTE IMMEDIATE 'SELECT 1'", 1235),
        ("CREATE PROCEDURE p() BEGIN PREPARE s FROM @q; EXECUTE s; END", 1235),
        ("CREATE PROCEDURE p() SELECT * FROM mysql.user", 1142),
        ("SELECT " + "(" * 30 + "1" + ")" * 30, 1235),
    ],
)
def test_refused_statements(planner: Planner, sql: str, code: int) -> None:
    with pytest.raises(ProxyError) as info:
        planner.plan(sql, "app")
    assert info.value.code == code
    if code in (1044, 1142):
        assert isinstance(info.value, AccessRefused)
        message = info.value.for_client("app", "10.0.0.1").message
        assert "'app'@'10.0.0.1'" in message


@pytest.mark.parametrize(
    ("sql", "database", "writes", "command"),
    [
        ("SELECT * FROM t WHERE id = 1", "app", False, "SELECT"),
        ("UPDATE t SET k = 1 WHERE id = 1", "app", True, "UPDATE"),
        ("INSERT INTO t (id) VALUES (1)", "app", True, "INSERT"),
        ("CREATE TABLE plain (id INT)", "app", True, "CREATE"),
        ("SELECT * FROM other_app.x", "other_app", False, "SELECT"),
        ("DELETE FROM other_app.x", "other_app", True, "DELETE"),
        ("SHOW CREATE TABLE t", "app", False, ""),
        ("SELECT 1", None, False, ""),
        # advancing or setting a sequence is a write (MariaDB asks INSERT on it), whichever way it is written
        ("SELECT NEXTVAL(seq)", "app", True, "INSERT"),
        ("SELECT SETVAL(seq, 5)", "app", True, "INSERT"),
        ("SELECT NEXT VALUE FOR seq", "app", True, "INSERT"),
        ("SELECT nextval(seq), id FROM plain", "app", True, "SELECT"),
        ("SELECT LASTVAL(seq)", None, False, ""),
        ("SELECT PREVIOUS VALUE FOR seq", "app", False, "SELECT"),
        ("SELECT 'nextval(' AS s", None, False, ""),
    ],
)
def test_plans_record_the_grant_they_need(
    planner: Planner, sql: str, database: str | None, writes: bool, command: str
) -> None:
    plan = planner.plan(sql, "app")
    assert (plan.database, plan.writes) == (database, writes)
    if command:
        assert plan.command == command


def test_information_schema_reads_are_confined_to_the_physical_schema(planner: Planner) -> None:
    plan = planner.plan("SELECT TABLE_NAME FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = 'app'", "app")
    assert isinstance(plan, Routed)
    sql = plan.targets[0].template.render()
    assert "(SELECT * FROM information_schema.`TABLES` WHERE `TABLE_SCHEMA` = 'phys0') t" in sql
    assert "'phys0'" in sql.split("WHERE t.")[1]  # the logical name in the filter is the physical one there
    schemata = planner.plan("SELECT COUNT(*) FROM information_schema.SCHEMATA", "app")
    assert isinstance(schemata, Routed)
    bare = schemata.targets[0].template.render()
    assert "WHERE `SCHEMA_NAME` = 'phys0') AS `SCHEMATA`" in bare


def test_split_statements_on_tokens() -> None:
    assert split_statements("SELECT 1; SELECT ';' ; -- a; b\nSELECT 3;") == [
        "SELECT 1",
        "SELECT ';'",
        "-- a; b\nSELECT 3",
    ]


@pytest.mark.parametrize(
    ("sql", "nodes"),
    [
        ("EXPLAIN SELECT t.id FROM t WHERE t.id = 3", 1),  # a qualified column is not a database
        ("EXPLAIN SELECT o.k FROM t o", 2),
        ("EXPLAIN FORMAT=JSON SELECT id FROM t WHERE id = 3", 1),  # routed like the statement, not to node 0
        ("EXPLAIN EXTENDED SELECT id FROM t", 2),
        ("DESCRIBE SELECT t.id FROM t", 2),
    ],
)
def test_explain_plans_the_statement_it_explains(planner: Planner, sql: str, nodes: int) -> None:
    plan = planner.plan(sql, "app")
    assert isinstance(plan, Explain)
    assert len(plan.targets) == 2
    assert len(plan.choose([]) or range(2)) == nodes


@pytest.mark.parametrize(
    "sql", ["EXPLAIN SELECT * FROM mysql.user", "EXPLAIN FORMAT=JSON SELECT s FROM phys1.t_1", "EXPLAIN other_app.t"]
)
def test_explain_of_what_the_user_may_not_run_is_refused(planner: Planner, sql: str) -> None:
    with pytest.raises(AccessRefused):
        planner.plan(sql, "app")
