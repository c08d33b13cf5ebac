"""Routing plans: shard keys from =, IN, BETWEEN, ranges and INSERT values; renames; refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dbproxy.config import parse_config
from dbproxy.errors import NotSupported, ProxyError
from dbproxy.executor.plans.base import Plan
from dbproxy.executor.plans.catalog import ShowTables
from dbproxy.executor.plans.insert import Insert
from dbproxy.executor.plans.route import Route
from dbproxy.executor.plans.session_info import SessionValue, SessionValues
from dbproxy.executor.plans.settings import SetVariables, Use
from dbproxy.executor.plans.transaction import Begin, Commit
from dbproxy.plan_cache import PlanCache
from dbproxy.planner.planner import Planner
from dbproxy.router.schema import LogicalSchema

CONFIG = """
users: {app: secret}
transactions: {mode: best_effort}
backends: {ds0: "mysql://r@h/s0", ds1: "mysql://r@h/s1", ds2: "mysql://r@h/s2"}
databases:
  app:
    default_backend: ds0
    sharded_tables:
      t: {column: id, algorithm: mod, nodes: [ds0.t_0, ds1.t_1, ds2.t_2], auto_increment: true}
      u: {column: uid, algorithm: mod, nodes: [ds0.u_0, ds1.u_1, ds2.u_2]}
      r: {column: id, algorithm: range, boundaries: [10, 20], nodes: [ds0.r_0, ds1.r_1, ds2.r_2]}
      h: {column: name, algorithm: hash, nodes: [ds0.h_0, ds1.h_1]}
    broadcast_tables: [settings]
