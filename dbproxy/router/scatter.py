"""Rewriting a SELECT for scatter-gather: what each shard runs and how the proxy merges the answers.

AVG becomes SUM and COUNT, ORDER BY / GROUP BY expressions that are not selected become hidden columns,
LIMIT n OFFSET m becomes LIMIT m+n on each shard. Anything that cannot be merged exactly raises NotSupported.
"""

from __future__ import annotations

from sqlglot import exp

from dbproxy.errors import NotSupported, ProxyError
from dbproxy.merge import Item, MergeSpec
from dbproxy.router.template import LIMIT_SLOT, PARAM_PREFIX

_AGGS: dict[type[exp.Expression], str] = {
    exp.Count: "count",
    exp.Sum: "sum",
    exp.Min: "min",
    exp.Max: "max",
    exp.Avg: "avg",
}


def _param_index(node: exp.Expression) -> int | None:
    if isinstance(node, exp.Column) and node.name.startswith(PARAM_PREFIX) and not node.table:
        return int(node.name[len(PARAM_PREFIX) : -2])
    return None


def _int_or_param(node: exp.Expression | None, what: str) -> tuple[int | None, int | None]:
    if node is None:
        return None, None
    p = _param_index(node)
    if p is not None:
        return None, p
    if isinstance(node, exp.Literal) and not node.is_string:
        return int(node.this), None
    raise NotSupported(f"{what} that is not a number or a parameter, across shards")


def _agg_kind(node: exp.Expression) -> str | None:
    kind = _AGGS.get(type(node))
    if kind is None:
        if isinstance(node, exp.AggFunc):
            raise NotSupported(f"aggregate {type(node).__name__.upper()} across shards")
        return None
    inner = node.this
    if isinstance(inner, exp.Distinct):
        raise NotSupported(f"{type(node).__name__.upper()}(DISTINCT ...) across shards")
    return kind


def _contains_agg(node: exp.Expression) -> bool:
    return any(isinstance(n, exp.AggFunc) for n in node.walk())


