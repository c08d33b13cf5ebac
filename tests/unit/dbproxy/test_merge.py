"""Merging shard results: k-way ORDER BY, LIMIT/OFFSET, aggregates, GROUP BY, DISTINCT."""

from __future__ import annotations

from dbproxy.merge import Item, MergeSpec, merge_results
from dbproxy.protocol.constants import ColumnType
from dbproxy.protocol.packets import Column

INT = Column("x", ColumnType.LONG)
TXT = Column("s", ColumnType.VAR_STRING)
DEC = Column("d", ColumnType.NEWDECIMAL, decimals=2)


def b(*values: object) -> list[bytes | None]:
    return [None if v is None else str(v).encode() for v in values]


def test_k_way_merge_with_offset_and_limit() -> None:
    spec = MergeSpec((Item("plain", "x", 0),), 1, False, order=((0, False),), limit=3, offset=2)
    shards = [[b(1), b(4), b(6)], [b(2), b(3), b(9)]]
    _, rows = merge_results(spec, [INT], shards, ())
    assert rows == [b(3), b(4), b(6)]


def test_nulls_sort_first_ascending_and_text_case_insensitively() -> None:
    spec = MergeSpec((Item("plain", "s", 0),), 1, False, order=((0, False),))
    _, rows = merge_results(spec, [TXT], [[b(None), b("b")], [b("A"), b("C")]], ())
    assert rows == [b(None), b("A"), b("b"), b("C")]


def test_descending_and_hidden_order_column() -> None:
    spec = MergeSpec((Item("plain", "s", 0), Item("plain", "x", 1)), 1, False, order=((1, True),))
    _, rows = merge_results(spec, [TXT, INT], [[b("a", 9), b("b", 1)], [b("c", 5)]], ())
    assert rows == [b("a"), b("c"), b("b")]


def test_aggregates_and_avg_as_sum_over_count() -> None:
    spec = MergeSpec(
        (Item("count", "n", 0), Item("sum", "s", 1), Item("min", "lo", 2), Item("max", "hi", 3), Item("avg", "a", 4)),
        5,
        True,
    )
    cols = [INT, DEC, INT, INT, DEC, INT]
    shards = [[b(2, "3.50", 1, 7, "3.50", 2)], [b(1, None, None, None, None, 0)], [b(3, "1.25", -4, 2, "1.25", 3)]]
    out_cols, rows = merge_results(spec, cols, shards, ())
    assert rows == [b(6, "4.75", -4, 7, "0.950000")]
    assert out_cols[4].type == ColumnType.NEWDECIMAL and out_cols[4].decimals == 6


def test_group_by_merges_groups_and_orders_after() -> None:
    spec = MergeSpec(
        (Item("plain", "k", 0), Item("count", "n", 1)), 2, True, group=(0,), order=((1, True), (0, False)), limit=2
    )
    shards = [[b("a", 1), b("b", 5)], [b("a", 3), b("c", 4)]]
    _, rows = merge_results(spec, [TXT, INT], shards, ())
    assert rows == [b("b", 5), b("a", 4)]


def test_distinct_keeps_first_of_each_value() -> None:
    spec = MergeSpec((Item("plain", "x", 0),), 1, False, order=((0, False),), distinct=True, limit=3)
    _, rows = merge_results(spec, [INT], [[b(1), b(2), b(5)], [b(1), b(2), b(3)]], ())
    assert rows == [b(1), b(2), b(3)]


def test_limit_from_parameters() -> None:
    spec = MergeSpec((Item("plain", "x", 0),), 1, False, order=((0, False),), limit_param=0, offset_param=1)
    _, rows = merge_results(spec, [INT], [[b(1), b(3)], [b(2)]], (1, 1))
    assert rows == [b(2)]


def test_select_star_resolves_columns_at_run_time() -> None:
    spec = MergeSpec((Item("plain", "k", 0),), 0, False, order=((0, True),), star_hidden=1)
    cols = [Column("a", ColumnType.LONG), Column("b", ColumnType.LONG), Column("k", ColumnType.LONG)]
    out_cols, rows = merge_results(spec, cols, [[b(1, 2, 1)], [b(3, 4, 2)]], ())
    assert [c.name for c in out_cols] == ["a", "b"]
    assert rows == [b(3, 4), b(1, 2)]
