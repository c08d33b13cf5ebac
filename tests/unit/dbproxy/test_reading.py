"""Reading statements as MariaDB 10.11 does: executable comments, the session's sql_mode, the cross-check of
sqlglot's tokens, and what the plan cache keys on."""

from __future__ import annotations

import pytest

from dbproxy.config import parse_config
from dbproxy.errors import NotSupported, ParseError, ProxyError
from dbproxy.plan_cache import PlanCache
from dbproxy.planner.planner import Planner
from dbproxy.router.dialects import DEFAULT_READING, Reading, check_client_charset, reading_of_sql_mode
from dbproxy.router.physical_names import BackendAccounts, PhysicalNames
from dbproxy.router.reading import read_text, verify_tokens
from dbproxy.router.schema import LogicalSchema
from dbproxy.router.session_functions import slot_values, substitute, with_slots
from dbproxy.router.template import Template
from dbproxy.router.tokens import tokenize
from tests.unit.dbproxy.test_router import CONFIG

NBE = Reading(no_backslash_escapes=True)
ANSI = Reading(ansi_quotes=True)


def read(sql: str, reading: Reading = DEFAULT_READING) -> str:
    text = read_text(sql, reading)
    verify_tokens(text, tokenize(text.text, reading))
    return " ".join(text.text.split())


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1 /*! + 1 */", "SELECT 1 + 1"),
        ("SELECT 1 /*M! + 1 */", "SELECT 1 + 1"),
        ("SELECT 1 /*!40101 + 1 */", "SELECT 1 + 1"),
        ("SELECT 1 /*!101100 + 1 */", "SELECT 1 + 1"),  # six digits: the server's own version runs
        ("SELECT 1 /*!101101 + 1 */", "SELECT 1"),  # a later version is skipped
        ("SELECT 1 /*!50701 + 1 */", "SELECT 1"),  # MySQL 5.7+ only
        ("SELECT 1 /*M!050701 + 1 */", "SELECT 1 + 1"),  # ... unless marked as MariaDB's
        ("SELECT 1 /*!1234 + 1 */", "SELECT 1 1234 + 1"),  # four digits are no version: content
        ("SELECT 1 /*!99999 /* nested */ + 1 */ , 2", "SELECT 1 , 2"),  # a skipped one may hold one comment
        ("SELECT /*!'*/' AS s */", "SELECT '*/' AS s"),  # a string inside runs as a string
        ("SELECT 1 /* plain, kept */", "SELECT 1 /* plain, kept */"),
        ("SELECT 1 /*traceparent='00-aa-bb-01'*/", "SELECT 1 /*traceparent='00-aa-bb-01'*/"),
        ("SELECT /*+ MAX_EXECUTION_TIME(1) */ 1", "SELECT /*+ MAX_EXECUTION_TIME(1) */ 1"),
        ("SELECT 1 --1", "SELECT 1 --1"),  # minus minus one, not a comment
        ("SELECT 1 -- c\n, 2", "SELECT 1 -- c , 2"),
    ],
)
def test_executable_comments_are_read_as_mariadb_reads_them(sql: str, expected: str) -> None:
    assert read(sql) == expected


def test_the_expanded_text_keeps_the_offsets_of_the_original() -> None:
    sql = "SELECT 1 /*!40101 , 2 */ FROM t"
    assert len(read_text(sql, DEFAULT_READING).text) == len(sql)


@pytest.mark.parametrize(
    ("sql", "error"),
    [
        ("SELECT 1 /*! /* x */ + 1 */", NotSupported),  # a comment inside an executed one
        ("SELECT 1 /*! + 1", ParseError),  # never closed
        ("SELECT 1 /* open", ParseError),
        ("SELECT 'open", ParseError),
    ],
)
def test_unreadable_comments_and_literals_are_refused(sql: str, error: type[ProxyError]) -> None:
    with pytest.raises(error):
        read(sql)


def test_no_backslash_escapes_ends_a_string_at_the_backslash_quote() -> None:
    sql = "SELECT 'x\\' , (SELECT 1) , ' AS a -- '"
    default = tokenize(sql)
    nbe = tokenize(sql, NBE)
    assert [t.token_type.name for t in default][:2] == ["SELECT", "STRING"] and len(default) == 4
    assert any(t.text.upper() == "SELECT" for t in nbe[1:])  # the subquery is code under the mode
    read(sql, NBE)


def test_ansi_quotes_make_double_quotes_names() -> None:
    assert [t.token_type.name for t in tokenize('"a"', ANSI)] == ["IDENTIFIER"]
    assert [t.token_type.name for t in tokenize('"a"')] == ["STRING"]


def test_a_reading_the_model_and_sqlglot_disagree_on_is_refused() -> None:
    text = read_text("SELECT 'a\\' , 1 -- '", NBE)  # MariaDB (NBE): a string, a comma, 1, a comment
    with pytest.raises(ParseError, match="reads differently"):
        verify_tokens(text, tokenize(text.text))  # sqlglot's default reading: one string to the end


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        ("", DEFAULT_READING),
        ("STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES", Reading(no_backslash_escapes=True)),
        ("REAL_AS_FLOAT,PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ANSI", Reading(True, False, True)),
    ],
)
def test_sql_mode_decides_the_reading(mode: str, expected: Reading) -> None:
    assert reading_of_sql_mode(mode) == expected