"""


@pytest.fixture(scope="module")
def planner() -> Planner:
    return Planner(LogicalSchema(parse_config(CONFIG)))


def nodes(plan: Plan, params: tuple[object, ...] = ()) -> list[int]:
    assert isinstance(plan, Route)
    return plan.choose(params)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("id = 4", [1]),
        ("4 = id", [1]),
        ("id IN (3, 4, 6)", [0, 1]),
        ("id BETWEEN 4 AND 5", [1, 2]),
        ("id BETWEEN 1 AND 100", [0, 1, 2]),
        ("id > 7 AND id < 9", [2]),
        ("id = 1 OR id = 2", [1, 2]),
        ("id = 1 OR k = 2", [0, 1, 2]),
        ("k = 5 AND id = 3", [0]),
        ("t.id = 5", [2]),
        ("id = 3 AND id = 4", []),
        ("k > 1", [0, 1, 2]),
    ],
)
def test_shard_keys_from_conditions(planner: Planner, where: str, expected: list[int]) -> None:
    plan = planner.plan(f"SELECT * FROM t WHERE {where}", "app")
    assert nodes(plan) == expected


def test_a_qualifier_that_is_no_table_of_the_statement_is_refused_as_a_database(planner: Planner) -> None:
    # x is neither a table, an alias nor a database here: MariaDB would read x.id as another schema's name
    with pytest.raises(ProxyError) as info:
        planner.plan("SELECT * FROM t WHERE x.id = 5", "app")
    assert info.value.code == 1044


def test_parameters_route_at_execution(planner: Planner) -> None:
    plan = planner.plan("SELECT c FROM t WHERE id = ?", "app")
    assert plan.nparams == 1
    assert nodes(plan, (5,)) == [2]
    assert nodes(plan, (b"6",)) == [0]
    assert plan.targets[2].prepared_sql == "SELECT c FROM `t_2` WHERE id = ?"
    assert plan.targets[2].relayable


def test_range_algorithm(planner: Planner) -> None:
    assert nodes(planner.plan("SELECT * FROM r WHERE id = 15", "app")) == [1]
    assert nodes(planner.plan("SELECT * FROM r WHERE id >= 20", "app")) == [2]
    assert nodes(planner.plan("SELECT * FROM r WHERE id < 10", "app")) == [0]
    assert nodes(planner.plan("SELECT * FROM r WHERE id BETWEEN 5 AND 12", "app")) == [0, 1]


def test_hash_algorithm_is_stable_for_equal_values(planner: Planner) -> None:
    a = nodes(planner.plan("SELECT * FROM h WHERE name = 'alice'", "app"))
    b = nodes(planner.plan("SELECT * FROM h WHERE name = ?", "app"), (b"alice",))
    assert a == b and len(a) == 1


def test_tables_are_renamed_and_qualifiers_dropped_keeping_the_text(planner: Planner) -> None:
    plan = planner.plan("select t.c /* keep */ from app.t where t.id = 1", "app")
    assert plan.targets[1].template.render() == "select `t_1`.c /* keep */ from `t_1` where `t_1`.id = 1"


def test_column_named_like_a_table_falls_back_to_the_ast(planner: Planner) -> None:
    plan = planner.plan("SELECT u FROM u WHERE uid = 2", "app")
    assert plan.targets[2].template.render() == "SELECT u FROM `u_2` WHERE uid = 2"


def test_insert_rows_are_split_by_key(planner: Planner) -> None:
    plan = planner.plan("INSERT INTO t (id, c) VALUES (1, 'a'), (2, ?), (-3, 'c')", "app")
    assert isinstance(plan, Insert)
    keys = [row.key.get(("b",)) for row in plan.rows]  # type: ignore[union-attr]
    assert keys == [1, 2, -3]
    assert plan.prefixes[1].render(("b",)) == "INSERT INTO `t_1` (id, c) VALUES"
    rendered = [row.per_node[0].render(("b",), {"key": "K"}) for row in plan.rows]
    assert rendered == ["(K, 'a')", "(K, 'b')", "(K, 'c')"]


def test_insert_without_key_generates_one_only_when_configured(planner: Planner) -> None:
    plan = planner.plan("INSERT INTO t (c) VALUES ('a')", "app")
    assert isinstance(plan, Insert)
    assert plan.key_table == "t" and plan.key_column == "id"
    with pytest.raises(NotSupported, match="without its shard column uid"):
        planner.plan("INSERT INTO u (c) VALUES ('a')", "app")


def test_ddl_goes_to_every_shard(planner: Planner) -> None:
    plan = planner.plan("CREATE INDEX k_1 ON t (k)", "app")
    assert [t.template.render() for t in plan.targets] == [f"CREATE INDEX k_1 ON `t_{i}` (k)" for i in range(3)]
    assert nodes(plan) == [0, 1, 2]


def test_broadcast_writes_everywhere_reads_from_one(planner: Planner) -> None:
    write = planner.plan("UPDATE settings SET v = 1", "app")
    assert [t.backend for t in write.targets] == ["ds0", "ds1", "ds2"]
    read = planner.plan("SELECT * FROM settings", "app")
    assert [t.backend for t in read.targets] == ["ds0"]
    joined = planner.plan("SELECT * FROM t JOIN settings s ON s.k = t.k WHERE t.id = 2", "app")
    assert nodes(joined) == [2]


def test_unsharded_tables_go_to_the_default_backend(planner: Planner) -> None:
    plan = planner.plan("SELECT * FROM other o JOIN another a ON a.id = o.id", "app")
    assert [t.backend for t in plan.targets] == ["ds0"]


@pytest.mark.parametrize(
    ("sql", "construct"),
    [
        ("SELECT * FROM t WHERE id IN (SELECT id FROM t)", "subquery"),
        ("SELECT * FROM t JOIN r ON r.id = t.id", "not sharded alike (r, t)"),
        ("SELECT * FROM t JOIN u ON u.c = t.id", "not on their shard columns"),
        ("SELECT c, COUNT(*) FROM t GROUP BY c HAVING COUNT(*) > 1", None),  # refused only across shards
        ("UPDATE t SET id = 2 WHERE id = 1", "UPDATE of shard column"),
        ("INSERT INTO t (id, c) VALUES (1 + 1, 'x')", "computed value"),
        ("ROLLBACK TO SAVEPOINT s", "SAVEPOINT"),
    ],
)
def test_refusals_name_the_construct(planner: Planner, sql: str, construct: str | None) -> None:
    if construct is None:
        plan = planner.plan(sql, "app")
        assert isinstance(plan, Route)
        assert plan.merge_error is not None and "HAVING" in plan.merge_error.construct
        return
    with pytest.raises(NotSupported) as err:
        planner.plan(sql, "app")
    assert construct in err.value.construct
    assert err.value.code == 1235


def test_session_statements(planner: Planner) -> None:
    assert isinstance(planner.plan("START TRANSACTION", "app"), Begin)
    assert isinstance(planner.plan("commit", None), Commit)
    s = planner.plan("SET autocommit = 0, sql_mode = 'ANSI'", "app")
    assert isinstance(s, SetVariables) and s.autocommit is False and s.rest == "SET sql_mode = 'ANSI'"
    on = planner.plan("SET @@session.autocommit = ON", "app")
    assert isinstance(on, SetVariables) and on.autocommit is True
    database = planner.plan("SELECT DATABASE()", "app")
    assert isinstance(database, SessionValues) and database.values == (SessionValue.DATABASE,)
    assert isinstance(planner.plan("SHOW TABLES", "app"), ShowTables)
    use = planner.plan("USE app", None)
    assert isinstance(use, Use) and use.db == "app"


def test_scatter_merge_spec(planner: Planner) -> None:
    plan = planner.plan("SELECT k, AVG(v) AS a FROM t GROUP BY k ORDER BY a DESC LIMIT 3", "app")
    assert isinstance(plan, Route)
    assert plan.merge is not None and plan.merge.aggregate
    sql = plan.targets[0].merge_template.render()  # type: ignore[union-attr]
    assert sql == "SELECT k, SUM(v), COUNT(v) FROM `t_0` GROUP BY k"
    plain = planner.plan("SELECT c FROM t ORDER BY k LIMIT 5 OFFSET 10", "app")
    assert plain.targets[0].merge_template.render(named={"__dbp_limit__": "15"}) == (  # type: ignore[union-attr]
        "SELECT c, k FROM `t_0` ORDER BY k ASC LIMIT 15"
    )


def test_plan_cache_parses_each_statement_once(planner: Planner) -> None:
    cache = PlanCache(planner, capacity=2)
    first = cache.get("SELECT * FROM t WHERE id = ?", "app")
    assert cache.get("SELECT * FROM t WHERE id = ?", "app") is first
    assert (cache.hits, cache.misses) == (1, 1)
    cache.get("SELECT 1", "app")
    cache.get("SELECT 2", "app")
    assert len(cache) == 2


@pytest.mark.parametrize(
    ("sql", "params", "route", "changes_rows"),
    [
        ("SELECT * FROM t WHERE id = ?", (4,), "single", False),
        ("SELECT * FROM t WHERE id IN (?, ?)", (1, 2), "scatter", False),
        ("UPDATE settings SET v = 1", (), "broadcast", True),
        ("SELECT * FROM settings", (), "single", False),
        ("INSERT INTO t (id, c) VALUES (1, 'a')", (), "scatter", True),
        ("CREATE INDEX k_1 ON t (k)", (), "broadcast", True),
        ("BEGIN", (), "transaction", False),
        ("ROLLBACK", (), "transaction", False),
        ("SET autocommit = 0", (), "session", False),
        ("USE app", (), "session", False),
        ("SHOW DATABASES", (), "local", False),
        ("SELECT DATABASE()", (), "local", False),
    ],
)
def test_each_plan_names_its_route_and_whether_it_writes(
    planner: Planner, sql: str, params: tuple[object, ...], route: str, changes_rows: bool
) -> None:
    """The statement metrics' route label and the two-phase marking come from the plan class itself."""
    plan = planner.plan(sql, "app")
    assert (plan.route(params), plan.changes_rows) == (route, changes_rows)  # type: ignore[arg-type]


def test_session_state_marks_the_plan_but_never_a_set(planner: Planner) -> None:
    cache = PlanCache(planner)
    assert cache.get("SELECT @v := c FROM t WHERE id = 1", "app").holds_session
    assert not cache.get("SELECT c FROM t WHERE id = 1", "app").holds_session
    assert not cache.get("SET @v = 1", "app").holds_session  # replayed on every connection instead


def test_decimal_keys_route_like_integers(planner: Planner) -> None:
    plan = planner.plan("SELECT * FROM t WHERE id = ?", "app")
    assert nodes(plan, (Decimal("4.0"),)) == [1]
    assert nodes(plan, (Decimal("4.5"),)) == [0, 1, 2]  # matches nothing; scatter is still right
