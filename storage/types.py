"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp that goes in aware and comes out aware, in UTC, on every backend.

    PostgreSQL keeps the offset (timestamptz); SQLite keeps text without one and hands back naive
    values. Storing UTC everywhere and re-attaching UTC on the way out means callers only ever see
    aware datetimes, and range queries compare like with like. Naive input is refused: guessing its
    zone is how timestamps silently drift by hours.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}: {value!r}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()} refused: give it a timezone (UTC)")
        value = value.astimezone(UTC)
        # SQLite stores text: drop the (now always +00:00) offset so every stored value sorts alike.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ExactDecimal(sa.TypeDecorator[Decimal]):
    """Money: NUMERIC on PostgreSQL; decimal text on SQLite, whose NUMERIC is a binary float that
    turns 1234567.89 into 1234567.8899999999. Always a Decimal back."""

    impl = sa.Numeric(18, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(sa.String(40))
        return dialect.type_descriptor(sa.Numeric(18, 4))

    def process_bind_param(self, value: Any, dialect: sa.Dialect) -> Any:
        if value is None:
            return None
        value = Decimal(str(value))
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> Decimal | None:
        return None if value is None else Decimal(str(value))


# JSON documents: JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONDoc: sa.types.TypeEngine[Any] = sa.JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The wall clock, aware and in UTC: for bookkeeping columns (created_at, received_at)."""
    return datetime.now(UTC)
