"""Merges answer as MariaDB would or refuse: strings that are accented, differ in case or in trailing spaces,
sharded by mod, hash and range, give through the proxy what one unsharded copy gives, under each supported
collation; under another collation the proxy answers the same or refuses with 1235 naming it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pymysql
import pytest

from tests.integration.proxy.conftest import PASSWORD, USER, direct, proxy_config, start_proxy
from tests.support import ChildProcess, free_port, mariadb_databases

ALGORITHMS = ("mod", "hash", "range")
# table suffix -> (character set, collation); the last is one dbproxy does not implement
COLLATIONS = {
    "general": ("utf8mb4", "utf8mb4_general_ci"),
    "unicode": ("utf8mb4", "utf8mb4_unicode_ci"),
    "bin": ("utf8mb4", "utf8mb4_bin"),
    "latin1": ("latin1", "latin1_swedish_ci"),
    "u520": ("utf8mb4", "utf8mb4_unicode_520_ci"),
}
SUPPORTED = {"general", "unicode", "bin", "latin1"}
WORDS = [
    "e", "é", "E", "É", "e ", "e  ", "ë", "è", "a", "A", "á", "à", "ä", "Ä", "å", "Å", "æ", "Æ", "ae", "o", "ö",
    "Ö", "ø", "œ", "oe", "ß", "ss", "s", "S", "z", "Z", "y", "ü", "u", "U", "i", "I", "\u0131", "ab", "a b", "a\t", "",
    " ", "x y ", "x y", "Straße", "strasse", "STRASSE ", "café", "cafe", "CAFE ", "😀", "😃",
]  # fmt: skip
ROWS = 90
QUERIES = [
    "SELECT DISTINCT s FROM {t} ORDER BY s",
    "SELECT s, COUNT(*) FROM {t} GROUP BY s ORDER BY s",
    "SELECT grp, s, COUNT(*) FROM {t} GROUP BY grp, s ORDER BY grp, s",
    "SELECT MIN(s), MAX(s), COUNT(s) FROM {t}",
    "SELECT grp, MIN(s), MAX(s) FROM {t} GROUP BY grp ORDER BY grp",
    "SELECT s, id FROM {t} ORDER BY s, id",
    "SELECT s, id FROM {t} ORDER BY s DESC, id LIMIT 7",
    "SELECT DISTINCT grp, s FROM {t} ORDER BY grp, s",
    "SELECT id, s FROM {t} ORDER BY s, id LIMIT 5 OFFSET 10",
]


def _schema(table: str, suffix: str) -> str:
    charset, collation = COLLATIONS[suffix]
    return (
        f"CREATE TABLE {table} (id INT PRIMARY KEY, grp INT NOT NULL, "
        f"s VARCHAR(20) CHARACTER SET {charset} COLLATE {collation} NULL)"
    )


def _rows(suffix: str) -> list[tuple[Any, ...]]:
    charset = COLLATIONS[suffix][0]
    words = [w for w in WORDS if charset == "utf8mb4" or _fits_latin1(w)]
    return [(i, i % 3, None if i % 23 == 0 else words[(i * 7) % len(words)]) for i in range(1, ROWS + 1)]


def _fits_latin1(word: str) -> bool:
    try:
        word.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


@pytest.fixture(scope="module")
def collated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    with mariadb_databases("txc_coll", 3) as dbs:  # two backends + the unsharded reference
        proc: ChildProcess | None = None
        try:
            port = free_port()
            config = proxy_config(port, {"ds0": dbs[0], "ds1": dbs[1]}, {})
            config["databases"] = {
                f"by_{alg}": {
                    "default_backend": "ds0",
                    "sharded_tables": {
                        f"t_{suffix}": {
                            "column": "id",
                            "algorithm": alg,
                            "nodes": [f"ds0.{alg}_{suffix}_0", f"ds1.{alg}_{suffix}_1"],
                            **({"boundaries": [ROWS // 2]} if alg == "range" else {}),
                        }
                        for suffix in COLLATIONS
                    },
                }
                for alg in ALGORITHMS
            }
            proc = start_proxy(config, tmp_path_factory.mktemp("coll"))
            for alg in ALGORITHMS:
                with _proxy(port, f"by_{alg}") as conn, conn.cursor() as cur:
                    for suffix in COLLATIONS:
                        cur.execute(_schema(f"t_{suffix}", suffix))
                        cur.executemany(f"INSERT INTO t_{suffix} (id, grp, s) VALUES (%s, %s, %s)", _rows(suffix))
            with direct(dbs[2]) as conn, conn.cursor() as cur:
                for suffix in COLLATIONS:
                    cur.execute(_schema(f"t_{suffix}", suffix))
                    cur.executemany(f"INSERT INTO t_{suffix} (id, grp, s) VALUES (%s, %s, %s)", _rows(suffix))
            yield port, dbs[2]
        finally:
            if proc is not None:
                proc.kill()


def _proxy(port: int, database: str) -> pymysql.connections.Connection:
    return pymysql.connect(
        host="127.0.0.1", port=port, user=USER, password=PASSWORD, database=database, autocommit=True
    )


class _Same:
    """Whether two values are the same answer: strings equal under the column's collation (which of several
    equal spellings a group shows is the server's choice), everything else exactly."""

    def __init__(self, reference: pymysql.connections.Connection, suffix: str) -> None:
        self.reference = reference
        self.charset, self.collation = COLLATIONS[suffix]

    def __call__(self, want: Any, got: Any) -> bool:
        if want == got:
            return True
        if not (isinstance(want, str) and isinstance(got, str)):
            return False
        with self.reference.cursor() as cur:
            cur.execute(
                f"SELECT CONVERT(%s USING {self.charset}) COLLATE {self.collation} = CONVERT(%s USING {self.charset})",
                (want, got),
            )
            row = cur.fetchone()
        return bool(row and row[0] == 1)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_string_merges_match_an_unsharded_copy_or_refuse(collated: tuple[int, str], algorithm: str) -> None:
    port, reference = collated
    mismatches: list[str] = []
    refused: dict[str, int] = {}
    with direct(reference) as ref, _proxy(port, f"by_{algorithm}") as prx:
        for suffix in COLLATIONS:
            same = _Same(ref, suffix)
            for query in QUERIES:
                sql = query.format(t=f"t_{suffix}")
                with ref.cursor() as cur:
                    cur.execute(sql)
                    want = list(cur.fetchall())
                try:
                    with prx.cursor() as cur:
                        cur.execute(sql)
                        got = list(cur.fetchall())
                except pymysql.err.MySQLError as exc:
                    assert exc.args[0] == 1235, f"{sql}: {exc}"
                    assert COLLATIONS[suffix][1] in exc.args[1], exc.args[1]  # the refusal names it
                    refused[suffix] = refused.get(suffix, 0) + 1
                    continue
                equal = len(want) == len(got) and all(
                    len(w) == len(g) and all(same(a, b) for a, b in zip(w, g, strict=True))
                    for w, g in zip(want, got, strict=True)
                )
                if not equal:
                    mismatches.append(f"{sql}\n  want {want[:8]}\n  got  {got[:8]}")
    assert not mismatches, f"{len(mismatches)} differ:\n" + "\n".join(mismatches[:4])
    assert not set(refused) & SUPPORTED, refused  # supported collations are merged, never refused
    assert refused.get("u520") == len(QUERIES)  # every query here compares by the unsupported collation


