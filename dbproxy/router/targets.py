"""What a plan is made of: the statement as each node runs it (``Target``) and the shard-key condition that
picks the nodes of one execution from its parameters (``Cond`` over ``Ref`` values)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dbproxy.protocol.params import ParamValue
from dbproxy.router.rules import ShardRule
from dbproxy.router.template import Template


# A value in a shard condition: a parameter index or a constant.
@dataclass(frozen=True, slots=True)
class Ref:
    param: int | None = None
    value: object = None

    def get(self, params: Sequence[ParamValue]) -> object:
        return params[self.param] if self.param is not None else self.value


@dataclass(frozen=True, slots=True)
class Cond:
    """A shard-key condition tree: op is eq, in, range, and, or."""

    op: str
    refs: tuple[Ref, ...] = ()
    children: tuple[Cond, ...] = ()
    low_incl: bool = True
    high_incl: bool = True

    def nodes(self, rule: ShardRule, params: Sequence[ParamValue]) -> set[int] | None:
        """Node indexes the condition can match; None means all nodes."""
        if self.op == "eq":
            node = rule.node_of(self.refs[0].get(params))
            return None if node is None else {node}
        if self.op == "in":
            out: set[int] = set()
            for ref in self.refs:
                node = rule.node_of(ref.get(params))
                if node is None:
                    return None
                out.add(node)
            return out
        if self.op == "range":
            low, high = self.refs
            return rule.nodes_in_range(low.get(params), self.low_incl, high.get(params), self.high_incl)
        if self.op == "and":
            ranges = [c for c in self.children if c.op == "range"]
            if len(ranges) > 1:  # id > a AND id < b: one range, or neither bound alone narrows a mod/hash rule
                others = [c for c in self.children if c.op != "range"]
                return Cond("and", children=(*others, _intersect(ranges, params))).nodes(rule, params)
        results = [c.nodes(rule, params) for c in self.children]
        if self.op == "and":
            known: list[set[int]] = [r for r in results if r is not None]
            if not known:
                return None
            acc: set[int] = known[0]
            for other in known[1:]:
                acc = acc & other
            return acc
        # or
        if any(r is None for r in results):
            return None
        union: set[int] = set()
        for r in results:
            union |= r or set()
        return union


def _intersect(ranges: list[Cond], params: Sequence[ParamValue]) -> Cond:
    low: Any = None
    low_incl = True
    high: Any = None
    high_incl = True
    for r in ranges:
        lo: Any = r.refs[0].get(params)
        hi: Any = r.refs[1].get(params)
        try:
            if lo is not None and (low is None or lo > low or (lo == low and not r.low_incl)):
                low, low_incl = lo, r.low_incl
            if hi is not None and (high is None or hi < high or (hi == high and not r.high_incl)):
                high, high_incl = hi, r.high_incl
        except TypeError:  # bounds of different kinds (text vs number): do not narrow
            return Cond("range", (Ref(), Ref()))
    return Cond("range", (Ref(value=low), Ref(value=high)), low_incl=low_incl, high_incl=high_incl)


@dataclass(frozen=True)
class Target:
    backend: str
    template: Template  # the statement as this node runs it (tables renamed)
    merge_template: Template | None = None  # the rewritten statement when results from several nodes merge
    prepared_sql: str = field(init=False)  # what a prepared statement is prepared as on the backend
    relayable: bool = field(init=False)  # parameters in client order, so raw parameter bytes can be forwarded

    def __post_init__(self) -> None:
        object.__setattr__(self, "prepared_sql", self.template.with_placeholders())
        slots = self.template.slots
        object.__setattr__(
            self, "relayable", all(isinstance(s, int) for s in slots) and list(slots) == list(range(len(slots)))
        )
