"""Row to model, once per model: how a database row becomes the domain model or record callers get.

Every query that hands a model out goes through one of these, so a column added to a table is mapped
in one place.
"""

from __future__ import annotations

from typing import Any, Literal

from domain import Actor, AuditEntry, Customer, Role, Shipment, TrackingEvent
from storage.records import ApiTokenInfo, OrderSummary, OutboxRow, UnmatchedEvent

MatchedBy = Literal["order_id", "email", "tracking_number"]


def customer_from_row(row: Any) -> Customer:
    """A customers row: the latest known details and consent."""
    return Customer(
        id=row.customer_id,
        first_name=row.first_name,
        last_name=row.last_name,
        email=row.email,
        phone=row.phone,
        locale=row.locale,
        timezone=row.timezone,
        marketing_consent=row.marketing_consent,
        whatsapp_opt_in=row.whatsapp_opt_in,
    )


def shipment_from_row(row: Any) -> Shipment:
    return Shipment(
        carrier=row.carrier,
        tracking_number=row.tracking_number,
        items=row.items,
        shipped_at=row.shipped_at,
        tracking_url=row.tracking_url,
    )


def unmatched_from_row(row: Any) -> UnmatchedEvent:
    return UnmatchedEvent(
        id=row.pk,
        event=TrackingEvent.model_validate(row.event),
        payload_sha256=row.payload_sha256,
        received_at=row.received_at,
    )


def outbox_from_row(row: Any) -> OutboxRow:
    """A messages row, read with `.mappings()`: every column but the primary key."""
    data = dict(row)
    data.pop("pk", None)
    return OutboxRow.model_validate(data)


def actor_from_token_row(row: Any) -> Actor:
    """Who an api_tokens row (or a select of its name, role and merchant_id) stands for."""
    return Actor(name=row.name, role=Role(row.role), merchant_id=row.merchant_id)


def token_info_from_row(row: Any) -> ApiTokenInfo:
    return ApiTokenInfo(
        name=row.name,
        role=Role(row.role),
        merchant_id=row.merchant_id,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def audit_from_row(row: Any) -> AuditEntry:
    return AuditEntry(
        entry_id=row.entry_id,
        merchant_id=row.merchant_id,
        order_id=row.order_id,
        action=row.action,
        actor=Actor(name=row.actor_name, role=Role(row.actor_role), merchant_id=row.actor_merchant_id),
        at=row.at,
        outcome=row.outcome,
        request=row.request,
        result=row.result,
        before=row.before,
        after=row.after,
        reason=row.reason,
    )


def order_summary_from_row(row: Any, matched_by: MatchedBy) -> OrderSummary:
    """An orders row joined with its customer's name and email: one search hit."""
    name = " ".join(part for part in (row.first_name, row.last_name) if part) or None
    return OrderSummary(
        merchant_id=row.merchant_id,
        order_id=row.order_id,
        customer_name=name,
        customer_email=row.email,
        placed_at=row.placed_at,
        total=row.total,
        currency=row.currency,
        matched_by=matched_by,
    )
