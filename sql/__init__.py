"""SQL shipped with txcoord: the coordinator store's alembic migrations and participant-side DDL.

``sql/migrations`` is the alembic environment (``txc db upgrade --store URL`` runs it); ``sql/participant``
holds DDL that participants apply to their own databases (the barrier table, one file per dialect).
"""

from __future__ import annotations

from pathlib import Path

SQL_DIR = Path(__file__).resolve().parent
MIGRATIONS_DIR = SQL_DIR / "migrations"
PARTICIPANT_DIR = SQL_DIR / "participant"

__all__ = ["MIGRATIONS_DIR", "PARTICIPANT_DIR", "SQL_DIR", "participant_ddl"]


def participant_ddl(name: str, dialect: str) -> str:
    """Text of ``sql/participant/{name}_{dialect}.sql`` (dialect: ``postgresql`` or ``mysql``)."""
    path = PARTICIPANT_DIR / f"{name}_{dialect}.sql"
    if not path.exists():
        known = sorted(p.stem for p in PARTICIPANT_DIR.glob("*.sql"))
        raise FileNotFoundError(f"no participant DDL {path.name} in {PARTICIPANT_DIR}; known: {', '.join(known)}")
    return path.read_text()
