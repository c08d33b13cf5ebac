"""Merging results of one statement run on several shards: ORDER BY (k-way), LIMIT/OFFSET, aggregates,
GROUP BY and DISTINCT. Only what the planner proved mergeable reaches here."""

from __future__ import annotations

import dataclasses
import functools
import heapq
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from dbproxy.collations import collation_name, sort_key
from dbproxy.errors import NotSupported
from dbproxy.protocol.charsets import MAX_BYTES, can_convert, charset_of
from dbproxy.protocol.charsets import convert as convert_text
from dbproxy.protocol.constants import INTEGER_TYPES, ColumnType
from dbproxy.protocol.packets import Column

Row = list[bytes | None]


@dataclass(frozen=True, slots=True)
class Item:
    """One logical output column: ``kind`` is plain, count, sum, min, max or avg (avg reads col and col+1)."""

    kind: str
    name: str
    col: int


@dataclass(frozen=True, slots=True)
class MergeSpec:
    items: tuple[Item, ...]
    visible: int  # items past this index are hidden helpers (ORDER BY / GROUP BY expressions not selected)
    aggregate: bool
    group: tuple[int, ...] = ()  # item indexes forming the group key
    order: tuple[tuple[int, bool], ...] = ()  # (item index, descending)
    distinct: bool = False
    limit: int | None = None
    limit_param: int | None = None
    offset: int = 0
    offset_param: int | None = None
    star_hidden: int | None = None  # SELECT *: items holds only the hidden helpers, the rest is known at run time
    rollup: bool = False  # GROUP BY ... WITH ROLLUP: super-aggregate rows for each prefix of the group

    def resolve(self, columns: list[Column]) -> MergeSpec:
        """For SELECT *: the concrete spec once the shard result's columns are known."""
        if self.star_hidden is None:
            return self
        shown = len(columns) - self.star_hidden
        items = [Item("plain", columns[i].name, i) for i in range(shown)]
        items += [Item(it.kind, it.name, shown + j) for j, it in enumerate(self.items)]
        return MergeSpec(
            tuple(items),
            shown,
            self.aggregate,
            (),
            tuple((shown + i, desc) for i, desc in self.order),
            self.distinct,
            self.limit,
            self.limit_param,
            self.offset,
            self.offset_param,
        )

    @property
    def concatenation(self) -> bool:
        """The merged result is just every shard's rows one after another: they can be relayed undecoded."""
        return not (
            self.aggregate
            or self.order
            or self.distinct
            or self.offset
            or self.offset_param is not None
            or self.limit is not None
            or self.limit_param is not None
            or self.star_hidden
        )

    def bounds(self, params: Sequence[Any]) -> tuple[int | None, int]:
        limit = int(params[self.limit_param]) if self.limit_param is not None else self.limit
        offset = int(params[self.offset_param]) if self.offset_param is not None else self.offset
        return limit, offset


_STRING_TYPES = frozenset(
    {
        ColumnType.VARCHAR,
        ColumnType.VAR_STRING,
        ColumnType.STRING,
        ColumnType.TINY_BLOB,
        ColumnType.MEDIUM_BLOB,
        ColumnType.LONG_BLOB,
        ColumnType.BLOB,
        ColumnType.ENUM,
        ColumnType.SET,
        ColumnType.JSON,
    }
)
_ENUM_OR_SET_FLAGS = 0x100 | 0x800  # MariaDB orders these by their index, not by their text


_SET_STATEMENT = re.compile(r"\s*SET\s+STATEMENT\s+", re.IGNORECASE)


def in_column_charsets(sql: str) -> str:
    """``sql`` run so that its result comes in each column's own character set, with metadata naming each
    column's collation (with a character set for results the server names that set's default collation)."""
    prefix = _SET_STATEMENT.match(sql)
    if prefix is not None:  # the client's own SET STATEMENT ... FOR: one more variable in it
        return sql[: prefix.end()] + "character_set_results=NULL, " + sql[prefix.end() :]
    return "SET STATEMENT character_set_results=NULL FOR " + sql


