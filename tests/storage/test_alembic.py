"""The schema under Alembic (storage/alembic/): `alembic upgrade head` builds exactly the models' schema on SQLite and
PostgreSQL; a database made before Alembic (the hand-written list, at its last version 8 or its first) upgrades with
nothing lost; the API and worker refuse a database behind this code, and `aftercare db` says and fixes it."""

from __future__ import annotations

import asyncio
import os
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import main as alembic_main
from alembic.runtime.migration import MigrationContext
from sqlmodel import SQLModel

from aftercare.cli import main as aftercare_main
from aftercare.runtime import open_store
from aftercare.settings import REPO_ROOT, load_settings
from domain import Channel, Role, Shipment, TrackingEvent, TrackingStatus
from storage import SchemaBehindError, Store, current_revision, head_revision, init_db, make_engine
from storage.records import SuppressionReason
from tests.storage import old_schema
from tests.storage.conftest import T0, MakeOrder, MakeRequest

HEAD_TABLES = {t for t in SQLModel.metadata.tables} | {"alembic_version"}


def differences(engine: sa.Engine) -> list[Any]:
    """What `alembic revision --autogenerate` would write: the models against the database, types included."""
    with warnings.catch_warnings():  # SQLite cannot reflect the expression index; PostgreSQL compares it
        warnings.filterwarnings("ignore", "autogenerate skipping metadata-specified expression-based index")
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        with engine.connect() as conn:
            return list(
                compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), SQLModel.metadata)
            )


def index_names(engine: sa.Engine) -> set[str]:
    catalogue = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
    )
    with engine.connect() as conn:
        return set(conn.exec_driver_sql(catalogue).scalars())


