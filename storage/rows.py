"""Row to model, once per model: how a database row becomes the domain model or record callers get.

Columns map onto the model's fields of the same name (`model_from_row`, and `row_values` the other
way); each model's function below says only what differs. Every query that hands a model out goes
through one of these, so a column added to a table and to its model is mapped without touching a query.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from pydantic import BaseModel

from domain import Actor, AuditEntry, Customer, Role, Shipment
from storage.records import ApiTokenInfo, OrderSummary, OutboxRow, UnmatchedEvent

M = TypeVar("M", bound=BaseModel)
MatchedBy = Literal["order_id", "email", "tracking_number"]


def model_from_row(model: type[M], row: Any, **fields: Any) -> M:
    """`model` from the columns of `row` named like its fields (a Row or a RowMapping), plus `fields`
    for those the table names otherwise or does not have."""
    columns = row._mapping if isinstance(row, sa.Row) else row
    data = {name: columns[name] for name in model.model_fields if name in columns}
    return model.model_validate(data | fields)


def row_values(obj: BaseModel, table: sa.Table, **columns: Any) -> dict[str, Any]:
    """The other way round: the values of `obj`'s fields that `table` has a column of the same name for,
    as they are, plus `columns` for the rest (and for values stored otherwise, like an enum's value)."""
    values = {name: getattr(obj, name) for name in type(obj).model_fields if name in table.c}
    return values | columns


def customer_from_row(row: Any) -> Customer:
    """A customers row: the latest known details and consent."""
    return model_from_row(Customer, row, id=row.customer_id)


def shipment_from_row(row: Any) -> Shipment:
    return model_from_row(Shipment, row)


def unmatched_from_row(row: Any) -> UnmatchedEvent:
    return model_from_row(UnmatchedEvent, row, id=row.pk)


def outbox_from_row(row: Any) -> OutboxRow:
    return model_from_row(OutboxRow, row)


def actor_from_token_row(row: Any) -> Actor:
    """Who an api_tokens row (or a select of its name, role and merchant_id) stands for."""
    return Actor(name=row.name, role=Role(row.role), merchant_id=row.merchant_id)


def token_info_from_row(row: Any) -> ApiTokenInfo:
    return model_from_row(ApiTokenInfo, row)


def audit_from_row(row: Any) -> AuditEntry:
    actor = Actor(name=row.actor_name, role=Role(row.actor_role), merchant_id=row.actor_merchant_id)
    return model_from_row(AuditEntry, row, actor=actor)


def order_summary_from_row(row: Any, matched_by: MatchedBy) -> OrderSummary:
    """An orders row joined with its customer's name and email: one search hit."""
    name = " ".join(part for part in (row.first_name, row.last_name) if part) or None
    return model_from_row(OrderSummary, row, customer_name=name, customer_email=row.email, matched_by=matched_by)
