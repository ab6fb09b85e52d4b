"""The journeys' inputs, signals and state: the contract between workflows, the API and tests.

Pure data (pydantic), safe to import anywhere, including the API that starts journeys and
reads their state.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from temporalio.common import SearchAttributeKey, SearchAttributeUpdate

from domain import (
    Channel,
    DelayAlert,
    ExceptionReason,
    MessageOutcome,
    Order,
    Shipment,
    TrackingEvent,
    TrackingStatus,
)
from policies.schema import Policy
from workflows.commands import ActionRecord, ExchangeRecord, Note, RefundRecord

TASK_QUEUE = "aftercare"

# Custom search attributes the journeys keep current (what `GET /v1/orders` filters on), registered by
# `aftercare up`, the tests and the benchmark from this one list.
SA_MERCHANT = SearchAttributeKey.for_keyword("AftercareMerchant")
SA_CUSTOMER = SearchAttributeKey.for_keyword("AftercareCustomer")
SA_STAGE = SearchAttributeKey.for_keyword("AftercareStage")
SA_DELAYED = SearchAttributeKey.for_bool("AftercareDelayed")
SA_DELAY_KINDS = SearchAttributeKey.for_keyword_list("AftercareDelayKinds")
SA_CARRIER_STATUS = SearchAttributeKey.for_keyword("AftercareCarrierStatus")
SA_ORDER_VALUE = SearchAttributeKey.for_float("AftercareOrderValue")
SEARCH_ATTRIBUTE_KEYS: list[SearchAttributeKey[Any]] = [
    SA_MERCHANT,
    SA_CUSTOMER,
    SA_STAGE,
    SA_DELAYED,
    SA_DELAY_KINDS,
    SA_CARRIER_STATUS,
    SA_ORDER_VALUE,
]
# Patches (docs/CHANGING_JOURNEYS.md): each id names what changed, and stays until no workflow that started
# before it is still running.
PATCH_FINDABLE_DETAIL = "findable-detail"  # 2026-11: a tracking child publishes its parcel's carrier status
# 2026-11 (issue 8): tracking children get ids that name their merchant (`domain.shipment_workflow_id`)
PATCH_TENANT_IDS = "tenant-ids"
# 2026-11 (issue 8): a tracking child publishes its carrier status as soon as it starts, not at the first change
PATCH_FINDABLE_FROM_START = "findable-from-start"
# 2026-11 (issue 8): a parcel already final when its tracking starts ends the child at once (no wait for a poll)
PATCH_FINAL_AT_START = "final-at-start"
# 2026-11 (issue 10): an order we hear of late skips, as `stale`, each message whose time passed more than the
# policy's `defaults.stale_after` before intake, instead of sending every overdue one at once
PATCH_STALE_STEPS = "stale-steps"
# The summary of the journey's fulfillment-check timer: when one fires, nothing has shipped within that rung of the
# SLA and the journey detects `fulfillment_late` (the timeline reads it back from the history by this name).
FULFILLMENT_CHECK = "fulfillment SLA"
_CLI_TYPES = {"KEYWORD": "Keyword", "BOOL": "Bool", "KEYWORD_LIST": "KeywordList", "DOUBLE": "Double"}
# name -> the type as `temporal server start-dev --search-attribute NAME=TYPE` spells it
SEARCH_ATTRIBUTES: dict[str, str] = {k.name: _CLI_TYPES[k.indexed_value_type.name] for k in SEARCH_ATTRIBUTE_KEYS}


class Stage(StrEnum):
    CONFIRMED = "confirmed"
    AWAITING_FULFILLMENT = "awaiting_fulfillment"
    PARTIALLY_SHIPPED = "partially_shipped"
    IN_TRANSIT = "in_transit"
    DELIVERED = "delivered"
    POST_DELIVERY = "post_delivery"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class MessagePreferences(BaseModel):
    """What support set for this order's messages: a pause (maybe until a time) and channels opted out of."""

    paused: bool = False
    paused_until: datetime | None = None
    opted_out: list[Channel] = Field(default_factory=list)

    def paused_at(self, now: datetime) -> bool:
        return self.paused and (self.paused_until is None or now < self.paused_until)


class JourneyOptions(BaseModel):
    """Engine knobs that are not the merchant's business (tests and benchmarks turn them)."""

    search_attributes: bool = True
    tracking_history_limit: int = Field(default=2000, ge=50)
    provider_deadline_seconds: float = Field(
        default=120,
        gt=0,
        le=600,
        description="how long a payment call a person waits on is retried before its "
        "outcome is called unknown (a test shortens it)",
    )


class JourneyInput(BaseModel):
    """Order + the merchant's policy snapshot and its hash: a running journey never re-reads YAML."""

    model_config = ConfigDict(hide_input_in_errors=True)  # errors end up in logs: no PII

    order: Order
    policy: Policy
    policy_hash: str
    options: JourneyOptions = JourneyOptions()


# Bounds on what the store tells a journey: a signal's payload stays in its history for good.
MAX_SIGNAL_ITEMS = 100
_Ident = Annotated[str, StringConstraints(min_length=1, max_length=128)]


class ReviewSubmitted(BaseModel):
    """The customer reviewed. `item_ids` empty = the whole order."""

    item_ids: list[_Ident] = Field(default_factory=list, max_length=MAX_SIGNAL_ITEMS)


class Reordered(BaseModel):
    """The customer bought again. `skus` empty = every reorder reminder of this order is moot."""

    skus: list[_Ident] = Field(default_factory=list, max_length=MAX_SIGNAL_ITEMS)
    new_order_id: _Ident | None = None