def test_oracle_mode_and_dangerous_character_sets_are_refused() -> None:
    with pytest.raises(NotSupported, match="ORACLE"):
        reading_of_sql_mode("PIPES_AS_CONCAT,ANSI_QUOTES,IGNORE_SPACE,ORACLE")
    for name in ("gbk", "'big5'", "sjis_bin", "cp932"):
        with pytest.raises(NotSupported, match="0x5c"):
            check_client_charset(name)
    check_client_charset("utf8mb4")
    check_client_charset("latin1")


def test_the_plan_cache_keys_plans_by_reading() -> None:
    cache = PlanCache(Planner(LogicalSchema(parse_config(CONFIG))))
    sql = 'SELECT "id" FROM u'
    default = cache.get(sql, "app")
    ansi = cache.get(sql, "app", ANSI)
    assert default is not ansi
    assert cache.peek(sql, "app", ANSI) is ansi and cache.peek(sql, "app") is default


def test_session_functions_become_values_and_slots() -> None:
    sql = "SELECT DATABASE(), CONCAT(USER(), '!') AS u, CONNECTION_ID() FROM t WHERE db = SCHEMA()"
    text = substitute(sql, tokenize(sql), "app")
    assert text == (
        "SELECT 'app' AS `DATABASE()`, CONCAT(__dbp_user__, '!') AS u, __dbp_conn__ AS `CONNECTION_ID()` "
        "FROM t WHERE db = 'app'"
    )
    template = with_slots(Template.literal(text))
    rendered = template.render((), slot_values("app", "10.0.0.7", 42))
    assert "'app@10.0.0.7'" in rendered and "42 AS `CONNECTION_ID()`" in rendered
    assert substitute("SELECT t.user() FROM t", tokenize("SELECT t.user() FROM t"), "app") is None


def test_the_reserved_slot_prefix_cannot_be_written_by_clients() -> None:
    planner = Planner(LogicalSchema(parse_config(CONFIG)))
    with pytest.raises(NotSupported, match="__dbp_"):
        planner.plan("SELECT '__dbp_user__ , 1'", "app")


def test_physical_names_in_column_definitions_and_errors_become_logical() -> None:
    names = PhysicalNames({b"shop_0": b"shop"}, {b"orders_1": b"orders"})
    column = b"\x03def\x06shop_0\x01o\x08orders_1\x02id\x02id" + b"\x0c" + b"\x00" * 12
    assert names.column_definition(column) == b"\x03def\x04shop\x01o\x06orders\x02id\x02id" + b"\x0c" + b"\x00" * 12
    assert names.column_definition(b"\x03def\x00\x00\x00\x01?\x00\x0c" + b"\x00" * 12) is None
    message = "Table 'shop_0.orders_1' doesn't exist; shop_01 stays"
    assert names.error_message(message) == "Table 'shop.orders' doesn't exist; shop_01 stays"


def test_a_backend_account_in_an_error_becomes_the_clients_user() -> None:
    names = PhysicalNames({b"shop_0": b"shop"}, {}, BackendAccounts(frozenset({"txc_app", "dbproxy"})))
    message = "INSERT command denied to user 'txc_app'@'%' for table `shop_0`.`seq`"
    expected = "INSERT command denied to user 'app'@'10.0.0.7' for table `shop`.`seq`"
    assert names.error_message(message, ("app", "10.0.0.7")) == expected
    payload = b"\xff\x8e\x04#42000" + message.encode()
    buf = bytearray(bytes((len(payload), 0, 0, 1)) + payload)
    end = names.rewrite_error(buf, 0, len(buf), ("app", "10.0.0.7"))
    assert bytes(buf[13:end]) == expected.encode()  # header, 0xff, code, #sqlstate
    assert names.error_message("Access denied for user 'txc_appx'@'%'", ("app", "h")) == (
        "Access denied for user 'txc_appx'@'%'"  # another name, not an account of the proxy's
    )


def test_pipes_as_concat_is_refused_only_where_the_proxy_rewrites_the_statement() -> None:
    planner = Planner(LogicalSchema(parse_config(CONFIG)))
    pipes = Reading(pipes_as_concat=True)
    assert planner.plan("SELECT a || b FROM plain", "app", pipes).targets  # forwarded as written
    with pytest.raises(NotSupported, match="PIPES_AS_CONCAT"):
        planner.plan("SELECT a || b FROM t", "app", pipes)  # sharded: printed per node from the tree


def test_a_relayed_column_definition_is_rewritten_in_place_and_remembered() -> None:
    names = PhysicalNames({b"shop_0": b"shop"}, {})
    column = b"\x03def\x06shop_0\x01o\x01o\x02id\x02id" + b"\x0c" + b"\x00" * 12
    packet = bytes((len(column), 0, 0, 2)) + column
    for _ in range(2):  # the second time from the cache
        buf = bytearray(packet + b"rest")
        end = names.rewrite_column(buf, 0, len(packet))
        assert bytes(buf[:end]) == bytes((len(column) - 2, 0, 0, 2)) + column.replace(b"\x06shop_0", b"\x04shop")
        assert bytes(buf[end:]) == b"rest"


def test_executable_comments_are_gated_on_the_version_the_proxy_presents() -> None:
    from dbproxy.frontend.handshake import SERVER_VERSION
    from dbproxy.router.dialects import SERVER_VERSION_ID

    major, minor, patch = SERVER_VERSION.split("-")[1].split(".")
    assert int(major) * 10000 + int(minor) * 100 + int(patch) == SERVER_VERSION_ID
