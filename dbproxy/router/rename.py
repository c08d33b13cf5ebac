"""Renaming logical tables to a node's physical tables: on tokens (keeps the client's text) or, when a column or
alias shares a table's name, on the AST."""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.tokens import Token

from dbproxy.router.template import Template
from dbproxy.router.tokens import rewrite


def rename_ast(ast: exp.Expr, renames: dict[str, str], strip: set[str]) -> exp.Expr:
    for t in ast.find_all(exp.Table):
        if t.db.lower() in strip:
            t.set("db", None)
        if t.name.lower() in renames and not t.db:
            t.set("this", exp.to_identifier(renames[t.name.lower()], quoted=True))
    for c in ast.find_all(exp.Column):
        if c.table and c.table.lower() in renames:
            c.set("table", exp.to_identifier(renames[c.table.lower()], quoted=True))
            c.set("db", None)
    return ast


def node_template(
    sql: str, tokens: list[Token], ast: exp.Expr, renames: dict[str, str], strip: set[str], dialect: Dialect
) -> Template:
    # Token renaming keeps the client's text; it is unsafe only when a column or alias has a table's name.
    clash = any(c.name.lower() in renames for c in ast.find_all(exp.Column)) or any(
        a.alias.lower() in renames for a in ast.find_all(exp.Alias)
    )
    if not clash:
        return rewrite(sql, tokens, renames, strip)
    return Template.from_marked(rename_ast(ast.copy(), renames, strip).sql(dialect=dialect))