def build_scatter(select: exp.Select) -> tuple[MergeSpec, exp.Select]:
    """Return the merge spec and the statement every shard runs (tables not yet renamed)."""
    if select.args.get("having"):
        raise NotSupported("HAVING across shards")
    if any(isinstance(n, exp.Window) for n in select.walk()):
        raise NotSupported("window function across shards")
    if select.args.get("into"):
        raise NotSupported("SELECT ... INTO across shards")

    projections = list(select.expressions)
    star = any(
        isinstance(p, exp.Star) or (isinstance(p, exp.Column) and isinstance(p.this, exp.Star)) for p in projections
    )
    group_node = select.args.get("group")
    group_exprs = list(group_node.expressions) if group_node else []
    rollup = bool(group_node and group_node.args.get("rollup"))  # the merge computes the super-aggregate rows
    if group_node and (group_node.args.get("cube") or group_node.args.get("grouping_sets")):
        raise NotSupported("GROUP BY with CUBE or GROUPING SETS across shards")
    if rollup and select.args.get("order"):
        raise ProxyError("Incorrect usage of CUBE/ROLLUP and ORDER BY", code=1221)
    has_agg = any(_contains_agg(p) for p in projections)
    aggregate = has_agg or bool(group_exprs)
    if star and aggregate:
        raise NotSupported("SELECT * with aggregates across shards")
    if star and len(projections) > 1:
        raise NotSupported("SELECT * mixed with other columns across shards")

    # logical items: (kind, name, expression) ; hidden ones are appended later
    items: list[tuple[str, str, exp.Expression]] = []
    by_alias: dict[str, int] = {}
    by_sql: dict[str, int] = {}
    if not star:
        for p in projections:
            inner = p.this if isinstance(p, exp.Alias) else p
            name = (
                p.alias
                if isinstance(p, exp.Alias)
                else (inner.name if isinstance(inner, exp.Column) else inner.sql(dialect="mysql"))
            )
            kind = _agg_kind(inner)
            if kind is None and _contains_agg(inner):
                raise NotSupported(f"expression over an aggregate ({inner.sql(dialect='mysql')}) across shards")
            if kind is None:
                kind = "plain"
            by_alias.setdefault(name.lower(), len(items))
            by_sql.setdefault(inner.sql(dialect="mysql"), len(items))
            items.append((kind, name, inner))
    visible = len(items)
    hidden_start = len(items)

    def resolve(node: exp.Expression, clause: str) -> int:
        """Index of the item ``node`` (a GROUP BY / ORDER BY expression) refers to, adding a hidden one."""
        if isinstance(node, exp.Literal) and not node.is_string:
            pos = int(node.this) - 1
            if star or not 0 <= pos < visible:
                raise NotSupported(f"{clause} by position with SELECT * across shards")
            return pos
        if not star and isinstance(node, exp.Column) and not node.table and node.name.lower() in by_alias:
            return by_alias[node.name.lower()]
        key = node.sql(dialect="mysql")
        if not star and key in by_sql:
            return by_sql[key]
        kind = _agg_kind(node) or "plain"
        if kind == "plain" and _contains_agg(node):
            raise NotSupported(f"{clause} over an aggregate expression across shards")
        if kind != "plain" and not aggregate:
            raise NotSupported(f"aggregate in {clause} without aggregation")
        by_sql[key] = len(items)
        items.append((kind, key, node))
        return len(items) - 1

    group_idx = tuple(resolve(g, "GROUP BY") for g in group_exprs)
    order_node = select.args.get("order")
    order: list[tuple[int, bool]] = []
    if order_node is not None:
        for o in order_node.expressions:
            order.append((resolve(o.this, "ORDER BY"), bool(o.args.get("desc"))))
    # A selected plain column outside GROUP BY takes any value of its group, as MySQL without ONLY_FULL_GROUP_BY.
    limit_node = select.args.get("limit")
    limit, limit_param = _int_or_param(limit_node.expression if limit_node else None, "LIMIT")
    offset_node = select.args.get("offset")
    offset_val, offset_param = _int_or_param(offset_node.expression if offset_node else None, "OFFSET")

    # the shard statement
    shard = select.copy()
    new_exprs: list[exp.Expr] = []
    spec_items: list[Item] = []
    col = 0
    if star:
        new_exprs = [p.copy() for p in projections]
    for i, (kind, name, node) in enumerate(items):
        if kind == "avg":
            arg = node.this.copy()
            new_exprs.append(exp.Sum(this=arg))
            new_exprs.append(exp.Count(this=arg.copy()))
            spec_items.append(Item("avg", name, col))
            col += 2
        else:
            expr: exp.Expr = node.copy()
            if i < visible and kind == "plain" and isinstance(projections[i], exp.Alias):
                expr = exp.alias_(expr, projections[i].alias)
            new_exprs.append(expr)
            spec_items.append(Item(kind, name, col))
            col += 1
    shard.set("expressions", new_exprs)
    if group_exprs:
        shard.set("group", exp.Group(expressions=[items[i][2].copy() for i in group_idx]))
    shard.set("offset", None)
    if aggregate:
        shard.set("order", None)
        shard.set("limit", None)
    else:
        if order_node is not None:
            shard.set(
                "order",
                exp.Order(
                    expressions=[
                        # MySQL sorts NULLs first ascending, last descending: say so, or sqlglot emulates otherwise
                        exp.Ordered(this=items[i][2].copy(), desc=desc, nulls_first=not desc)
                        for i, desc in order
                    ]
                ),
            )
        if limit_node is not None:
            shard.set("limit", exp.Limit(expression=exp.column(LIMIT_SLOT)))
    spec = MergeSpec(
        items=tuple(spec_items),
        visible=visible,
        aggregate=aggregate,
        group=group_idx,
        order=tuple(order),
        distinct=bool(select.args.get("distinct")),
        limit=limit,
        limit_param=limit_param,
        offset=offset_val or 0,
        offset_param=offset_param,
        star_hidden=(len(items) - hidden_start) if star else None,
        rollup=rollup,
    )
    return spec, shard
