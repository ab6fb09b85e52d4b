"""One `store` fixture, two backends: every storage test runs on SQLite (a temp file) and PostgreSQL.

PostgreSQL: the server at 127.0.0.1:5432 (trust auth, user postgres; override with
AFTERCARE_TEST_PG_ADMIN, a libpq DSN). The suite creates its own database, `aftercare_test_<random>`,
and drops it at the end. If the server is unreachable the PostgreSQL half is skipped, with the
reason, unless CI is set, in which case that is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg import sql

from domain import Channel, MessageRequest, Order, Step
from storage import Store, init_db, make_engine

PG_ADMIN_DSN = os.environ.get(
    "AFTERCARE_TEST_PG_ADMIN", "host=127.0.0.1 port=5432 user=postgres dbname=postgres connect_timeout=3"
)
T0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
MakeOrder = Callable[..., Order]  # the make_order fixture
MakeRequest = Callable[..., MessageRequest]  # the make_request fixture


@contextmanager
def _pg_admin() -> Iterator[psycopg.Connection]:
    try:
        admin = psycopg.connect(PG_ADMIN_DSN, autocommit=True)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL not reachable with {PG_ADMIN_DSN!r}: {str(exc).strip()}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so PostgreSQL tests must run)")
        pytest.skip(f"{reason}; start it, or set CI=1 to make this a failure")
    try:
        yield admin
    finally:
        admin.close()


def _create_database(admin: psycopg.Connection) -> tuple[str, str]:
    """A new, empty database named `aftercare_test_<random>`: (name, SQLAlchemy URL)."""
    name = f"aftercare_test_{uuid.uuid4().hex[:12]}"
    admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    info = admin.info
    url = sa.URL.create(
        "postgresql+psycopg", username=info.user, host=info.host, port=info.port, database=name
    ).render_as_string(hide_password=False)
    return name, url


def _drop_database(admin: psycopg.Connection, name: str) -> None:
    admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session, its schema created; dropped afterwards."""
    with _pg_admin() as admin:
        name, url = _create_database(admin)
        try:
            engine = make_engine(url)
            init_db(engine)
            engine.dispose()
            yield url
        finally:
            _drop_database(admin, name)


@pytest.fixture
def empty_db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """The URL of a database with nothing in it, on each backend: for tests that build an old schema."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    with _pg_admin() as admin:
        name, url = _create_database(admin)
        try:
            yield url
        finally:
            _drop_database(admin, name)


@pytest.fixture(scope="session")
def pg_store(pg_url: str) -> Iterator[Store]:
    store = Store.open(pg_url, init=False)
    yield store
    store.close()


def _truncate_all(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql(
            "TRUNCATE messages, suppressions, tracking_events, unmatched_tracking_events, carrier_payloads, shipments, "
            "store_deliveries, "
            "orders, customers, merchants, console_sessions, api_tokens, audit_log RESTART IDENTITY"
        )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    """A Store on an empty schema, on each backend in turn."""
    if backend == "sqlite":
        sqlite_store = Store.open(f"sqlite:///{tmp_path / 'db' / 'aftercare.db'}")
        yield sqlite_store
        sqlite_store.close()
        return
    pg: Store = request.getfixturevalue("pg_store")
    _truncate_all(pg)
    yield pg


# -- builders --------------------------------------------------------------------------------------


def make_order(
    order_id: str = "1001",
    *,
    merchant_id: str = "acme",
    customer_id: str = "c-1",
    email: str | None = "ada@example.com",
    placed_at: datetime = T0,
    total: str = "59.90",
    **customer: object,
) -> Order:
    return Order.model_validate(
        {
            "merchant_id": merchant_id,
            "order_id": order_id,
            "placed_at": placed_at,
            "currency": "EUR",
            "total": Decimal(total),
            "customer": {"id": customer_id, "first_name": "Ada", "email": email, **customer},
            "shipping_address": {"country": "DE", "city": "Berlin"},
            "items": [
                {"id": "li-1", "sku": "MUG-BLUE", "name": "Blue mug", "quantity": 2, "unit_price": "19.95"},
                {"id": "li-2", "sku": "BEANS", "name": "Coffee beans", "quantity": 1, "unit_price": "20.00"},
            ],
        }
    )


def make_request(
    key: str = "order-acme-1001:confirmation:email",
    *,
    step: Step = Step.CONFIRMATION,
    channel: Channel = Channel.EMAIL,
    requested_at: datetime = T0,
    customer_id: str = "c-1",
    recipient: str | None = "ada@example.com",
    marketing: bool = False,
    **extra: object,
) -> MessageRequest:
    return MessageRequest.model_validate(
        {
            "idempotency_key": key,
            "merchant_id": "acme",
            "order_id": "1001",
            "customer_id": customer_id,
            "step": step,
            "channel": channel,
            "recipient": recipient,
            "locale": "en",
            "requested_at": requested_at,
            "policy_hash": "sha256:test",
            "marketing": marketing,
            **extra,
        }
    )


@pytest.fixture(name="make_order")
def _make_order_fixture() -> MakeOrder:
    """Builder for valid domain Orders (keyword overrides for ids, customer details, times)."""
    return make_order


@pytest.fixture(name="make_request")
def _make_request_fixture() -> MakeRequest:
    """Builder for MessageRequests (keyword overrides for key, step, channel, time, recipient...)."""
    return make_request
