"""Engines and schema versions."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import SchemaError, Store, init_db, latest_version, make_engine
from storage.db import normalise_url
from storage.migrations import MIGRATIONS, current_version


def test_sqlite_engine_creates_its_directory_and_sets_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "aftercare.db"
    engine = make_engine(f"sqlite:///{path}")
    with engine.connect() as conn:
        pragmas = {
            name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "busy_timeout")
        }
    engine.dispose()
    assert path.parent.is_dir()
    assert pragmas == {"journal_mode": "wal", "foreign_keys": 1, "busy_timeout": 30_000}


def test_in_memory_sqlite_works_for_quick_experiments() -> None:
    store = Store.open("sqlite://")
    assert store.get_order("acme", "1") is None
    store.close()


def test_urls_are_normalised_and_checked() -> None:
    assert normalise_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("postgresql+psycopg://u@h/db").drivername == "postgresql+psycopg"
    assert normalise_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(ValueError, match="unsupported database URL 'mysql://u:\\*\\*\\*@h/db'"):
        normalise_url("mysql://u:secret@h/db")


def test_init_db_is_idempotent_and_records_every_version(store: Store) -> None:
    assert init_db(store.engine) == latest_version()
    assert init_db(store.engine) == latest_version()
    assert current_version(store.engine) == latest_version()
    with store.engine.connect() as conn:
        versions = conn.execute(sa.text("SELECT version FROM schema_version ORDER BY version")).scalars().all()
    assert versions == [m.version for m in MIGRATIONS]


def test_concurrent_init_on_a_fresh_sqlite_file_migrates_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engines = [make_engine(url) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(init_db, engines)) == [latest_version()] * 4
    with engines[0].connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM schema_version")).scalar() == len(MIGRATIONS)
    for engine in engines:
        engine.dispose()


def test_pending_migrations_run_in_order_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    init_db(engine)
    calls: list[int] = []

    def add_column(version: int) -> Callable[[sa.Connection], None]:
        def apply(conn: sa.Connection) -> None:
            calls.append(version)
            conn.exec_driver_sql(f"ALTER TABLE merchants ADD COLUMN extra_{version} TEXT")

        return apply

    from storage import migrations

    more = [*MIGRATIONS]
    for v in (len(MIGRATIONS) + 1, len(MIGRATIONS) + 2):
        more.append(migrations.Migration(v, f"test {v}", add_column(v)))
    monkeypatch.setattr(migrations, "MIGRATIONS", more)

    assert init_db(engine) == len(more)
    assert init_db(engine) == len(more)
    assert calls == [len(MIGRATIONS) + 1, len(MIGRATIONS) + 2]
    engine.dispose()


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    init_db(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("INSERT INTO schema_version (version, name, applied_at) VALUES (999, 'x', '2030-01-01')")
    with pytest.raises(SchemaError, match="newer Aftercare"):
        init_db(engine)
    engine.dispose()


def test_tables_without_schema_version_are_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (x INTEGER)")
    with pytest.raises(SchemaError, match="no schema_version"):
        init_db(engine)
    engine.dispose()
