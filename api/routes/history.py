"""What happened to an order, from its Temporal histories: `GET /v1/orders/{id}/timeline` says it in
sentences; `GET /v1/orders/{id}/history` gives the raw histories, for a bug report or a replay test.

The bundle (`aftercare.histories`) holds the journey's runs and its tracking children's, payloads as Temporal
stores them (encrypted): safe to attach to an issue, readable only where the codec keys are.
"""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from temporalio.service import RPCError, RPCStatusCode

from aftercare.histories import RecordedRun, collect, to_bundle
from api.deps import Engineers, ServicesDep
from api.errors import ApiError
from api.journey_state import read_journey_state
from api.services import Services
from api.timeline import Timeline, build_timeline
from api.updates import OrderRef, resolve_order
from workflows.models import JourneyState

router = APIRouter(prefix="/v1/orders/{order_id}", tags=["history"])


@router.get("/history")
async def history(order_id: str, svc: ServicesDep, actor: Engineers, merchant_id: str | None = None) -> Response:
    """Every run of the journey and of its tracking children, as one JSON bundle."""
    workflow_id, runs = await _runs(svc, await resolve_order(svc, order_id, merchant_id, actor))
    filename = f"{workflow_id}.history.json"
    return Response(
        to_bundle(workflow_id, runs),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/timeline", response_model=Timeline)
async def timeline(order_id: str, svc: ServicesDep, actor: Engineers, merchant_id: str | None = None) -> Timeline:
    """The journey's and its parcels' histories as a timeline: messages, scans, delays, timers, signals,
    Updates with who sent them, failures with attempts; each entry links to its event in the Web UI."""
    order = await resolve_order(svc, order_id, merchant_id, actor)
    workflow_id, runs = await _runs(svc, order)
    try:
        state: JourneyState | None = await read_journey_state(svc.temporal, workflow_id)
    except Exception:  # no worker to answer the query: the history alone still tells most of it
        state = None
    # what providers reported of its messages after sending (delivered, bounced...): the outbox has it, not Temporal
    outbox = await run_in_threadpool(svc.store.list_messages, order.merchant_id, order.order_id)
    ui = f"{svc.temporal_ui_url}/namespaces/{svc.namespace}" if svc.temporal_ui_url else None
    return await build_timeline(workflow_id, runs, svc.temporal.data_converter, ui, state, outbox)


async def _runs(svc: Services, order: OrderRef) -> tuple[str, list[RecordedRun]]:
    workflow_id, oid = order.workflow_id, order.order_id
    try:
        return workflow_id, await collect(svc.temporal, workflow_id)
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise ApiError(404, "no_journey", f"order {oid!r} has no journey history in Temporal") from err
        raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err