def _decimal(value: bytes) -> Decimal:
    return Decimal(value.decode())


def converter(col: Column) -> Any:
    """The function turning this column's text values into Python values that sort and compare the way MySQL
    does; chosen once per column, not per value. Text compares by the column's collation (its id in the
    metadata of a result fetched with character_set_results=NULL); a collation dbproxy does not implement is
    refused with 1235 naming it."""
    t = col.type
    if t in INTEGER_TYPES:
        return int
    if t in (ColumnType.DECIMAL, ColumnType.NEWDECIMAL):
        return _decimal
    if t in (ColumnType.FLOAT, ColumnType.DOUBLE):
        return float
    if col.binary or t not in _STRING_TYPES:
        return bytes  # binary strings; dates and times, whose text sorts as they do
    if col.flags & _ENUM_OR_SET_FLAGS:
        raise NotSupported(f"comparing the ENUM or SET column '{col.name}' across shards")
    return sort_key(col.charset)


def typed(value: bytes | None, col: Column) -> Any:
    """A Python value that sorts and compares the way MySQL does for this column (text by its collation)."""
    return None if value is None else converter(col)(value)


def _compare(a: Any, b: Any) -> int:
    if a is None or b is None:
        return (a is not None) - (b is not None)  # NULL sorts first ascending
    return (a > b) - (a < b)


def _sort_key(order: Sequence[tuple[int, bool]]) -> Any:
    """Key over typed row values; NULL sorts first ascending and last descending, as in MySQL."""
    if all(not desc for _, desc in order):
        idx = [i for i, _ in order]
        return lambda values: [(values[i] is not None, values[i]) for i in idx]

    def cmp(x: tuple[Any, ...], y: tuple[Any, ...]) -> int:
        for (i, desc), _ in zip(order, range(len(order)), strict=True):
            c = _compare(x[i], y[i])
            if c:
                return -c if desc else c
        return 0

    return functools.cmp_to_key(cmp)


def _format_number(value: Any) -> bytes:
    if isinstance(value, float):
        text = repr(value)
        return (text[:-2] if text.endswith(".0") else text).encode()
    return str(value).encode()


class _Group:
    __slots__ = ("first", "values")

    def __init__(self, first: Row, n: int) -> None:
        self.first = first
        self.values: list[Any] = [None] * n


def merge_results(
    spec: MergeSpec,
    columns: list[Column],
    shard_rows: list[list[Row]],
    params: Sequence[Any],
    client_collation: int | None = None,
) -> tuple[list[Column], list[Row]]:
    """Merge the rows each shard returned (``columns`` are the shard query's columns) into the final result.

    With ``client_collation`` the shards' rows are in each column's own character set (fetched with
    character_set_results=NULL, so the metadata names each column's collation); the merged text is then
    converted to the client's character set and the metadata says so."""
    spec = spec.resolve(columns)
    items = spec.items
    limit, offset = spec.bounds(params)
    out_columns = [_output_column(item, columns) for item in items[: spec.visible]]
    if spec.aggregate:
        rows = _with_rollup(spec, columns, shard_rows) if spec.rollup else _aggregate(spec, columns, shard_rows)
        all_columns = _all_columns(spec, columns)
        # only what ORDER BY or DISTINCT looks at is converted (a column nobody compares needs no collation)
        needed = {i for i, _ in spec.order} | (set(range(spec.visible)) if spec.distinct else set())
        convs = [converter(c) if i in needed else None for i, c in enumerate(all_columns)]
        keyed = [
            (tuple(None if f is None or v is None else f(v) for v, f in zip(r, convs, strict=True)), r) for r in rows
        ]
        if spec.order:
            key = _sort_key(spec.order)
            keyed.sort(key=lambda kr: key(kr[0]))
        stream: Iterable[tuple[tuple[Any, ...], Row]] = keyed
    else:
        stream = _ordered_stream(spec, columns, shard_rows, None if limit is None else limit + offset)
    final: list[Row] = []
    seen: set[tuple[Any, ...]] = set()
    skipped = 0
    for key_values, row in stream:
        visible = row[: spec.visible]
        if spec.distinct:
            dkey = key_values[: spec.visible]
            if dkey in seen:
                continue
            seen.add(dkey)
        if skipped < offset:
            skipped += 1
            continue
        if limit is not None and len(final) >= limit:
            break
        final.append(visible)
    if client_collation is not None:
        return _to_client(out_columns, final, client_collation)
    return out_columns, final


