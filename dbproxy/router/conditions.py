"""Shard-key conditions: which rows of a sharded table a WHERE clause (or a join) can touch, as a condition tree
evaluated per execution with the statement's parameters."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from sqlglot import exp

from dbproxy.router.schema import ShardedInfo
from dbproxy.router.targets import Cond, Ref
from dbproxy.router.template import PARAM_PREFIX


def _aliases(ast: exp.Expr, sharded: Sequence[ShardedInfo]) -> dict[str, ShardedInfo]:
    """Names a column qualifier may use for each sharded table: its name and its alias."""
    names = {s.name.lower(): s for s in sharded}
    out: dict[str, ShardedInfo] = {}
    for t in ast.find_all(exp.Table):
        info = names.get(t.name.lower())
        if info is not None:
            out[t.name.lower()] = info
            if t.alias:
                out[t.alias.lower()] = info
    return out


def _is_key_column(node: exp.Expression, aliases: dict[str, ShardedInfo], single: ShardedInfo | None) -> bool:
    if not isinstance(node, exp.Column) or node.name.startswith(PARAM_PREFIX):
        return False
    name = node.name.lower()
    if node.table:
        info = aliases.get(node.table.lower())
        return info is not None and info.column == name
    return single is not None and single.column == name


def joined_on_keys(ast: exp.Expr, sharded: Sequence[ShardedInfo]) -> bool:
    """Every reference to a sharded table (a self-join counts twice) is tied to the others by an equality
    of shard columns, so matching rows always live on the same node."""
    names = {s.name.lower(): s for s in sharded}
    refs: dict[str, ShardedInfo] = {}
    for t in ast.find_all(exp.Table):
        info = names.get(t.name.lower())
        if info is not None:
            refs[(t.alias or t.name).lower()] = info
    if len(refs) <= 1:
        return True
    linked = {next(iter(refs))}
    changed = True
    while changed:
        changed = False
        for eq in ast.find_all(exp.EQ):
            left, right = eq.this, eq.expression
            if not (isinstance(left, exp.Column) and isinstance(right, exp.Column) and left.table and right.table):
                continue
            a, b = left.table.lower(), right.table.lower()
            on_keys = a in refs and b in refs and refs[a].column == left.name.lower()
            if on_keys and right.name.lower() == refs[b].column and (a in linked) != (b in linked):
                linked |= {a, b}
                changed = True
    return linked >= set(refs)


def literal_ref(node: exp.Expression) -> Ref | None:
    if isinstance(node, exp.Column) and node.name.startswith(PARAM_PREFIX) and not node.table:
        return Ref(param=int(node.name[len(PARAM_PREFIX) : -2]))
    if isinstance(node, exp.Literal):
        if node.is_string:
            return Ref(value=node.this.encode())
        text = node.this
        try:
            return Ref(value=int(text))
        except ValueError:
            return Ref(value=Decimal(text))
    if isinstance(node, exp.Neg) and isinstance(node.this, exp.Literal) and not node.this.is_string:
        inner = literal_ref(node.this)
        if inner is not None and isinstance(inner.value, int):
            return Ref(value=-inner.value)
    if isinstance(node, exp.Null):
        return Ref(value=None)
    if isinstance(node, exp.Paren):
        return literal_ref(node.this)
    return None


def shard_condition(node: exp.Expression, sharded: Sequence[ShardedInfo]) -> Cond | None:
    """The shard-key condition implied by a WHERE clause; None when it does not restrict the key."""
    aliases: dict[str, ShardedInfo] = {}
    root: exp.Expr = node
    while root.parent is not None:
        root = root.parent
    aliases = _aliases(root, sharded)
    single = sharded[0] if len(sharded) == 1 else None
    return _cond(node, aliases, single)


def _cond(node: exp.Expression, aliases: dict[str, ShardedInfo], single: ShardedInfo | None) -> Cond | None:
    if isinstance(node, exp.Paren):
        return _cond(node.this, aliases, single)
    if isinstance(node, exp.And):
        parts = [c for c in (_cond(node.this, aliases, single), _cond(node.expression, aliases, single)) if c]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else Cond("and", children=tuple(parts))
    if isinstance(node, exp.Or):
        left = _cond(node.this, aliases, single)
        right = _cond(node.expression, aliases, single)
        if left is None or right is None:
            return None
        return Cond("or", children=(left, right))
    if isinstance(node, exp.EQ | exp.NullSafeEQ):
        for col, val in ((node.this, node.expression), (node.expression, node.this)):
            if _is_key_column(col, aliases, single):
                ref = literal_ref(val)
                if ref is not None:
                    return Cond("eq", (ref,))
        return None
    if isinstance(node, exp.In) and _is_key_column(node.this, aliases, single):
        if node.args.get("query") is not None:
            return None
        refs = [literal_ref(e) for e in node.expressions]
        if refs and all(r is not None for r in refs):
            return Cond("in", tuple(r for r in refs if r is not None))
        return None
    if isinstance(node, exp.Between) and _is_key_column(node.this, aliases, single):
        low, high = literal_ref(node.args["low"]), literal_ref(node.args["high"])
        if low is not None and high is not None:
            return Cond("range", (low, high))
        return None
    if isinstance(node, exp.GT | exp.GTE | exp.LT | exp.LTE):
        left, right = node.this, node.expression
        flipped = False
        if not _is_key_column(left, aliases, single):
            if not _is_key_column(right, aliases, single):
                return None
            left, right = right, left
            flipped = True
        ref = literal_ref(right)
        if ref is None:
            return None
        lower = isinstance(node, exp.GT | exp.GTE) != flipped  # key > value: value is a lower bound
        incl = isinstance(node, exp.GTE | exp.LTE)
        none = Ref(value=None)
        if lower:
            return Cond("range", (ref, none), low_incl=incl)
        return Cond("range", (none, ref), high_incl=incl)
    return None