LITERAL_AND_ROLLUP_QUERIES = [
    "SELECT grp, COUNT(*), MIN(s), MAX(s) FROM t_general GROUP BY grp WITH ROLLUP",
    "SELECT grp, s, COUNT(*) FROM t_bin GROUP BY grp, s WITH ROLLUP",
    "SELECT grp, SUM(id), AVG(id), COUNT(s) FROM t_unicode GROUP BY grp WITH ROLLUP LIMIT 3",
    "SELECT id FROM t_general WHERE grp = 0x01 ORDER BY id",  # a hex number, not the string x'01'
    "SELECT id FROM t_general WHERE grp = b'10' ORDER BY id",
    "SELECT id, s FROM t_general WHERE s = 0x61 ORDER BY id",  # as a string: 'a' under the collation
    "SELECT id FROM t_general WHERE s = _utf8mb4 0x61 ORDER BY id",  # _charset introducers as written
    "SELECT id FROM t_general WHERE s = _binary'e' ORDER BY id",  # a binary string introducer
    "SELECT id FROM t_general WHERE s = _utf8mb4'e' COLLATE utf8mb4_bin ORDER BY id",
    "SELECT id FROM t_latin1 WHERE s = _latin1 x'E9' ORDER BY id",  # 'é' in latin1
    "SELECT id, s FROM t_general WHERE s > _latin1'd' ORDER BY s, id LIMIT 9",
    "SELECT id FROM t_general WHERE s = N'e' ORDER BY id",
    "SELECT id FROM t_general WHERE s REGEXP '^a' ORDER BY id",
    "SELECT id FROM t_general WHERE s NOT RLIKE 'e' ORDER BY id LIMIT 12",
    "SELECT s REGEXP '^s' AS r, COUNT(*) FROM t_general GROUP BY r ORDER BY r",
]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_rollup_hex_bit_literals_and_regexp_match_an_unsharded_copy(collated: tuple[int, str], algorithm: str) -> None:
    port, reference = collated
    mismatches = []
    with direct(reference) as ref, _proxy(port, f"by_{algorithm}") as prx:
        for sql in LITERAL_AND_ROLLUP_QUERIES:
            same = _Same(ref, sql.split(" FROM t_")[1].split()[0])
            with ref.cursor() as rc, prx.cursor() as pc:
                rc.execute(sql)
                pc.execute(sql)
                want, got = list(rc.fetchall()), list(pc.fetchall())
            equal = len(want) == len(got) and all(
                len(w) == len(g) and all(same(a, b) for a, b in zip(w, g, strict=True))
                for w, g in zip(want, got, strict=True)
            )
            if not equal:
                mismatches.append(f"{sql}\n  want {want[:8]}\n  got  {got[:8]}")
        with pytest.raises(pymysql.err.MySQLError) as refused, prx.cursor() as pc:
            pc.execute("SELECT grp, COUNT(*) FROM t_general GROUP BY grp WITH ROLLUP ORDER BY grp")
        assert refused.value.args[0] == 1221  # as MariaDB refuses it
    assert not mismatches, f"{len(mismatches)} differ:\n" + "\n".join(mismatches[:4])
