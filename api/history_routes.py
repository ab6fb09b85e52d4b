"""`GET /v1/orders/{id}/history`: the order's raw Temporal histories, for a bug report or a replay test.

The bundle (`aftercare.histories`) holds the journey's runs and its tracking children's, payloads as Temporal
stores them (encrypted): safe to attach to an issue, readable only where the codec keys are.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response
from temporalio.service import RPCError, RPCStatusCode

from aftercare.histories import collect, to_bundle
from api.actions import resolve_order
from api.auth import require
from api.errors import ApiError
from api.services import Services
from domain import Role, journey_id

ENGINEERS = (Role.ENGINEER, Role.SUPPORT)


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1/orders/{order_id}", tags=["history"])

    @router.get("/history", dependencies=[Depends(require(*ENGINEERS))])
    async def history(order_id: str, request: Request, merchant_id: str | None = None) -> Response:
        """Every run of the journey and of its tracking children, as one JSON bundle."""
        svc: Services = request.app.state.services
        merchant, oid = await resolve_order(svc, order_id, merchant_id)
        workflow_id = journey_id(merchant, oid)
        try:
            runs = await collect(svc.temporal, workflow_id)
        except RPCError as err:
            if err.status is RPCStatusCode.NOT_FOUND:
                raise ApiError(404, "no_journey", f"order {oid!r} has no journey history in Temporal") from err
            raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err
        filename = f"{workflow_id}.history.json"
        return Response(
            to_bundle(workflow_id, runs),
            media_type="application/json",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return router