class ParcelState(BaseModel):
    """One parcel as its tracking child sees it; also what the child reports to the order journey.

    `carrier` moves the parcel (our slug: what the customer is told); `provider` is whom we ask about it
    (None in states recorded before providers were told apart, where `carrier` named the provider)."""

    carrier: str
    provider: str | None = None
    tracking_number: str
    workflow_id: str | None = Field(
        default=None, description="its tracking child's id; None in states recorded before the `tenant-ids` patch"
    )
    items: dict[str, int] = Field(default_factory=dict)
    exchange_id: str | None = Field(default=None, description="set when the parcel carries an exchange's replacement")
    status: TrackingStatus = TrackingStatus.PENDING
    last_event_at: datetime | None = None
    last_description: str = ""
    estimated_delivery: datetime | None = None
    edd_history: list[datetime] = Field(default_factory=list)
    delivered_at: datetime | None = None
    events_seen: int = 0
    delays: list[DelayAlert] = Field(default_factory=list)
    messages: list[MessageOutcome] = Field(default_factory=list, description="what this parcel's child sent")
    final: bool = False

    @property
    def tracked_via(self) -> str:
        """The tracking provider: its pushes and polls, and the tracking child's id, go by this name."""
        return self.provider or self.carrier


class PlannedAction(BaseModel):
    what: str
    due_at: datetime


class JourneyState(BaseModel):
    """Everything the `state` query answers: where the order is, what was sent or skipped, what is next."""

    model_config = ConfigDict(hide_input_in_errors=True)  # errors end up in logs: no PII

    workflow_id: str
    merchant_id: str
    order_id: str
    policy_hash: str
    variants: list[str] = Field(default_factory=list)
    stage: Stage = Stage.CONFIRMED
    parcels: list[ParcelState] = Field(default_factory=list)
    messages: list[MessageOutcome] = Field(default_factory=list)
    delays: list[DelayAlert] = Field(default_factory=list)
    reviewed_items: list[str] = Field(default_factory=list)
    review_submitted: bool = False
    reordered_skus: list[str] = Field(default_factory=list)
    reorder_cancelled: bool = False
    paid: Decimal = Decimal(0)
    currency: str = ""
    refunds: list[RefundRecord] = Field(default_factory=list)
    refunded_total: Decimal = Decimal(0)
    refundable: Decimal = Decimal(0)
    exchanges: list[ExchangeRecord] = Field(default_factory=list)
    cancelled_at: datetime | None = None
    cancel_reason: str = ""
    preferences: MessagePreferences = MessagePreferences()
    notes: list[Note] = Field(default_factory=list)
    actions: list[ActionRecord] = Field(default_factory=list)
    returns_open_until: datetime | None = None
    planned: list[PlannedAction] = Field(default_factory=list)
    next_action: PlannedAction | None = None
    completed_at: datetime | None = None


def merge_live_parcels(state: JourneyState, live: list[ParcelState]) -> JourneyState:
    """The journey's state with its running parcels as their tracking children see them now.

    The order journey hears from a child only about delays and at its end (short histories); a reader
    who wants the live picture queries the children and folds them in here.
    """
    fresh = {p.tracking_number: p for p in live}
    if not fresh:
        return state
    parcels = [fresh.get(p.tracking_number, p) for p in state.parcels]
    replaced = {f"{state.workflow_id}:{n}:" for n in fresh}
    messages = [m for m in state.messages if not any(m.idempotency_key.startswith(r) for r in replaced)]
    for parcel in fresh.values():
        messages.extend(parcel.messages)
    messages.sort(key=lambda m: (m.at is None, m.at))
    return state.model_copy(update={"parcels": parcels, "messages": messages})


class TrackingCarry(BaseModel):
    """What a tracking child hands to its next run when it continues-as-new."""

    parcel: ParcelState
    seen_event_ids: list[str]
    poll_interval_seconds: float
    next_poll_at: datetime
    alerted: list[str]
    exception_since: datetime | None = None
    exception_reason: ExceptionReason | None = None
    pending_events: list[TrackingEvent] = Field(default_factory=list)


class TrackingInput(BaseModel):
    """A tracking child's input: the parcel, the order it belongs to, and the order's effective policy."""

    model_config = ConfigDict(hide_input_in_errors=True)  # errors end up in logs: no PII

    parent_workflow_id: str
    order: Order
    shipment: Shipment
    policy: Policy
    policy_hash: str
    started_at: datetime
    history_limit: int = 2000
    search_attributes: bool = True
    preferences: MessagePreferences = MessagePreferences()
    stale_before: datetime | None = Field(
        default=None,
        description="messages due before this are skipped as stale (the journey's intake less the policy's "
        "`stale_after`); None from journeys started before the `stale-steps` patch",
    )
    carry: TrackingCarry | None = None


def journey_search_attributes(order: Order, state: JourneyState) -> list[SearchAttributeUpdate]:
    """What makes a journey findable: merchant, customer, stage, order value, delayed or not (so "on time" is
    findable too) and the kinds of delay seen. Each parcel's carrier status is on its tracking child."""
    kinds = sorted({d.kind.value for d in state.delays})
    attributes: list[SearchAttributeUpdate] = [
        SA_MERCHANT.value_set(order.merchant_id),
        SA_CUSTOMER.value_set(order.customer.id),
        SA_STAGE.value_set(state.stage.value),
        SA_ORDER_VALUE.value_set(float(order.total)),
        SA_DELAYED.value_set(bool(kinds)),
    ]
    if kinds:
        attributes.append(SA_DELAY_KINDS.value_set(kinds))
    return attributes
