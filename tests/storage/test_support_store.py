"""The support console's storage: schema version 2, API tokens, the audit log, order search and the
per-order tracking timeline. Every test runs on SQLite and PostgreSQL (see conftest)."""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import SQLModel

from domain import Actor, AuditEntry, Role, Shipment, TrackingEvent, TrackingStatus, legacy_journey_id
from storage import Store, TokenNameTakenError, current_revision, head_revision, init_db, make_engine
from storage import repository as repo
from tests.storage import old_schema
from tests.storage.conftest import T0, MakeOrder

V1_TABLES = (
    "merchants",
    "customers",
    "orders",
    "shipments",
    "tracking_events",
    "unmatched_carrier_events",
    "messages",
    "suppressions",
)
V2_INDEXES_ON_V1_TABLES = ("ix_orders_order_id", "ix_customers_email_lower", "ix_shipments_tracking_number")
# Columns later migrations added to version 1's tables: (table, column, migration version).
LATER_COLUMNS = (
    ("orders", "workflow_id", 4),
    ("messages", "delivery_status", 7),
    ("messages", "delivery_at", 7),
    ("messages", "delivery_detail", 7),
)
# Indexes later migrations added on version 1's tables (before a column they cover could go, on SQLite).
LATER_INDEXES = (("ix_messages_provider_message_id", 7),)


