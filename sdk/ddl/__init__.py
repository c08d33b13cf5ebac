"""DDL a participant applies to its own database: the barrier table and the saga step outputs beside it, one
file per dialect (``{table}_{dialect}.sql``). Package data of ``sdk``, so an installed sdk finds it wherever it
runs."""

from __future__ import annotations

from importlib import resources

__all__ = ["DIALECTS", "participant_ddl"]

DIALECTS = ("postgresql", "mysql")


def participant_ddl(table: str, dialect: str) -> str:
    """Text of ``{table}_{dialect}.sql`` (``table``: ``barrier`` or ``saga_output``)."""
    if dialect not in DIALECTS:
        raise ValueError(f"no participant DDL for dialect {dialect!r}; use one of {', '.join(DIALECTS)}")
    path = resources.files(__name__) / f"{table}_{dialect}.sql"
    if not path.is_file():
        known = sorted(p.name for p in resources.files(__name__).iterdir() if p.name.endswith(".sql"))
        raise ValueError(f"no participant DDL {path.name}; known: {', '.join(known)}")
    return path.read_text()
