"""Shared vocabulary: pydantic models and enums every room speaks. No I/O, imports nothing of ours."""

from domain.delays import DelayAlert, DelayKind
from domain.messages import Channel, MessageOutcome, MessageRequest, MessageStatus, SkipReason, Step
from domain.orders import (
    Address,
    Customer,
    LineItem,
    Order,
    check_locale,
    check_timezone,
    journey_id,
    legacy_journey_id,
    order_of_journey,
)
from domain.payments import PaymentRef, RefundInstruction, RefundReason, RefundReceipt
from domain.returns import ReturnLabel, ReturnLabelRequest
from domain.support import Actor, AuditEntry, Role
from domain.tracking import (
    FINAL_STATUSES,
    ExceptionReason,
    PollRequest,
    PollResult,
    Shipment,
    TrackingEvent,
    TrackingStatus,
    legacy_shipment_workflow_id,
    parcel_of_workflow_id,
    shipment_workflow_id,
    shipment_workflow_ids,
)

__all__ = [
    "FINAL_STATUSES",
    "Actor",
    "Address",
    "AuditEntry",
    "Channel",
    "Customer",
    "DelayAlert",
    "DelayKind",
    "ExceptionReason",
    "LineItem",
    "MessageOutcome",
    "MessageRequest",
    "MessageStatus",
    "Order",
    "PaymentRef",
    "PollRequest",
    "PollResult",
    "RefundInstruction",
    "RefundReason",
    "RefundReceipt",
    "ReturnLabel",
    "ReturnLabelRequest",
    "Role",
    "Shipment",
    "SkipReason",
    "Step",
    "TrackingEvent",
    "TrackingStatus",
    "check_locale",
    "check_timezone",
    "journey_id",
    "legacy_journey_id",
    "legacy_shipment_workflow_id",
    "order_of_journey",
    "parcel_of_workflow_id",
    "shipment_workflow_id",
    "shipment_workflow_ids",
]
