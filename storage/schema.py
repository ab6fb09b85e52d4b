"""The database schema's version, kept by Alembic (`storage/alembic/`): upgrade, read, check.

- `upgrade(engine)`: brings any database to head: an empty one gets the whole schema, one made by the hand-written
  list that came before Alembic (a `schema_version` table, versions 1..8) gets that list's remaining steps first
  (see the baseline revision and `storage.migrations`). API and worker may start together: PostgreSQL takes an
  advisory lock, SQLite the write lock (`BEGIN IMMEDIATE`), so exactly one migrates and the others see the result.
- `require_current(engine)`: what the API and worker call at start: a database behind this code (or ahead of it)
  is refused with the command to run. Only the embedded stack (`aftercare up`) upgrades on start.

The rule when you change a table: change the model in `storage.tables`, then
`alembic revision --autogenerate -m "what changed"` from the repository's top, read and correct what it wrote
(it is a draft: data moves are yours to write), and run tests/storage/test_alembic.py.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine

SCRIPTS = Path(__file__).parent / "alembic"
UPGRADE_COMMAND = "aftercare db upgrade"

# Any 64-bit number unique to Aftercare's schema lock; "aftercar" in ASCII.
_PG_LOCK_KEY = 0x6166746572636172


class SchemaError(RuntimeError):
    """The database is not in a state this code can work with; the message says why and what to do."""


class SchemaBehindError(SchemaError):
    """The database is at an older revision than this code (or has none yet): `aftercare db upgrade` fixes it."""


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """Alembic's configuration for our scripts; with `connection`, env.py migrates through it (our engine)."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The revision this code expects (the newest script)."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the baseline always exists
        raise SchemaError(f"no Alembic revisions found in {SCRIPTS / 'versions'}")
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at; None for a database Alembic never touched (empty, or pre-Alembic)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: Engine, revision: str = "head") -> str:
    """Bring the database to `revision` (head by default) in one transaction; returns the revision now in place.
    Pass the plain engine: this takes the write lock itself (see storage.db.writer)."""
    from storage.db import writer

    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        _refuse_unknown(conn)
        command.upgrade(alembic_config(conn), revision)
        now = MigrationContext.configure(conn).get_current_revision()
    if now is None:  # pragma: no cover - command.upgrade always stamps
        raise SchemaError("Alembic upgrade left no revision behind")
    return now


def require_current(engine: Engine, *, url: str = "") -> None:
    """Refuse a database that is not at this code's head, saying what to run. `url` names it in the message
    (its password hidden)."""
    head = head_revision()
    current = current_revision(engine)
    if current == head:
        return
    where = f"the database {shown_url(url or engine.url)}"
    if current is None:
        state = "has no Aftercare schema yet (or one from before Alembic)"
    elif _known(current):
        state = f"is at revision {current}, behind this code's {head}"
    else:
        raise SchemaError(
            f"{where} is at revision {current}, which this code does not know (it knows up to {head}): "
            "it was migrated by a newer Aftercare. Run that version, or upgrade this one."
        )
    raise SchemaBehindError(
        f"{where} {state}. Run `{UPGRADE_COMMAND}` (same AFTERCARE_DATABASE_URL) once, then start again."
    )


def _known(revision: str) -> bool:
    try:
        return ScriptDirectory.from_config(alembic_config()).get_revision(revision) is not None
    except CommandError:  # "Can't locate revision identified by ..."
        return False


def _refuse_unknown(conn: sa.Connection) -> None:
    current = MigrationContext.configure(conn).get_current_revision()
    if current is not None and not _known(current):
        raise SchemaError(
            f"the database is at revision {current}, which this code does not know (it knows up to "
            f"{head_revision()}): it was migrated by a newer Aftercare. Run that version, or upgrade this one."
        )


def shown_url(url: str | sa.URL) -> str:
    """A database URL fit for a terminal or a log: its password hidden."""
    return sa.make_url(url).render_as_string(hide_password=True)