def _to_client(columns: list[Column], rows: list[Row], collation: int) -> tuple[list[Column], list[Row]]:
    """Text columns converted from their own character set to the client's (``collation``)."""
    target = charset_of(collation)
    if not can_convert(target):
        raise NotSupported(f"merged results for a client using {collation_name(collation)}")
    assert target is not None
    out_columns = list(columns)
    for i, col in enumerate(columns):
        if col.binary or col.type not in _STRING_TYPES or col.charset == collation:
            continue
        source = charset_of(col.charset)
        if not can_convert(source):
            raise NotSupported(f"merged text in {collation_name(col.charset)} for this client")
        assert source is not None
        per_char = col.length // MAX_BYTES.get(source, 1)
        out_columns[i] = col.recoded(collation, min(per_char * MAX_BYTES.get(target, 1), 0xFFFFFFFF))
        for row in rows:
            value = row[i]
            if value is not None:
                row[i] = convert_text(value, source, target)
    return out_columns, rows


def _all_columns(spec: MergeSpec, columns: list[Column]) -> list[Column]:
    return [_output_column(item, columns) for item in spec.items]


def _ordered_stream(
    spec: MergeSpec, columns: list[Column], shard_rows: list[list[Row]], limit: int | None
) -> Iterator[tuple[tuple[Any, ...], Row]]:
    """Rows of plain (non-aggregate) results; with ORDER BY a merge of the shards' sorted streams.

    Only the values a sort or DISTINCT looks at are converted; the others stay as the backend sent them."""
    n = len(spec.items)
    needed = {i for i, _ in spec.order} | (set(range(spec.visible)) if spec.distinct else set())
    conv = [(i, spec.items[i].col, converter(columns[spec.items[i].col])) for i in sorted(needed)]
    srcs = [item.col for item in spec.items]
    identity = srcs == list(range(len(srcs)))

    def keyed(rows: list[Row]) -> list[tuple[tuple[Any, ...], Row]]:
        out = []
        for r in rows:
            values: list[Any] = [None] * n
            for i, c, convert in conv:
                v = r[c]
                if v is not None:
                    values[i] = convert(v)
            out.append((tuple(values), r if identity else [r[c] for c in srcs]))
        return out

    streams = [keyed(rows) for rows in shard_rows]
    if not spec.order:
        for stream in streams:
            yield from stream
        return
    descending = all(desc for _, desc in spec.order)
    if descending or all(not desc for _, desc in spec.order):
        # one direction: merge ascending keys (in reverse when descending; NULLs, smallest, end up last)
        asc = _sort_key([(i, False) for i, _ in spec.order])

        def key(kr: tuple[tuple[Any, ...], Row]) -> Any:
            return asc(kr[0])
    else:
        mixed = _sort_key(spec.order)
        descending = False

        def key(kr: tuple[tuple[Any, ...], Row]) -> Any:
            return mixed(kr[0])

    if limit is not None and limit < sum(len(s) for s in streams) // 2:
        # few rows wanted: the lazy k-way merge stops as soon as it has them
        yield from heapq.merge(*streams, key=key, reverse=descending)
    else:
        # every row wanted: the shards' streams are sorted runs, which Timsort merges in linear time
        yield from sorted([kr for s in streams for kr in s], key=key, reverse=descending)


