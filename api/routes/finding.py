"""`GET /v1/orders`: find journeys by what the workflows publish as search attributes.

Answers "which orders are stuck?" from Temporal's visibility store, not our database: stage, delayed (and
which kind of delay), merchant, customer, and each parcel's carrier status (published by its tracking
child, so that filter finds the parcels and answers with their orders). Paginated with Temporal's page
token; `counts` gives the number of journeys per stage under all the filters given.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.auth import check_merchant, merchant_scope
from api.deps import ServicesDep, Staff
from api.errors import ApiError
from api.services import Services
from domain import DelayKind, TrackingStatus, order_of_journey
from workflows.models import (
    SA_CARRIER_STATUS,
    SA_CUSTOMER,
    SA_DELAY_KINDS,
    SA_DELAYED,
    SA_MERCHANT,
    SA_ORDER_VALUE,
    SA_STAGE,
    Stage,
)

MAX_PAGE = 200
MAX_COUNTED_PARCELS = 2000  # with carrier_status, counts cover the journeys of at most this many parcels


class OrderFound(BaseModel):
    workflow_id: str
    merchant_id: str | None
    order_id: str
    stage: Stage | None
    delayed: bool
    delay_kinds: list[str] = Field(default_factory=list)
    order_value: float | None = None
    running: bool
    started_at: datetime
    temporal_ui: str | None = Field(default=None, description="the journey in the Temporal Web UI")


class OrdersFound(BaseModel):
    orders: list[OrderFound]
    next_page_token: str | None = Field(default=None, description="pass as page_token for the next page")
    counts: dict[str, int] = Field(
        description="journeys per stage under all the filters given (with stage: that stage's count only)"
    )
    query: str | None = Field(
        description="the visibility query over journeys, to paste into the Web UI or `temporal`; none when "
        "carrier_status matched no parcel (no journey query was run)"
    )
    parcel_query: str | None = Field(default=None, description="with carrier_status: the query over parcels first")


def _quoted(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def journey_query(
    *,
    merchant: str | None = None,
    stage: Stage | None = None,
    delayed: bool | None = None,
    delay_kind: DelayKind | None = None,
    customer: str | None = None,
    running: bool | None = None,
) -> str:
    """A visibility query over order journeys; values are quoted, so no filter can change its shape."""
    clauses = ["WorkflowType = 'OrderJourney'"]
    texts = (
        (SA_MERCHANT.name, merchant),
        (SA_STAGE.name, stage),
        (SA_DELAY_KINDS.name, delay_kind),
        (SA_CUSTOMER.name, customer),
    )
    clauses.extend(f"{name} = {_quoted(str(value))}" for name, value in texts if value)
    if delayed is not None:
        clauses.append(f"{SA_DELAYED.name} = {'true' if delayed else 'false'}")
    if running is not None:
        clauses.append(f"ExecutionStatus {'=' if running else '!='} 'Running'")
    return " AND ".join(clauses)


def _token_out(query: str, token: bytes | None) -> str | None:
    """Temporal's page token, tied to the query it pages: a token used with other filters is refused."""
    return base64.urlsafe_b64encode(_fingerprint(query) + token).decode() if token else None


