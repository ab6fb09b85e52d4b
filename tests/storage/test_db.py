"""Engines and schema versions."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import sqlalchemy as sa

from storage import SchemaError, Store, current_revision, head_revision, init_db, make_engine, require_current
from storage.db import normalise_url


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


def test_init_db_is_idempotent_and_leaves_the_database_at_head(store: Store) -> None:
    assert init_db(store.engine) == head_revision()
    assert init_db(store.engine) == head_revision()
    assert current_revision(store.engine) == head_revision()
    require_current(store.engine)  # what the API and worker check at start: passes
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all() == [head_revision()]


def test_concurrent_init_on_a_fresh_sqlite_file_migrates_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    engines = [make_engine(url) for _ in range(4)]
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(init_db, engines)) == [head_revision()] * 4
    with engines[0].connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    for engine in engines:
        engine.dispose()


def test_a_database_newer_than_the_code_is_refused(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    init_db(engine)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00d'")
    with pytest.raises(SchemaError, match=r"revision f00d, which this code does not know.*newer Aftercare"):
        init_db(engine)
    with pytest.raises(SchemaError, match="newer Aftercare"):
        require_current(engine)
    engine.dispose()


def test_tables_without_a_version_table_are_refused_and_left_alone(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE orders (x INTEGER)")
    with pytest.raises(
        SchemaError, match=r"Aftercare tables \(orders\) but neither alembic_version nor schema_version"
    ):
        init_db(engine)
    assert sa.inspect(engine).get_table_names() == ["orders"]
    engine.dispose()
