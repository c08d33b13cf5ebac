"""The escape corpus: every kind of statement that once reached beyond a user's logical database because the
proxy checked one reading of it and MariaDB ran another (executable comments, the session's sql_mode and
character set, statements the parser cannot read, stored program bodies, files and logging switches).

Each case is data: the statements a session sends first (setup), the statement that must be refused, and
the refusal's code. After each case the server is compared with a snapshot taken before it: no file written,
no table created, moved or changed, no routine left behind, and the other database's secret never appears
in what the client got back. The backend account the proxy uses is a fixture parameter: "root" makes the
proxy's own checks the only wall.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymysql
import pytest

from tests.integration.proxy.accounts import ACCOUNT_SETUPS, account_setup
from tests.integration.proxy.conftest import (
    LOGICAL_DB,
    PASSWORD,
    USER,
    Proxy,
    direct,
    mod_table,
    proxy_config,
    start_proxy,
)
from tests.support import create_mariadb_database, drop_mariadb_database, free_port

SECRET = "do-not-leak-7f3a"


@dataclass(frozen=True)
class Escape:
    """One statement that must be refused; ``{other}``, ``{file}`` and ``{dir}`` are filled in per run."""

    kind: str
    sql: str
    code: int
    setup: tuple[str, ...] = ()
    user: str = USER
    multi: bool = False  # sent with CLIENT_MULTI_STATEMENTS


CORPUS: list[Escape] = [
    # 1. executable comments are code to MariaDB: expanded, then checked like the rest of the statement
    Escape("exec-comment subquery", "SELECT 1 /*!, (SELECT s FROM {other}.secret) */", 1044),
    Escape("maria exec-comment subquery", "SELECT 1 /*M!, (SELECT s FROM {other}.secret) */", 1044),
    Escape("versioned exec-comment", "SELECT 1 /*!50000 , (SELECT s FROM {other}.secret) */", 1044),
    Escape("maria versioned exec-comment", "SELECT 1 /*M!100000 , (SELECT s FROM {other}.secret) */", 1044),
    Escape("exec-comment qualified name", "SELECT s FROM /*!{other}.*/secret", 1044),
    Escape("exec-comment LOAD_FILE", "SELECT 1 /*!, LOAD_FILE('/etc/hostname') */", 1227),
    Escape("exec-comment INTO OUTFILE", "SELECT 1 /*!INTO OUTFILE '{file}'*/", 1227),
    Escape("maria exec-comment INTO DUMPFILE", "SELECT * FROM plain /*M! INTO DUMPFILE '{file}' */", 1227),
    Escape(
        "exec-comment multi-table UPDATE",
        "UPDATE plain /*!, {other}.secret*/ SET plain.id = plain.id /*!, {other}.secret.s='X'*/",
        1044,
    ),
    Escape("exec-comment RENAME into another database", "RENAME TABLE mv TO /*!{other}.*/mv", 1044),
    Escape("exec-comment stored procedure body", "CREATE PROCEDURE p_show() /*!SHOW GRANTS*/", 1235),
    Escape("stored procedure reading another database", "CREATE PROCEDURE p_read() SELECT s FROM {other}.secret", 1044),
    Escape("stored procedure SET GLOBAL", "CREATE PROCEDURE p_glob() SET GLOBAL max_connections = 7", 1235),
    Escape("trigger body SHOW", "CREATE TRIGGER t_show BEFORE INSERT ON mv FOR EACH ROW /*!SHOW DATABASES*/", 1235),
    Escape("event body", "CREATE EVENT e_kill ON SCHEDULE EVERY 1 DAY DO KILL 1", 1235),
    Escape("nested comment inside an executable comment", "SELECT 1 /*! /* x */ , (SELECT 1) */", 1235),
    # 2. the session's sql_mode and character set decide what is a string and what is a name
    Escape(
        "NO_BACKSLASH_ESCAPES string end",
        "SELECT 'x\\' , (SELECT s FROM {other}.secret) , ' AS a -- '",
        1044,
        setup=("SET sql_mode = 'NO_BACKSLASH_ESCAPES'",),
    ),
    Escape(
        "NO_BACKSLASH_ESCAPES set through an expression",
        "SELECT 'x\\' , (SELECT s FROM {other}.secret) , ' AS a -- '",
        1044,
        setup=("SET @@session.sql_mode = CONCAT(@@session.sql_mode, ',NO_BACKSLASH_ESCAPES')",),
    ),
    Escape(
        "ANSI_QUOTES RENAME into another database",
        'RENAME TABLE mv TO "{other}"."mv"',
        1044,
        setup=("SET sql_mode = 'ANSI_QUOTES'",),
    ),
    Escape("ANSI_QUOTES SELECT", 'SELECT s FROM "{other}"."secret"', 1044, setup=("SET sql_mode = 'ANSI_QUOTES'",)),
    Escape("ANSI mode SELECT", 'SELECT s FROM "{other}".secret', 1044, setup=("SET SESSION sql_mode = 'ANSI'",)),
    Escape(
        "sql_mode changed inside a multi-statement text",
        "SET sql_mode = 'NO_BACKSLASH_ESCAPES'; SELECT 'x\\'; SHOW GRANTS; -- '",
        1064,
        multi=True,
    ),
    Escape("ORACLE mode (another grammar)", "SET sql_mode = 'ORACLE'", 1235),
    Escape("SET NAMES gbk", "SET NAMES gbk", 1235),
    Escape("SET NAMES big5 with a collation", "SET NAMES big5 COLLATE big5_bin", 1235),
    Escape("SET CHARACTER SET sjis", "SET CHARACTER SET sjis", 1235),
    Escape("SET character_set_client cp932", "SET character_set_client = cp932", 1235),
    Escape("SET character_set_client from a variable", "SET character_set_client = @cs", 1235),
    # 3. statements the parser cannot read: no qualifier but the logical database, however it is written
    Escape("unparsed alias trick", "SELECT s FROM {other}.secret {other} LIMIT ROWS EXAMINED 9", 1235),
    Escape("unparsed quoted alias trick", "SELECT s FROM `{other}`.`secret` `{other}` LIMIT ROWS EXAMINED 9", 1235),
    Escape("REPLACE ... SELECT", "REPLACE INTO mv (s) SELECT s FROM {other}.secret {other}", 1235),
    Escape("PROCEDURE ANALYSE", "SELECT s FROM {other}.secret {other} PROCEDURE ANALYSE()", 1235),
    Escape("function of another database", "SELECT {other}.f()", 1044),
    Escape("sequence of another database", "SELECT NEXTVAL({other}.seq)", 1044),
    # 6. files, logging and grants
    Escape("DATA DIRECTORY", "CREATE TABLE dd (id INT) DATA DIRECTORY = '{dir}'", 1227),
    Escape("INDEX DIRECTORY", "CREATE TABLE di (id INT, KEY (id)) INDEX DIRECTORY = '{dir}' ENGINE = MyISAM", 1227),
    Escape("SET SESSION binlog_format", "SET SESSION binlog_format = 'STATEMENT'", 1227),
    Escape("read-only ANALYZE TABLE", "ANALYZE TABLE plain", 1142, user="reader"),
    Escape("read-only OPTIMIZE TABLE", "OPTIMIZE TABLE plain", 1142, user="reader"),
    Escape("read-only NEXTVAL", "SELECT NEXTVAL(seq)", 1142, user="reader"),  # advancing a sequence is a write
    Escape("read-only SETVAL", "SELECT SETVAL(seq, 100)", 1142, user="reader"),
    Escape("read-only NEXT VALUE FOR", "SELECT NEXT VALUE FOR seq", 1142, user="reader"),
]


@dataclass
class Fixture:
    proxy: Proxy
    other: str
    shards: list[str]
    file: str
    dir: Path


@pytest.fixture(scope="module", params=ACCOUNT_SETUPS)
def escapes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fixture]:
    shards = [create_mariadb_database("txc_esc") for _ in range(2)]
    other = create_mariadb_database("txc_esc_other")
    with direct(other) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE secret (s VARCHAR(40))")
        cur.execute("INSERT INTO secret VALUES (%s)", (SECRET,))
    port = free_port()
    config: dict[str, Any] = proxy_config(
        port, {"ds0": shards[0], "ds1": shards[1]}, {"items": mod_table("id", 2, "items")}
    )
    config["users"] = {USER: PASSWORD, "reader": {"password": "r", "databases": {LOGICAL_DB: "read_only"}}}
    with account_setup(request.param, config) as config:  # root: the proxy's checks alone; generated: both walls
        yield from _escapes_with(config, port, shards, other, tmp_path_factory)


def _escapes_with(
    config: dict[str, Any], port: int, shards: list[str], other: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Fixture]:
    logs = tmp_path_factory.mktemp("escapes")
    directory = logs / "datadir"
    directory.mkdir()
    directory.chmod(0o777)  # the server could write here: an escape would leave a file
    proc = start_proxy(config, logs)
    proxy = Proxy(port, shards, proc, config)
    with proxy.connect() as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE plain (id INT PRIMARY KEY)")
        cur.execute("CREATE TABLE mv (s VARCHAR(40))")
        cur.execute("CREATE SEQUENCE seq NOCACHE")  # every NEXTVAL writes the sequence's row
    try:
        yield Fixture(proxy, other, shards, f"/tmp/txc_escape_{uuid.uuid4().hex}", directory)
    finally:
        proc.kill()
        for name in [*shards, other]:
            drop_mariadb_database(name)


def server_state(fx: Fixture) -> dict[str, object]:
    """What an escape could have changed: tables (with the other database's rows), routines, triggers and
    events of every database involved, and the files it could have written."""
    state: dict[str, object] = {}
    with direct(fx.other) as conn, conn.cursor() as cur:
        for db in [fx.other, *fx.shards]:
            cur.execute("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s ORDER BY 1", (db,))
            state[f"{db} tables"] = cur.fetchall()
            for kind, column in (("ROUTINES", "ROUTINE"), ("TRIGGERS", "TRIGGER"), ("EVENTS", "EVENT")):
                cur.execute(f"SELECT {column}_NAME FROM information_schema.{kind} WHERE {column}_SCHEMA = %s", (db,))
                state[f"{db} {kind}"] = cur.fetchall()
        cur.execute("SELECT s FROM secret")
        state["secret rows"] = cur.fetchall()
        cur.execute("SELECT s FROM `%s`.mv" % fx.shards[0])  # noqa: UP031 - a name, not a value
        state["mv rows"] = cur.fetchall()
        cur.execute("SELECT next_not_cached_value FROM `%s`.seq" % fx.shards[0])  # noqa: UP031 - a name
        state["sequence"] = cur.fetchall()
        cur.execute("SELECT LOAD_FILE(%s) IS NOT NULL", (fx.file,))
        state["file via server"] = cur.fetchall()
    state["file"] = os.path.exists(fx.file)
    state["dir"] = sorted(os.listdir(fx.dir))
    return state


@pytest.mark.parametrize("case", CORPUS, ids=[c.kind for c in CORPUS])
def test_escape_is_refused_and_nothing_changed_on_the_server(escapes: Fixture, case: Escape) -> None:
    fx = escapes
    before = server_state(fx)
    sql = case.sql.format(other=fx.other, file=fx.file, dir=fx.dir)
    password = PASSWORD if case.user == USER else "r"
    flags = pymysql.constants.CLIENT.MULTI_STATEMENTS if case.multi else 0
    with fx.proxy.connect(user=case.user, password=password, client_flag=flags) as conn, conn.cursor() as cur:
        for statement in case.setup:
            cur.execute(statement)
        with pytest.raises(pymysql.err.MySQLError) as info:
            cur.execute(sql)
            rows = [cur.fetchall()]
            while cur.nextset():
                rows.append(cur.fetchall())
            pytest.fail(f"not refused; returned {rows!r}")
        code, message = info.value.args[0], str(info.value.args[1])
        assert code == case.code, message
        assert SECRET not in message
        cur.execute("SELECT 1")  # the session is still usable after the refusal
        assert cur.fetchall() == ((1,),)
    assert server_state(fx) == before


def test_a_client_in_a_dangerous_character_set_is_refused_at_login(escapes: Fixture) -> None:
    with pytest.raises(pymysql.err.MySQLError) as info:
        fx = escapes
        fx.proxy.connect(charset="gbk")
    assert info.value.args[0] == 1235
    assert "gbk" in str(info.value.args[1])


@pytest.mark.parametrize(
    ("setup", "sql", "expected"),
    [
        ((), "SELECT 1 /*! + 1 */", ((2,),)),
        ((), "SELECT 1 /*!99999 + 1 */", ((1,),)),  # a later version's comment is skipped
        ((), "SELECT 1 /*!50701 + 1 */", ((1,),)),  # MySQL 5.7+ only: MariaDB skips it
        ((), "SELECT 1 /*M!050701 + 1 */", ((2,),)),  # ... unless marked M!
        ((), "SELECT 1 /*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/", ((1,),)),
        ((), "SELECT /*+ MAX_EXECUTION_TIME(1000) */ 1", ((1,),)),
        ((), "/*!40101 SET NAMES utf8mb4 */", None),
        (("SET sql_mode = 'NO_BACKSLASH_ESCAPES'",), "SELECT 'a\\' AS v", (("a\\",),)),
        (("SET sql_mode = 'ANSI_QUOTES'",), 'SELECT "id" FROM "plain" WHERE "id" = 1', ()),
        (("SET sql_mode = 'ANSI_QUOTES'",), "SELECT 'str' AS v", (("str",),)),
    ],
)
def test_the_same_readings_work_on_the_users_own_database(
    escapes: Fixture, setup: tuple[str, ...], sql: str, expected: Any
) -> None:
    with escapes.proxy.connect() as conn, conn.cursor() as cur:
        for statement in setup:
            cur.execute(statement)
        cur.execute(sql)
        if expected is not None:
            assert cur.fetchall() == expected
