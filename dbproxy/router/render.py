"""Statement trees rendered back to SQL the way MariaDB reads what the client wrote.

sqlglot's MySQL generator writes ``0x07`` as ``x'07'`` (a string to MariaDB, so ``k = x'07'`` matches k = 0)
and ``s REGEXP 'a'`` as ``REGEXP_LIKE(s, 'a')`` (which MariaDB does not have). Rewritten statements (a
scatter's shard statement) are rendered here instead: hex and bit literals exactly as written (kept from the
statement text by ``keep_written_literals`` when it is parsed), REGEXP/RLIKE as the operator. (The compiled
sqlglot generator cannot be subclassed, so those nodes are replaced by verbatim text before generating.)
"""

from __future__ import annotations

from sqlglot import exp
from sqlglot.dialects.dialect import DialectType

from dbproxy.errors import NotSupported


def keep_written_literals(ast: exp.Expr, text: str) -> None:
    """Remember on each hex and bit literal of ``ast`` (parsed from ``text``) how it was written."""
    for node in ast.find_all(exp.HexString, exp.BitString):
        meta = node.meta
        start, end = meta.get("start"), meta.get("end")
        if isinstance(start, int) and isinstance(end, int):
            meta["written"] = text[start : end + 1]


def render(ast: exp.Expr, dialect: DialectType = "mysql") -> str:
    """``ast`` (changed in place: pass a copy) as MariaDB SQL in ``dialect`` (the session's reading), literals as
    the client wrote them."""
    for literal in list(ast.find_all(exp.HexString, exp.BitString)):
        written = literal.meta.get("written")
        if isinstance(written, str):
            literal.replace(exp.Var(this=written))
    # innermost first, so an operand that is itself a REGEXP is already text
    for node in reversed([n for n in ast.walk() if isinstance(n, exp.RegexpLike)]):
        if node.args.get("flag") is not None:
            raise NotSupported("REGEXP_LIKE with match flags (MariaDB has only the REGEXP operator)")
        # parenthesized: NOT binds more loosely than REGEXP, and the operand may sit anywhere in the tree
        text = f"({_sql(node.this, dialect)} REGEXP {_sql(node.expression, dialect)})"
        if node is ast:
            return text
        node.replace(exp.Var(this=text))
    return _sql(ast, dialect)


def _sql(node: exp.Expr, dialect: DialectType) -> str:
    return node.sql(dialect=dialect)
