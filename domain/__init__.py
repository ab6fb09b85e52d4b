"""Shared vocabulary: pydantic models and enums every room speaks. No I/O, imports nothing of ours."""

from domain.delays import DelayAlert, DelayKind
from domain.messages import Channel, MessageOutcome, MessageRequest, MessageStatus, SkipReason, Step
from domain.orders import Address, Customer, LineItem, Order, journey_id
from domain.payments import (
    FoundRefund,
    PaymentFacts,
    PaymentLookup,
    PaymentRef,
    RefundInstruction,
    RefundReason,
    RefundReceipt,
    currency_exponent,
)
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
    shipment_workflow_id,
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
    "FoundRefund",
    "LineItem",
    "MessageOutcome",
    "MessageRequest",
    "MessageStatus",
    "Order",
    "PaymentFacts",
    "PaymentLookup",
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
    "currency_exponent",
    "journey_id",
    "shipment_workflow_id",
]
