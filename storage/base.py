"""What every part of the `Store` shares: the table handles, the engine and its writer, and the few
helpers a query or an idempotent insert needs on both backends.

Every method of the Store is one transaction: reads go through `engine`, writes through `_writer`
(on SQLite a transaction that takes the write lock up front; see storage.db.writer).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine, Row

from storage import tables
from storage.db import writer
from storage.records import UnmatchedLimits


def _table(row: Any) -> sa.Table:
    """The Core table behind a sqlmodel table class (`__table__` is set at runtime, so typed Any here)."""
    table: sa.Table = row.__table__
    return table


MERCHANTS, CUSTOMERS, ORDERS, SHIPMENTS = map(
    _table, [tables.MerchantRow, tables.CustomerRow, tables.OrderRow, tables.ShipmentRow]
)
EVENTS, UNMATCHED, PAYLOADS = map(_table, [tables.TrackingEventRow, tables.UnmatchedEventRow, tables.CarrierPayloadRow])
MESSAGES, SUPPRESSIONS = map(_table, [tables.MessageRow, tables.SuppressionRow])
TOKENS, SESSIONS, AUDIT = map(_table, [tables.ApiTokenRow, tables.ConsoleSessionRow, tables.AuditLogRow])
STORE_DELIVERIES = _table(tables.StoreDeliveryRow)


class Rollback(Exception):
    """Raised inside a transaction to undo it and return `result` from the method."""

    def __init__(self, result: Any) -> None:
        self.result = result


def insert_for(conn: Connection, table: sa.Table) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (same API on SQLite and PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


class StoreBase:
    """The engine and its writer, shared by the per-aggregate parts the `Store` is made of.
    Thread-safe: each call checks out its own connection."""

    def __init__(self, engine: Engine, unmatched_limits: UnmatchedLimits | None = None) -> None:
        self.engine = engine
        self._writer = writer(engine)
        self.unmatched_limits = unmatched_limits or UnmatchedLimits()
        self._last_expiry: float | None = None  # time.monotonic() when a push last ran the expiry

    def _rows(self, query: sa.Select[Any]) -> Sequence[Row[Any]]:
        """Every row `query` selects, read in a transaction of its own."""
        with self.engine.begin() as conn:
            return conn.execute(query).all()

    def _row(self, query: sa.Select[Any]) -> Row[Any] | None:
        """The first row `query` selects, or None."""
        with self.engine.begin() as conn:
            return conn.execute(query).first()

    def _scalars(self, query: sa.Select[Any]) -> list[Any]:
        """The first column of every row `query` selects."""
        with self.engine.begin() as conn:
            return list(conn.execute(query).scalars())


def of_order(table: sa.Table, merchant_id: str, order_id: str) -> sa.ColumnElement[bool]:
    """The rows of `table` that belong to one merchant's order."""
    return sa.and_(table.c.merchant_id == merchant_id, table.c.order_id == order_id)


def insert_new(conn: Connection, table: sa.Table, unique: list[str], **values: Any) -> bool:
    """INSERT ... ON CONFLICT (`unique`) DO NOTHING: True if the row is new, False if one with the same
    key was there already (a repeat, which changes nothing). Race-safe on both backends."""
    inserted = conn.execute(
        insert_for(conn, table).values(**values).on_conflict_do_nothing(index_elements=unique).returning(table.c.pk)
    ).first()
    return inserted is not None