def schema_of(engine: sa.Engine) -> dict[str, Any]:
    """Tables with their columns, indexes and unique constraints, as the database reports them; and the
    names of all indexes from the catalogue (SQLAlchemy does not reflect SQLite's expression indexes)."""
    inspector = sa.inspect(engine)
    shape: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index")
        for table in sorted(inspector.get_table_names()):
            shape[table] = {
                "columns": [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
                "indexes": sorted(
                    (i["name"], tuple(map(str, i["column_names"])), tuple(i.get("expressions") or ()), i["unique"])
                    for i in inspector.get_indexes(table)
                ),
                "unique": sorted(
                    (u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table)
                ),
            }
    catalogue = (
        "SELECT name FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
        if engine.dialect.name == "sqlite"
        else "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'"
    )
    with engine.connect() as conn:
        shape["index names"] = sorted(conn.exec_driver_sql(catalogue).scalars())
    return shape


def build_version_1(url: str, fill: Callable[[Store], None] = lambda _: None) -> sa.Engine:
    """A database as version 1 of the schema left it, with the rows `fill` writes: no api_tokens, no audit_log,
    no search indexes, none of the columns later versions added."""
    engine = make_engine(url)
    with engine.begin() as conn:
        unchanged = [name for name in V1_TABLES if name not in old_schema.CHANGED_IN_V3]
        SQLModel.metadata.create_all(conn, tables=[SQLModel.metadata.tables[name] for name in unchanged])
        old_schema.V2.create_all(
            conn, tables=[old_schema.V2.tables[name] for name in (*old_schema.CHANGED_IN_V3, "schema_version")]
        )
    fill(Store(engine))
    with engine.begin() as conn:
        for index, _ in LATER_INDEXES:
            conn.exec_driver_sql(f"DROP INDEX {index}")
        for table, column, _ in LATER_COLUMNS:
            conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        for table, columns in old_schema.ADDED_AFTER_V8.items():  # Alembic revisions' columns
            for column in columns:
                conn.exec_driver_sql(f"ALTER TABLE {table} DROP COLUMN {column}")
        for index in V2_INDEXES_ON_V1_TABLES:
            conn.exec_driver_sql(f"DROP INDEX {index}")
        conn.execute(
            sa.text("INSERT INTO schema_version (version, name, applied_at) VALUES (1, 'baseline', :at)"),
            {"at": T0.replace(tzinfo=None) if conn.dialect.name == "sqlite" else T0},
        )
    return engine


# -- schema version 2 --------------------------------------------------------------------------------


def test_a_version_1_database_upgrades_to_the_shape_of_a_fresh_one(
    empty_db_url: str, store: Store, make_order: MakeOrder
) -> None:
    def fill(old: Store) -> None:
        old.record_order(make_order("1001", email="Ada@Example.com"), {})
        old_schema.insert_shipment(old.engine, "acme", "1001", "ups", "1Z0001", {"li-1": 2})

    engine = build_version_1(empty_db_url, fill)
    assert old_schema.legacy_version(engine) == 1 and current_revision(engine) is None
    assert "api_tokens" not in sa.inspect(engine).get_table_names()

    assert init_db(engine) == head_revision()
    migrated = schema_of(engine)
    assert migrated == schema_of(store.engine)  # `store` is a fresh database at the latest version
    assert set(V2_INDEXES_ON_V1_TABLES) | {"uq_api_tokens_active_name", "ix_audit_log_order"} <= set(
        migrated["index names"]
    )

    upgraded = Store(engine)  # the data of version 1 is still there and searchable
    assert [s.matched_by for s in upgraded.find_orders("ada@example.com")] == ["email"]
    assert [s.order_id for s in upgraded.find_orders("1z0001")] == ["1001"]
    issued = upgraded.create_api_token("alice", Role.SUPPORT)
    assert upgraded.authenticate(issued.token) == Actor(name="alice", role=Role.SUPPORT)
    # Alembic keeps the version now: the list's table is gone, so the two can never disagree.
    assert old_schema.legacy_version(engine) is None and current_revision(engine) == head_revision()
    # An order taken before journey ids became unambiguous keeps the id its running journey has.
    assert upgraded.journey_workflow_id("acme", "1001") == legacy_journey_id("acme", "1001") == "order-acme-1001"
    assert upgraded.journey_workflow_id("acme", "nope") is None
    engine.dispose()


# -- API tokens --------------------------------------------------------------------------------------


def test_a_token_authenticates_as_its_actor_and_only_its_hash_is_stored(store: Store) -> None:
    issued = store.create_api_token("alice", Role.SUPPORT)
    assert issued.token.startswith("ac_sup_") and len(issued.token) > 40
    assert issued.prefix == issued.token[: len("ac_sup_") + 4]
    assert issued.token not in repr(issued)  # a logged IssuedToken does not leak the secret

    assert store.authenticate(issued.token) == Actor(name="alice", role=Role.SUPPORT, merchant_id=None)
    assert store.authenticate(issued.token + "x") is None
    assert store.authenticate("") is None

    with store.engine.connect() as conn:
        rows = [tuple(map(str, r)) for r in conn.execute(sa.text("SELECT * FROM api_tokens")).all()]
    dump = repr(rows)
    assert issued.token not in dump
    assert issued.token[len(issued.prefix) :] not in dump  # not even the secret part without its prefix
    assert repo.hash_token(issued.token) in dump


def test_each_role_gets_its_own_token_prefix(store: Store) -> None:
    prefixes = {
        role: store.create_api_token(f"t-{role.value}", role, "acme" if role is Role.MERCHANT else None)
        for role in Role
    }
    assert {role: p.token[:7] for role, p in prefixes.items()} == {
        Role.SUPPORT: "ac_sup_",
        Role.MERCHANT: "ac_mer_",
        Role.ENGINEER: "ac_eng_",
        Role.ADMIN: "ac_adm_",
    }
    assert store.authenticate(prefixes[Role.MERCHANT].token) == Actor(
        name="t-merchant", role=Role.MERCHANT, merchant_id="acme"
    )


def test_merchant_scope_is_required_for_merchant_tokens_only(store: Store) -> None:
    with pytest.raises(ValueError, match="merchant_id is required for a merchant token"):
        store.create_api_token("shop", Role.MERCHANT)
    with pytest.raises(ValueError, match="merchant_id is only for merchant tokens; a support token"):
        store.create_api_token("bob", Role.SUPPORT, "acme")
    with pytest.raises(ValueError, match="role 'boss' is not one of: support, merchant, engineer, admin"):
        store.create_api_token("bob", "boss")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name must be 1-128 characters"):
        store.create_api_token("  ", Role.SUPPORT)
    assert store.list_api_tokens() == []


def test_an_active_name_is_taken_until_revoked(store: Store) -> None:
    first = store.create_api_token("alice", Role.SUPPORT)
    with pytest.raises(TokenNameTakenError, match="an active API token is already named 'alice'"):
        store.create_api_token("alice", Role.ENGINEER)

    assert store.revoke_api_token("alice") is True
    assert store.revoke_api_token("alice") is False  # nothing active left to revoke
    assert store.revoke_api_token("nobody") is False
    assert store.authenticate(first.token) is None

    rotated = store.create_api_token("alice", Role.SUPPORT)  # rotation: same person, new secret
    assert store.authenticate(rotated.token) == Actor(name="alice", role=Role.SUPPORT)
    assert store.authenticate(first.token) is None


def test_concurrent_creates_of_one_name_issue_one_token(store: Store) -> None:
    barrier = threading.Barrier(4)

    def create(_: int) -> str:
        barrier.wait()
        try:
            return store.create_api_token("alice", Role.SUPPORT).token
        except TokenNameTakenError:
            return "taken"

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(create, range(4)))
    assert sorted(results).count("taken") == 3
    assert [t.name for t in store.list_api_tokens()] == ["alice"]


