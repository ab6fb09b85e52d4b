"""Reading a journey's live state: the order journey's `state` query, with each running parcel's own
`state` folded in (the journey keeps only what it acts on, to keep its history short)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.service import RPCError

from domain import shipment_workflow_id
from workflows.models import JourneyState, ParcelState, merge_live_parcels
from workflows.order_journey import OrderJourney
from workflows.shipment_tracking import ShipmentTracking


async def read_journey_state(client: Client, workflow_id: str) -> JourneyState:
    state = await client.get_workflow_handle(workflow_id).query(OrderJourney.state)
    running = [p for p in state.parcels if not p.final]
    live = await asyncio.gather(*(_parcel_state(client, p) for p in running))
    return merge_live_parcels(state, [p for p in live if p is not None])


async def _parcel_state(client: Client, parcel: ParcelState) -> ParcelState | None:
    handle = client.get_workflow_handle(shipment_workflow_id(parcel.carrier, parcel.tracking_number))
    try:
        return await handle.query(ShipmentTracking.state)
    except RPCError:
        return None  # not started yet, or just finished: the journey's own record stands
