"""Alembic's environment for Aftercare's schema.

Two ways in:
- `storage.schema.upgrade` (what `aftercare db upgrade`, `aftercare up` and the tests use) hands over an open
  connection in `config.attributes["connection"]`, inside its transaction and under its lock;
- the plain `alembic` command (alembic.ini at the repository's top) connects here to AFTERCARE_DATABASE_URL, read
  through `aftercare.settings` like every other setting, with our engine (`storage.db.make_engine`).

`target_metadata` is our tables' metadata (`storage.tables`), so `alembic revision --autogenerate` compares against
the models. SQLite cannot ALTER most things: `render_as_batch` makes autogenerate write `batch_alter_table` blocks,
which rebuild the table there (and ALTER in place on PostgreSQL).
"""

from __future__ import annotations

from typing import Any, Literal

import sqlalchemy as sa
from alembic import context
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString

import storage.tables  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Write sqlmodel's AutoString as the plain sa.String it is, so revisions need no sqlmodel import."""
    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String({obj.length})" if obj.length else "sa.String()"
    return False


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=True,
        render_item=render_item,
        compare_type=True,
    )
    if connection.dialect.name == "sqlite":
        # A batch rebuild drops and recreates a table; other tables' foreign keys are checked at commit instead.
        connection.exec_driver_sql("PRAGMA defer_foreign_keys=ON")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    given = context.config.attributes.get("connection")
    if given is not None:
        _run(given)
        return
    from aftercare.settings import load_settings
    from storage.db import make_engine, writer

    engine = make_engine(load_settings().database_url)
    try:
        with writer(engine).connect() as connection:
            _run(connection)
            connection.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) mode is not supported: run against the database (AFTERCARE_DATABASE_URL)")
run_migrations_online()