def test_listing_shows_every_token_without_secrets(store: Store) -> None:
    alice = store.create_api_token("alice", Role.SUPPORT)
    store.create_api_token("acme-shop", Role.MERCHANT, merchant_id="acme")
    store.revoke_api_token("alice")

    listed = store.list_api_tokens()
    assert [(t.name, t.role, t.merchant_id, t.prefix) for t in listed] == [
        ("alice", Role.SUPPORT, None, alice.prefix),
        ("acme-shop", Role.MERCHANT, "acme", listed[1].prefix),
    ]
    assert listed[0].revoked_at is not None and listed[1].revoked_at is None
    assert all(t.created_at.tzinfo is not None for t in listed)
    assert "token_hash" not in repo.ApiTokenInfo.model_fields and "token" not in repo.ApiTokenInfo.model_fields


def test_last_used_is_recorded_but_not_rewritten_on_every_request(store: Store) -> None:
    issued = store.create_api_token("alice", Role.SUPPORT)
    assert store.list_api_tokens()[0].last_used_at is None

    store.authenticate(issued.token)
    first_use = store.list_api_tokens()[0].last_used_at
    assert first_use is not None
    store.authenticate(issued.token)
    assert store.list_api_tokens()[0].last_used_at == first_use  # within LAST_USED_RESOLUTION: no write

    an_hour_ago = first_use - timedelta(hours=1)
    with store.engine.begin() as conn:
        conn.execute(repo._TOKENS.update().values(last_used_at=an_hour_ago))
    store.authenticate(issued.token)
    last = store.list_api_tokens()[0].last_used_at
    assert last is not None and last >= first_use


# -- audit log ---------------------------------------------------------------------------------------


def audit(entry_id: str, minutes: int, **kw: Any) -> AuditEntry:
    return AuditEntry.model_validate(
        {
            "entry_id": entry_id,
            "merchant_id": "acme",
            "order_id": "1001",
            "action": "refund",
            "actor": {"name": "alice", "role": "support"},
            "at": T0 + timedelta(minutes=minutes),
            "outcome": "done",
            **kw,
        }
    )


def test_audit_entries_are_recorded_once_and_listed_oldest_first(store: Store) -> None:
    refund = audit(
        "order-acme-1001:upd-1",
        5,
        request={"amount": "10.00", "items": ["li-1"]},
        result={"refund_id": "re_1"},
        before={"stage": "delivered"},
        after={"stage": "delivered", "refunded": "10.00"},
    )
    cancel = audit(
        "order-acme-1001:upd-0",
        1,
        action="cancel",
        outcome="refused",
        reason="already shipped",
        actor={"name": "acme-shop", "role": "merchant", "merchant_id": "acme"},
    )
    assert store.record_audit(refund) is True
    assert store.record_audit(cancel) is True
    assert store.record_audit(refund.model_copy(update={"outcome": "failed"})) is False  # a retry: first wins
    assert store.record_audit(audit("other", 0, order_id="1002")) is True

    assert store.list_audit("acme", "1001") == [cancel, refund]
    assert store.list_audit("acme", "nope") == []
    assert [e.entry_id for e in store.list_audit("acme", "1002")] == ["other"]


# -- order search and timeline -----------------------------------------------------------------------


@pytest.fixture
def orders(store: Store, make_order: MakeOrder) -> Store:
    """acme: 1001 and 1003 by Ada (placed a day apart), 1002 by Bob with a parcel; shop: 1001 by Ada."""
    store.record_order(make_order("1001", email="Ada.Lovelace@Example.com", last_name="Lovelace"), {})
    store.record_order(make_order("1002", customer_id="c-2", email="bob@example.com", first_name="Bob"), {})
    later = T0 + timedelta(days=1)
    store.record_order(make_order("1003", email="ada.lovelace@example.com", last_name="Lovelace", placed_at=later), {})
    store.record_order(make_order("1001", merchant_id="shop", customer_id="s-9", email="ada@elsewhere.org"), {})
    store.record_shipment("acme", "1002", Shipment(carrier="ups", tracking_number="1Z999AA1", items={"li-1": 2}))
    store.record_shipment("acme", "1002", Shipment(carrier="dhl", tracking_number="JD0002", items={"li-2": 1}))
    return store


def test_find_orders_by_exact_order_id_across_merchants(orders: Store) -> None:
    found = orders.find_orders(" 1001 ")
    assert {(s.merchant_id, s.order_id, s.matched_by) for s in found} == {
        ("acme", "1001", "order_id"),
        ("shop", "1001", "order_id"),
    }
    assert orders.find_orders("100") == []  # exact, not a prefix
    assert [s.merchant_id for s in orders.find_orders("1001", merchant_id="shop")] == ["shop"]


def test_find_orders_by_email_in_any_case_newest_first(orders: Store) -> None:
    found = orders.find_orders("ADA.lovelace@example.COM")
    assert [(s.order_id, s.matched_by) for s in found] == [("1003", "email"), ("1001", "email")]
    first = found[0]
    assert first.customer_email == "ada.lovelace@example.com"  # the customer's latest address
    assert (first.customer_name, first.total, first.currency) == ("Ada Lovelace", Decimal("59.90"), "EUR")
    assert first.placed_at == T0 + timedelta(days=1)
    assert orders.find_orders("ada.lovelace@example.com", limit=1)[0].order_id == "1003"