def all_rows(engine: sa.Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table the models know, in a stable order: what "nothing lost" compares. Only the columns
    version 8 had: later revisions' columns start empty."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for name, table in SQLModel.metadata.tables.items():
            later = old_schema.ADDED_AFTER_V8.get(name, ())
            rows = conn.execute(sa.select(*[c for c in table.c if c.name not in later])).all()
            out[name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def test_alembic_upgrade_head_builds_exactly_the_models_schema(
    empty_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`alembic upgrade head`, the plain command with the repository's alembic.ini, on the database in
    AFTERCARE_DATABASE_URL (env.py reads it through our settings)."""
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", empty_db_url)
    alembic_main(["-c", str(REPO_ROOT / "alembic.ini"), "upgrade", "head"])

    engine = make_engine(empty_db_url)
    assert current_revision(engine) == head_revision()
    assert set(sa.inspect(engine).get_table_names()) == HEAD_TABLES
    assert differences(engine) == []
    expected_indexes = {i.name for t in SQLModel.metadata.tables.values() for i in t.indexes}
    assert expected_indexes <= index_names(engine)  # the expression index too, which SQLite cannot compare
    engine.dispose()


def fill(store: Store, make_order: MakeOrder, make_request: MakeRequest) -> None:
    """Some of every kind of row today's code writes."""
    store.upsert_merchant("acme", "Acme", "sha256:p")
    store.record_order(make_order("1001", email="Ada@Example.com"), {"id": 1001, "note": "raw"})
    store.record_order(make_order("1002", customer_id="c-2", email="bob@example.com"), {"id": 1002})
    store.record_shipment("acme", "1001", Shipment(carrier="ups", tracking_number="1Z0001", items={"li-1": 2}))
    scan = TrackingEvent(
        event_id="e1", carrier="ups", tracking_number="1Z0001", status=TrackingStatus.IN_TRANSIT, occurred_at=T0
    )
    store.record_carrier_push("ups", b'{"scan":"e1"}', [scan])
    lost = scan.model_copy(update={"tracking_number": "1Z9999", "event_id": "u1"})
    store.record_carrier_push("ups", b'{"scan":"u1"}', [lost])  # nobody's parcel (yet): kept unmatched
    store.claim_message(make_request())
    store.mark_sent("order-acme-1001:confirmation:email", "prov-1", T0 + timedelta(minutes=1))
    store.suppress(Channel.SMS, "+4915112345678", SuppressionReason.OPTED_OUT)
    issued = store.create_api_token("alice", Role.SUPPORT)
    assert store.open_session(issued.token, timedelta(hours=8)) is not None


def build_version_8(url: str, make_order: MakeOrder, make_request: MakeRequest) -> sa.Engine:
    """A database as the code before Alembic made it: today's tables (version 8 is the baseline), the list's
    `schema_version` with versions 1..8, and rows."""
    engine = make_engine(url)
    with engine.begin() as conn:
        SQLModel.metadata.create_all(conn)
        for table, columns in old_schema.ADDED_AFTER_V8.items():  # the models' columns version 8 did not have
            for column in columns:
                conn.execute(sa.text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        old_schema.SCHEMA_VERSION.create(conn)
        conn.execute(
            old_schema.SCHEMA_VERSION.insert(),
            [{"version": v, "name": f"v{v}", "applied_at": T0} for v in range(1, 9)],
        )
    fill(Store(engine), make_order, make_request)
    return engine


def test_a_version_8_database_with_rows_upgrades_with_nothing_lost(
    empty_db_url: str, make_order: MakeOrder, make_request: MakeRequest
) -> None:
    engine = build_version_8(empty_db_url, make_order, make_request)
    before = all_rows(engine)
    assert old_schema.legacy_version(engine) == 8 and current_revision(engine) is None
    assert sum(map(len, before.values())) >= 10

    assert init_db(engine) == head_revision()

    assert all_rows(engine) == before
    assert old_schema.legacy_version(engine) is None  # dropped: alembic_version is the one record now
    assert set(sa.inspect(engine).get_table_names()) == HEAD_TABLES
    assert differences(engine) == []
    upgraded = Store(engine)  # and today's code works on it
    assert [s.order_id for s in upgraded.find_orders("ada@example.com")] == ["1001"]
    assert [e.event_id for e in upgraded.claim_parcel_events("ups", "1Z0001")] == ["e1"]
    assert init_db(engine) == head_revision()  # again: nothing to do
    engine.dispose()


@pytest.mark.parametrize("version", range(1, 9))
def test_a_database_at_any_old_version_upgrades_keeping_its_rows(
    version: int, empty_db_url: str, make_order: MakeOrder
) -> None:
    """Versions 1..8 of the hand-written list, each as that list left it: the baseline finishes the list's steps."""
    from storage import migrations
    from tests.storage.test_support_store import build_version_1

    engine = build_version_1(empty_db_url, lambda old: old.record_order(make_order("1001"), {"raw": True}))
    with engine.begin() as conn:  # what the list did to reach `version`, as it did it
        for step in migrations.MIGRATIONS[1:version]:
            step.apply(conn)
            conn.execute(old_schema.SCHEMA_VERSION.insert().values(version=step.version, name=step.name, applied_at=T0))
    assert old_schema.legacy_version(engine) == version

    assert init_db(engine) == head_revision()
    assert differences(engine) == []
    assert old_schema.legacy_version(engine) is None
    upgraded = Store(engine)
    assert upgraded.get_order("acme", "1001") == make_order("1001")
    assert upgraded.get_raw_order("acme", "1001") == {"raw": True}
    engine.dispose()


# -- who upgrades, who refuses ------------------------------------------------------------------------


@pytest.fixture
def db_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'aftercare.db'}"
    monkeypatch.setenv("AFTERCARE_DATABASE_URL", url)
    monkeypatch.setenv("AFTERCARE_HOME", str(tmp_path / "home"))
    return url


def test_api_and_worker_refuse_a_database_behind_and_say_what_to_run(
    db_env: str, make_order: MakeOrder, make_request: MakeRequest
) -> None:
    engine = build_version_8(db_env, make_order, make_request)  # made by the code before Alembic
    before = all_rows(engine)

    with pytest.raises(SchemaBehindError, match=r"Run `aftercare db upgrade` \(same AFTERCARE_DATABASE_URL\)"):
        open_store(load_settings())  # what the API's lifespan and the worker open first

    import worker
    from api.main import app, lifespan

    umask = os.umask(0o022)
    os.umask(umask)
    try:
        with pytest.raises(SchemaBehindError, match="aftercare db upgrade"):
            asyncio.run(worker.main())  # before it would wait for Temporal
        with pytest.raises(SchemaBehindError, match="aftercare db upgrade"):
            asyncio.run(lifespan(app).__aenter__())
    finally:
        os.umask(umask)  # both make theirs private (secure_home): not this test process's business
    assert all_rows(engine) == before and old_schema.legacy_version(engine) == 8  # refused: nothing touched

    assert aftercare_main(["db", "upgrade"]) == 0
    store = open_store(load_settings())  # now they start
    store.close()
    assert all_rows(engine) == before
    engine.dispose()


def test_db_current_and_upgrade(db_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert aftercare_main(["db", "current"]) == 1
    assert "revision none; this version needs" in capsys.readouterr().out
    assert aftercare_main(["db", "upgrade"]) == 0
    assert f"upgraded from nothing to revision {head_revision()} (head)" in capsys.readouterr().out
    assert aftercare_main(["db", "upgrade"]) == 0
    assert "nothing to do" in capsys.readouterr().out
    assert aftercare_main(["db", "current"]) == 0
    assert f"revision {head_revision()} (head)" in capsys.readouterr().out
