"""Schema versions, explicit and ordered.

How it works:
- A fresh database gets the current schema straight from the models (`create_all`) and every
  migration below is recorded as applied: there is nothing to upgrade.
- An existing database gets, in order, each migration it has not recorded yet, each in the same
  transaction as its `schema_version` row (DDL is transactional on PostgreSQL and SQLite).

The rule when you change a table: change the model in `storage.tables` AND append a `Migration`
that brings an existing database to the same shape (plain `ALTER TABLE ...` through `conn`). Never
edit or renumber a migration that has shipped.

API and worker may start together: PostgreSQL takes an advisory lock, SQLite the write lock
(`BEGIN IMMEDIATE`), so exactly one of them migrates and the other sees the result.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from storage import tables
from storage.types import utcnow

# Any 64-bit number unique to Aftercare's schema lock; "aftercar" in ASCII.
_PG_LOCK_KEY = 0x6166746572636172


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: Callable[[Connection], None]


def _baseline(conn: Connection) -> None:
    """Version 1: the first schema. Only ever runs via the fresh-database path today."""
    SQLModel.metadata.create_all(conn)


MIGRATIONS: list[Migration] = [
    Migration(1, "baseline: merchants, customers, orders, shipments, tracking, outbox, suppressions", _baseline),
]

_VERSION = tables.SchemaVersionRow.__table__  # type: ignore[attr-defined]


class SchemaError(RuntimeError):
    """The database is not in a state this code can work with; the message says why and what to do."""


def latest_version() -> int:
    return MIGRATIONS[-1].version


def _check_list() -> None:
    versions = [m.version for m in MIGRATIONS]
    if versions != list(range(1, len(versions) + 1)):
        raise SchemaError(f"storage.migrations.MIGRATIONS must be numbered 1, 2, 3...; found {versions}")


def apply_migrations(engine: Engine) -> int:
    """Bring the database to `latest_version()`; returns it. Pass a writer engine (see storage.db)."""
    _check_list()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        inspector = sa.inspect(conn)
        if not inspector.has_table(_VERSION.name):
            ours = set(SQLModel.metadata.tables) - {_VERSION.name}
            present = sorted(ours & set(inspector.get_table_names()))
            if present:
                raise SchemaError(
                    f"database has Aftercare tables ({', '.join(present)}) but no schema_version table; "
                    "it was not created by init_db. Point AFTERCARE_DATABASE_URL at an empty database."
                )
            SQLModel.metadata.create_all(conn)
            _record(conn, MIGRATIONS)
            return latest_version()

        applied = set(conn.execute(sa.select(_VERSION.c.version)).scalars())
        unknown = sorted(v for v in applied if v > latest_version())
        if unknown:
            raise SchemaError(
                f"database schema has versions {unknown} this code does not know (it knows up to "
                f"{latest_version()}): it was migrated by a newer Aftercare. Upgrade this one."
            )
        pending = [m for m in MIGRATIONS if m.version not in applied]
        for migration in pending:
            migration.apply(conn)
            _record(conn, [migration])
    return latest_version()


def current_version(engine: Engine) -> int | None:
    """The highest applied version, or None for a database init_db never touched."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(_VERSION.name):
            return None
        return conn.execute(sa.select(sa.func.max(_VERSION.c.version))).scalar()


def _record(conn: Connection, migrations: list[Migration]) -> None:
    now = utcnow()
    conn.execute(
        _VERSION.insert(),
        [{"version": m.version, "name": m.name, "applied_at": now} for m in migrations],
    )