def _token_in(query: str, token: str | None) -> bytes | None:
    if not token:
        return None
    try:
        decoded = base64.b64decode(token.encode(), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as err:
        raise _bad_token() from err
    mark = _fingerprint(query)
    if len(decoded) <= len(mark) or not hmac.compare_digest(decoded[: len(mark)], mark):
        raise _bad_token()
    return decoded[len(mark) :]


def _fingerprint(query: str) -> bytes:
    return hashlib.sha256(query.encode()).digest()[:8]


def _bad_token() -> ApiError:
    return ApiError(
        422,
        "invalid_page_token",
        "page_token is not one this API gave out for these filters; start again without it",
    )


def _found(execution: WorkflowExecution, ui: str | None) -> OrderFound:
    attrs = execution.typed_search_attributes
    merchant = attrs.get(SA_MERCHANT)
    stage = attrs.get(SA_STAGE)
    return OrderFound(
        workflow_id=execution.id,
        merchant_id=merchant,
        order_id=order_of_journey(execution.id, merchant),
        stage=Stage(stage) if stage is not None and stage in Stage.__members__.values() else None,
        delayed=bool(attrs.get(SA_DELAYED)),
        delay_kinds=list(attrs.get(SA_DELAY_KINDS) or []),
        order_value=attrs.get(SA_ORDER_VALUE),
        running=execution.status is WorkflowExecutionStatus.RUNNING,
        started_at=execution.start_time,
        temporal_ui=f"{ui}/workflows/{execution.id}/{execution.run_id}" if ui else None,
    )


async def _page(
    client: Client, query: str, size: int, token: bytes | None
) -> tuple[list[WorkflowExecution], bytes | None]:
    found = client.list_workflows(query, page_size=size, next_page_token=token)
    await found.fetch_next_page()
    return list(found.current_page or []), found.next_page_token


async def _counts(client: Client, base: str, stage: Stage | None) -> dict[str, int]:
    """Journeys per stage under every filter of `base` (which names the stage too, when one was asked for)."""
    stages = [stage] if stage else list(Stage)
    answers = await asyncio.gather(
        *(client.count_workflows(base if stage else f"{base} AND {SA_STAGE.name} = {_quoted(s.value)}") for s in stages)
    )
    return {s.value: a.count for s, a in zip(stages, answers, strict=True) if a.count}


def _among(base: str, workflow_ids: list[str]) -> str:
    return f"{base} AND WorkflowId IN ({', '.join(_quoted(w) for w in workflow_ids)})"


async def _parents(client: Client, parcels: str) -> list[str]:
    """Every journey with a parcel matching `parcels` (at most MAX_COUNTED_PARCELS parcels are read)."""
    parents: dict[str, None] = {}
    seen = 0
    async for child in client.list_workflows(parcels, page_size=MAX_PAGE):
        if child.parent_id:
            parents[child.parent_id] = None
        seen += 1
        if seen >= MAX_COUNTED_PARCELS:
            break
    return list(parents)


async def _counts_among(client: Client, base: str, parents: list[str]) -> dict[str, int]:
    """Journeys per stage among `parents` under the journey filters: each journey read once, by its stage."""
    counts: dict[str, int] = {}
    for start in range(0, len(parents), MAX_PAGE):  # an empty list: no query, nothing counted
        async for journey in client.list_workflows(_among(base, parents[start : start + MAX_PAGE]), page_size=MAX_PAGE):
            stage = journey.typed_search_attributes.get(SA_STAGE)
            if stage:
                counts[stage] = counts.get(stage, 0) + 1
    return {s.value: counts[s.value] for s in Stage if counts.get(s.value)}


async def find_orders(
    svc: Services,
    *,
    merchant: str | None,
    stage: Stage | None,
    delayed: bool | None,
    delay_kind: DelayKind | None,
    carrier_status: TrackingStatus | None,
    customer: str | None,
    running: bool | None,
    page_size: int,
    page_token: str | None,
) -> OrdersFound:
    client = svc.temporal
    ui = f"{svc.temporal_ui_url}/namespaces/{svc.namespace}" if svc.temporal_ui_url else None
    filters: dict[str, Any] = {
        "merchant": merchant,
        "stage": stage,
        "delayed": delayed,
        "delay_kind": delay_kind,
        "customer": customer,
        "running": running,
    }
    base = journey_query(**filters)
    parcels: str | None = None
    if carrier_status is not None:
        parcels = f"WorkflowType = 'ShipmentTracking' AND {SA_CARRIER_STATUS.name} = {_quoted(carrier_status.value)}"
        if merchant:
            parcels += f" AND {SA_MERCHANT.name} = {_quoted(merchant)}"
    paged = parcels or base
    token = _token_in(paged, page_token)
    try:
        if parcels is None:
            query: str | None = base
            executions, next_token = await _page(client, base, page_size, token)
            counts = await _counts(client, base, stage)
        else:
            # Parcels first (the status lives on each tracking child), then their journeys under the other filters.
            children, next_token = await _page(client, parcels, page_size, token)
            parents = list(dict.fromkeys(c.parent_id for c in children if c.parent_id))
            # No parcel in that status: no journey query to run (or to show), and nothing to count.
            query = _among(base, parents) if parents else None
            executions = (await _page(client, query, len(parents), None))[0] if query else []
            counts = await _counts_among(client, base, await _parents(client, parcels))
    except RPCError as err:
        if err.status is RPCStatusCode.INVALID_ARGUMENT:
            raise ApiError(
                503,
                "visibility_not_ready",
                f"Temporal refused the query ({err.message}); are the search attributes "
                "registered? `aftercare up` registers them",
            ) from err
        raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err
    return OrdersFound(
        orders=[_found(e, ui) for e in executions],
        next_page_token=_token_out(paged, next_token),
        counts=counts,
        query=query,
        parcel_query=parcels,
    )


router = APIRouter(tags=["orders"])


@router.get("/v1/orders", response_model=OrdersFound)
async def list_orders(
    services: ServicesDep,
    actor: Staff,
    merchant: Annotated[str | None, Query(description="merchant id; a merchant token sees only its own")] = None,
    stage: Stage | None = None,
    delayed: bool | None = None,
    delay_kind: DelayKind | None = None,
    carrier_status: Annotated[TrackingStatus | None, Query(description="any parcel of the order in it")] = None,
    customer: Annotated[str | None, Query(description="the store's customer id")] = None,
    running: Annotated[bool | None, Query(description="true: journeys still running; false: ended")] = None,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    page_token: str | None = None,
) -> OrdersFound:
    """Journeys by stage, delay, merchant, customer or carrier status, newest first, with counts per stage."""
    if (scope := merchant_scope(actor)) is not None:
        merchant = merchant or scope
        check_merchant(actor, merchant)
    return await find_orders(
        services,
        merchant=merchant,
        stage=stage,
        delayed=delayed,
        delay_kind=delay_kind,
        carrier_status=carrier_status,
        customer=customer,
        running=running,
        page_size=page_size,
        page_token=page_token,
    )
