"""Sharding algorithms: which node holds a shard-key value, which nodes a range can touch."""

from __future__ import annotations

import bisect
import zlib
from decimal import Decimal

from dbproxy.config import ShardedTable


def _as_int(value: object) -> int | None:
    """The integer a shard-key value compares equal to in MySQL, or None when it is not integral."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float | Decimal):
        return int(value) if value == int(value) else None
    if isinstance(value, bytes | str):
        text = value.decode() if isinstance(value, bytes) else value
        try:
            return int(text.strip())
        except ValueError:
            try:
                d = Decimal(text.strip())
            except ArithmeticError:
                return None
            return int(d) if d.is_finite() and d == int(d) else None
    return None


class ShardRule:
    """Maps shard-key values of one sharded table to node indexes."""

    def __init__(self, table: ShardedTable) -> None:
        self.algorithm = table.algorithm
        self.count = len(table.nodes)
        self.boundaries = list(table.boundaries)
        self.signature = (table.algorithm, tuple(table.boundaries), tuple(n.backend for n in table.nodes))

    def node_of(self, value: object) -> int | None:
        """The node holding ``value``; None when the value cannot be placed (the caller scatters or refuses)."""
        if value is None:
            return None
        if self.algorithm == "hash":
            as_int = _as_int(value)
            if as_int is not None:
                key = str(as_int).encode()
            elif isinstance(value, bytes):
                key = value
            else:
                key = str(value).encode()
            return zlib.crc32(key) % self.count
        as_int = _as_int(value)
        if as_int is None:
            return None
        if self.algorithm == "mod":
            return as_int % self.count
        return bisect.bisect_right(self.boundaries, as_int)

    def nodes_in_range(self, low: object, low_incl: bool, high: object, high_incl: bool) -> set[int] | None:
        """Nodes a range of keys can touch; None means all of them."""
        lo = _as_int(low) if low is not None else None
        hi = _as_int(high) if high is not None else None
        if (low is not None and lo is None) or (high is not None and hi is None):
            return None  # non-integral bounds: be safe
        if lo is not None and not low_incl:
            lo += 1
        if hi is not None and not high_incl:
            hi -= 1
        if lo is not None and hi is not None and lo > hi:
            return set()
        if self.algorithm == "range":
            first = 0 if lo is None else bisect.bisect_right(self.boundaries, lo)
            last = self.count - 1 if hi is None else bisect.bisect_right(self.boundaries, hi)
            return set(range(first, last + 1))
        if self.algorithm == "mod" and lo is not None and hi is not None and hi - lo + 1 < self.count:
            return {v % self.count for v in range(lo, hi + 1)}
        return None
