"""Unmodified clients through a real dbproxy process: the mariadb CLI, aiomysql, SQLAlchemy Core and ORM."""

from __future__ import annotations

import subprocess

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from tests.integration.proxy.conftest import LOGICAL_DB, PASSWORD, USER, Proxy


def mariadb_cli(proxy: Proxy, sql: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            "mariadb",
            "--batch",
            "--protocol=tcp",
            "-h127.0.0.1",
            f"-P{proxy.port}",
            f"-u{USER}",
            f"-p{PASSWORD}",
            "--skip-ssl",
            LOGICAL_DB,
        ],
        input=sql,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_mariadb_cli_batch_mode(proxy: Proxy) -> None:
    script = """
DROP TABLE IF EXISTS items;
CREATE TABLE items (id INT PRIMARY KEY, k INT, name VARCHAR(20));
INSERT INTO items (id, k, name) VALUES (1, 10, 'one'), (2, 20, 'two'), (3, 30, 'three');
UPDATE items SET k = k + 1 WHERE id = 3;
SELECT id, k, name FROM items ORDER BY id;
SELECT COUNT(*) AS n, SUM(k) AS total FROM items;
SHOW TABLES;
"""
    out = mariadb_cli(proxy, script)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:4] == ["id\tk\tname", "1\t10\tone", "2\t20\ttwo", "3\t31\tthree"]
    assert lines[4:6] == ["n\ttotal", "3\t61"]
    assert "items" in lines


def test_mariadb_cli_reports_errors(proxy: Proxy) -> None:
    out = mariadb_cli(proxy, "SELECT * FROM items WHERE id IN (SELECT id FROM items);\n")
    assert out.returncode != 0
    assert "ERROR 1235" in out.stderr and "subquery" in out.stderr


async def test_aiomysql_crud_and_transaction(proxy: Proxy) -> None:
    import aiomysql

    conn = await aiomysql.connect(
        host="127.0.0.1", port=proxy.port, user=USER, password=PASSWORD, db=LOGICAL_DB, autocommit=True
    )
    try:
        async with conn.cursor() as cur:
            await cur.execute("DROP TABLE IF EXISTS items")
            await cur.execute("CREATE TABLE items (id INT PRIMARY KEY, k INT)")
            await cur.executemany("INSERT INTO items (id, k) VALUES (%s, %s)", [(i, i * i) for i in range(1, 7)])
            await conn.begin()
            await cur.execute("UPDATE items SET k = 0 WHERE id IN (1, 2)")
            await conn.rollback()
            await cur.execute("SELECT id, k FROM items ORDER BY k DESC LIMIT 2")
            assert await cur.fetchall() == ((6, 36), (5, 25))
            await cur.execute("SELECT SUM(k) FROM items WHERE id <= 2")
            assert (await cur.fetchone())[0] == 5
            await cur.execute("DELETE FROM items WHERE id > 4")
            assert cur.rowcount == 2
    finally:
        await conn.ensure_closed()


def _engine(proxy: Proxy) -> sa.Engine:
    return sa.create_engine(f"mysql+pymysql://{USER}:{PASSWORD}@127.0.0.1:{proxy.port}/{LOGICAL_DB}")


def test_sqlalchemy_core(proxy: Proxy) -> None:
    metadata = sa.MetaData()
    orders = sa.Table(
        "orders",
        metadata,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("item_id", sa.Integer, nullable=False),
        sa.Column("amount", sa.Numeric(10, 2), nullable=False),
    )
    engine = _engine(proxy)
    try:
        metadata.drop_all(engine)
        metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(orders.insert(), [{"id": i, "item_id": i % 7, "amount": i * 1.5} for i in range(1, 31)])
        with engine.connect() as conn:
            total = conn.execute(sa.select(sa.func.sum(orders.c.amount))).scalar_one()
            assert float(total) == sum(i * 1.5 for i in range(1, 31))
            rows = conn.execute(
                sa.select(orders.c.item_id, sa.func.count()).group_by(orders.c.item_id).order_by(orders.c.item_id)
            ).all()
            assert [tuple(r) for r in rows] == [(k, len([i for i in range(1, 31) if i % 7 == k])) for k in range(7)]
            one = conn.execute(sa.select(orders).where(orders.c.item_id == 3).order_by(orders.c.id)).all()
            assert [r.id for r in one] == [3, 10, 17, 24]
        with engine.begin() as conn:
            result = conn.execute(orders.update().where(orders.c.item_id == 3).values(amount=0))
            assert result.rowcount == 4
            conn.execute(orders.delete().where(orders.c.id > 20))
        with engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(orders)).scalar_one() == 20
        # reflection sees the logical table, whose shards are physical tables with other names
        inspector = sa.inspect(engine)
        assert "orders" in inspector.get_table_names()
        reflected = sa.Table("orders", sa.MetaData(), autoload_with=engine)
        assert reflected.c.keys() == ["id", "item_id", "amount"]
        metadata.drop_all(engine)
    finally:
        engine.dispose()


class Base(DeclarativeBase):
    pass


class Item(Base):
    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    k: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(40))


def test_sqlalchemy_orm(proxy: Proxy) -> None:
    engine = _engine(proxy)
    try:
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            session.add_all([Item(k=i % 3, name=f"item {i}") for i in range(10)])  # ids assigned by the proxy
            session.commit()
            ids = sorted(i.id for i in session.scalars(sa.select(Item)))
            assert len(ids) == 10 and len(set(ids)) == 10
            item = session.get(Item, ids[3])
            assert item is not None and item.name == "item 3"
            item.name = "renamed"
            session.commit()
            session.expire_all()
            assert session.get(Item, ids[3]).name == "renamed"  # type: ignore[union-attr]
            session.delete(session.get(Item, ids[0]))
            session.commit()
            assert session.scalar(sa.select(sa.func.count()).select_from(Item)) == 9
            top = session.scalars(sa.select(Item).order_by(Item.id.desc()).limit(2)).all()
            assert [i.id for i in top] == ids[:-3:-1]
        Base.metadata.drop_all(engine)
    finally:
        engine.dispose()


@pytest.mark.parametrize("autocommit", [True, False])
def test_pymysql_prepared_like_reconnects(proxy: Proxy, autocommit: bool) -> None:
    """Connections opened and closed repeatedly (as a pool does) keep working and see committed data."""
    for _ in range(3):
        with proxy.connect(autocommit=autocommit) as conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
            conn.commit()