def _with_rollup(spec: MergeSpec, columns: list[Column], shard_rows: list[list[Row]]) -> list[Row]:
    """GROUP BY g1..gn WITH ROLLUP as MariaDB answers it: the groups in ascending order of the group columns,
    each run of groups sharing g1..gk followed by its total (gk+1..gn NULL), the grand total last. The totals
    are aggregated again from the shards' rows (COUNT, SUM, MIN, MAX and AVG combine from them exactly)."""
    n = len(spec.group)
    convs = [converter(columns[spec.items[g].col]) for g in spec.group]
    keyed: list[tuple[tuple[Any, ...], Row]] = []
    for level in range(n, -1, -1):
        rows = _aggregate(dataclasses.replace(spec, group=spec.group[:level]), columns, shard_rows)
        for row in rows:
            key: list[Any] = []
            for j, g in enumerate(spec.group):
                if j >= level:
                    row[g] = None
                    key.append((1,))  # a total comes after every group it sums up
                else:
                    value = row[g]
                    key.append((0, 0) if value is None else (0, 1, convs[j](value)))
            keyed.append((tuple(key), row))
    keyed.sort(key=lambda kr: kr[0])
    return [row for _, row in keyed]


def _aggregate(spec: MergeSpec, columns: list[Column], shard_rows: list[list[Row]]) -> list[Row]:
    items = spec.items
    groups: dict[tuple[Any, ...], _Group] = {}
    for rows in shard_rows:
        for r in rows:
            gkey = tuple(typed(r[items[i].col], columns[items[i].col]) for i in spec.group)
            group = groups.get(gkey)
            if group is None:
                group = groups[gkey] = _Group(r, len(items))
            acc = group.values
            for n, item in enumerate(items):
                kind = item.kind
                if kind == "plain":
                    continue
                col = columns[item.col]
                raw = r[item.col]
                if kind == "count":
                    acc[n] = (acc[n] or 0) + int(raw or 0)
                elif kind == "sum":
                    if raw is not None:
                        v = typed(raw, col) if col.type not in INTEGER_TYPES else Decimal(int(raw))
                        acc[n] = v if acc[n] is None else acc[n] + v
                elif kind in ("min", "max"):
                    if raw is not None:
                        v = typed(raw, col)
                        cur = acc[n]
                        if cur is None or (v < cur[0] if kind == "min" else v > cur[0]):
                            acc[n] = (v, raw)
                elif kind == "avg":
                    count = int(r[item.col + 1] or 0)
                    if raw is not None and count:
                        v = float(raw) if col.type in (ColumnType.FLOAT, ColumnType.DOUBLE) else Decimal(raw.decode())
                        s, c = acc[n] or (0, 0)
                        acc[n] = (s + v, c + count)
    out: list[Row] = []
    for group in groups.values():
        row: Row = []
        for n, item in enumerate(items):
            v = group.values[n]
            if item.kind == "plain":
                row.append(group.first[item.col])
            elif item.kind == "count":
                row.append(str(v or 0).encode())
            elif item.kind in ("min", "max"):
                row.append(None if v is None else v[1])
            elif item.kind == "sum":
                row.append(None if v is None else _format_number(v))
            else:  # avg
                if v is None:
                    row.append(None)
                else:
                    s, c = v
                    if isinstance(s, float):
                        row.append(_format_number(s / c))
                    else:
                        scale = min(_scale(columns[item.col]) + 4, 30)
                        row.append(str((Decimal(s) / c).quantize(Decimal(1).scaleb(-scale), ROUND_HALF_UP)).encode())
        out.append(row)
    return out


def _scale(col: Column) -> int:
    return col.decimals if col.decimals < 31 else 0


def _output_column(item: Item, columns: list[Column]) -> Column:
    col = columns[item.col]
    if item.kind == "plain":
        return col if col.name == item.name else col.renamed(item.name)
    if item.kind == "count":
        return Column(item.name, ColumnType.LONGLONG, 63, 21, 0x80, 0)  # BINARY flag, like MySQL's COUNT
    if item.kind == "avg":
        if col.type in (ColumnType.FLOAT, ColumnType.DOUBLE):
            return col.renamed(item.name, ColumnType.DOUBLE)
        return col.renamed(item.name, ColumnType.NEWDECIMAL, min(_scale(col) + 4, 30))
    if item.kind == "sum" and col.type in INTEGER_TYPES:
        return col.renamed(item.name, ColumnType.NEWDECIMAL, 0)
    return col.renamed(item.name)