def test_find_orders_by_tracking_number(orders: Store) -> None:
    for number in ("1Z999AA1", "1z999aa1", "JD0002"):
        found = orders.find_orders(number)
        assert [(s.merchant_id, s.order_id, s.matched_by) for s in found] == [("acme", "1002", "tracking_number")]
        assert found[0].customer_name == "Bob"
    assert orders.find_orders("1Z999AA1", merchant_id="shop") == []
    assert orders.find_orders("nothing") == []
    assert orders.find_orders("   ") == []


def test_tracking_events_for_order_merge_every_parcel_oldest_first(orders: Store) -> None:
    def scan(event_id: str, carrier: str, number: str, minutes: int) -> TrackingEvent:
        return TrackingEvent(
            event_id=event_id,
            carrier=carrier,
            tracking_number=number,
            status=TrackingStatus.IN_TRANSIT,
            occurred_at=T0 + timedelta(minutes=minutes),
        )

    orders.record_tracking_events([scan("u1", "ups", "1Z999AA1", 10), scan("u2", "ups", "1Z999AA1", 30)], "webhook")
    orders.record_tracking_events([scan("d1", "dhl", "JD0002", 20)], "poll")
    orders.record_tracking_events([scan("x1", "ups", "UNRELATED", 15)], "webhook")

    assert [e.event_id for e in orders.tracking_events_for_order("acme", "1002")] == ["u1", "d1", "u2"]
    assert orders.tracking_events_for_order("acme", "1001") == []


# -- console sessions (schema version 3) ---------------------------------------------------------------

HOUR = timedelta(hours=1)


def test_a_session_stands_for_its_tokens_actor_and_only_its_hash_is_stored(store: Store) -> None:
    issued = store.create_api_token("acme-shop", Role.MERCHANT, merchant_id="acme")
    opened = store.open_session(issued.token, 12 * HOUR, now=T0)
    assert opened is not None and opened.session_id != issued.token and len(opened.session_id) >= 40
    assert opened.session_id not in repr(opened)
    assert opened.actor == Actor(name="acme-shop", role=Role.MERCHANT, merchant_id="acme")
    assert store.session_actor(opened.session_id, HOUR, now=T0 + timedelta(minutes=5)) == opened.actor
    assert store.session_actor(issued.token, HOUR, now=T0) is None  # the token is not a session
    assert store.open_session("ac_sup_unknown", HOUR) is None and store.open_session("", HOUR) is None
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT session_hash FROM console_sessions")).scalars().all()
    assert stored == [repo.hash_token(opened.session_id)]


def test_a_session_ends_when_idle_and_at_its_absolute_expiry_however_busy(store: Store) -> None:
    token = store.create_api_token("alice", Role.SUPPORT).token
    idle = timedelta(minutes=30)
    lazy = store.open_session(token, 12 * HOUR, now=T0)
    assert lazy is not None
    assert store.session_actor(lazy.session_id, idle, now=T0 + timedelta(minutes=29)) is not None
    assert store.session_actor(lazy.session_id, idle, now=T0 + timedelta(minutes=58)) is not None  # seen at 29
    assert store.session_actor(lazy.session_id, idle, now=T0 + timedelta(minutes=89)) is None  # 31 idle minutes

    busy = store.open_session(token, 2 * HOUR, now=T0)
    assert busy is not None
    for minute in range(0, 120, 10):
        assert store.session_actor(busy.session_id, idle, now=T0 + timedelta(minutes=minute)) is not None
    assert store.session_actor(busy.session_id, idle, now=T0 + timedelta(minutes=120)) is None


def test_closing_a_session_or_revoking_its_token_ends_it(store: Store) -> None:
    token = store.create_api_token("alice", Role.SUPPORT).token
    first, second = store.open_session(token, HOUR), store.open_session(token, HOUR)
    assert first is not None and second is not None
    assert store.close_session(first.session_id) is True
    assert store.session_actor(first.session_id, HOUR) is None
    assert store.close_session(first.session_id) is False
    assert store.session_actor(second.session_id, HOUR) is not None  # another browser is not signed out

    store.revoke_api_token("alice")
    assert store.session_actor(second.session_id, HOUR) is None
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM console_sessions")).scalar() == 0


def test_ended_sessions_are_deleted_when_new_ones_open(store: Store) -> None:
    token = store.create_api_token("alice", Role.SUPPORT).token
    for _ in range(3):
        store.open_session(token, HOUR, now=T0)
    store.open_session(token, HOUR, now=T0 + 2 * HOUR)
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM console_sessions")).scalar() == 1
