"""Planning INSERT into a sharded table: rows are split per node by their shard-key value."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token, TokenType

from dbproxy.errors import NotSupported
from dbproxy.executor.plans.insert import Insert, InsertRow
from dbproxy.router.conditions import literal_ref
from dbproxy.router.rename import node_template
from dbproxy.router.schema import LogicalDatabase, ShardedInfo
from dbproxy.router.targets import Ref, Target
from dbproxy.router.template import Template
from dbproxy.router.tokens import param_indexes, rewrite


def plan_insert(
    sql: str,
    tokens: list[Token],
    ast: exp.Insert,
    db: LogicalDatabase,
    info: ShardedInfo,
    nparams: int,
    dialect: Dialect,
) -> Insert:
    schema = ast.this
    values = ast.expression
    if not isinstance(values, exp.Values):
        raise NotSupported(f"INSERT ... SELECT into sharded table {info.name}")
    if not isinstance(schema, exp.Schema) or not schema.expressions:
        raise NotSupported(f"INSERT without a column list into sharded table {info.name}")
    columns = [c.name.lower() for c in schema.expressions]
    conflict = ast.args.get("conflict")
    if conflict is not None:
        for eq in conflict.expressions or []:
            if isinstance(eq, exp.EQ) and isinstance(eq.this, exp.Column) and eq.this.name.lower() == info.column:
                raise NotSupported(f"ON DUPLICATE KEY UPDATE of shard column {info.column}")
    key_index = columns.index(info.column) if info.column in columns else None
    if key_index is None and not info.config.auto_increment:
        raise NotSupported(f"INSERT into {info.name} without its shard column {info.column}")

    # token layout: ... VALUES ( row ) , ( row ) ... [suffix]
    depth = 0
    values_at = -1
    for i, tok in enumerate(tokens):
        if tok.token_type == TokenType.L_PAREN:
            depth += 1
        elif tok.token_type == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and tok.token_type == TokenType.VALUES:
            values_at = i
            break
    if values_at < 0:
        raise NotSupported(f"this INSERT form into sharded table {info.name}")
    rows_spans: list[tuple[int, int, int | None]] = []  # (start, end, key token start)
    i = values_at + 1
    params = param_indexes(tokens)
    while i < len(tokens) and tokens[i].token_type == TokenType.L_PAREN:
        start = i
        depth = 0
        col = 0
        key_tok: int | None = None
        while True:
            tok = tokens[i]
            if tok.token_type == TokenType.L_PAREN:
                depth += 1
            elif tok.token_type == TokenType.R_PAREN:
                depth -= 1
                if depth == 0:
                    break
            elif depth == 1 and tok.token_type == TokenType.COMMA:
                col += 1
            elif depth == 1 and col == key_index and key_tok is None:
                key_tok = i
            i += 1
        rows_spans.append((start, i + 1, key_tok))
        i += 1
        if i < len(tokens) and tokens[i].token_type == TokenType.COMMA:
            i += 1
        else:
            break
    suffix_start = i
    row_exprs = values.expressions
    if len(row_exprs) != len(rows_spans):
        raise NotSupported(f"this INSERT form into sharded table {info.name}")

    strip = {db.name.lower()}
    n_nodes = len(info.config.nodes)
    renames = [{info.name.lower(): info.config.nodes[n].table} for n in range(n_nodes)]
    rows: list[InsertRow] = []
    for (start, end, key_tok), tup in zip(rows_spans, row_exprs, strict=True):
        key: Ref | None = None
        named: dict[int, str] | None = None
        if key_index is not None:
            node = tup.expressions[key_index]
            key = literal_ref(node)
            if key is None:
                raise NotSupported(f"INSERT with a computed value for shard column {info.column}")
            if key_tok is not None and key.param is None:
                # a single literal token (possibly signed) is replaced by the key slot
                key_end = key_tok + (2 if tokens[key_tok].token_type == TokenType.DASH else 1)
                named = {key_tok: "key"}
                if key_end - key_tok == 2:
                    named[key_tok + 1] = "__skip__"
        template = rewrite(sql, tokens, {}, strip, start=start, end=end, params=params, named=named)
        template = _drop_skip(template)
        rows.append(InsertRow(key, (template,)))
    prefixes = tuple(rewrite(sql, tokens, r, strip, start=0, end=values_at + 1, params=params) for r in renames)
    # the suffix (ON DUPLICATE KEY UPDATE ..., RETURNING ...) may name the table too
    suffixes = tuple(
        rewrite(sql, tokens, r, strip, start=suffix_start, params=params)
        if suffix_start < len(tokens)
        else Template.literal("")
        for r in renames
    )
    plain = [node_template(sql, tokens, ast, r, strip, dialect) for r in renames]
    targets = tuple(Target(info.config.nodes[n].backend, plain[n]) for n in range(n_nodes))
    return Insert(
        nparams=nparams,
        targets=targets,
        rule=info.rule,
        rows=tuple(rows),
        prefixes=prefixes,
        suffixes=suffixes,
        shard_column=info.config.column,
        physical_tables=tuple(n.table for n in info.config.nodes),
        key_table=info.name if info.config.auto_increment else None,
        key_column=info.config.column if key_index is None else None,
    )


def _drop_skip(t: Template) -> Template:
    """Merge away the helper slot that swallowed the digits of a negative literal key."""
    if "__skip__" not in t.slots:
        return t
    parts = [t.parts[0]]
    slots: list[int | str] = []
    for slot, part in zip(t.slots, t.parts[1:], strict=True):
        if slot == "__skip__":
            parts[-1] += part
        else:
            slots.append(slot)
            parts.append(part)
    return Template(tuple(parts), tuple(slots))
