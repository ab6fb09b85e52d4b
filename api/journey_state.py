"""Reading a journey's live state: the order journey's `state` query, with each running parcel's own
`state` folded in (the journey keeps only what it acts on, to keep its history short)."""

from __future__ import annotations

import asyncio

from temporalio.client import Client
from temporalio.service import RPCError

from domain import MessageOutcome, shipment_workflow_ids
from storage.erasure import ERASED
from workflows.models import JourneyState, ParcelState, merge_live_parcels
from workflows.order_journey import OrderJourney
from workflows.shipment_tracking import ShipmentTracking


async def read_journey_state(client: Client, workflow_id: str) -> JourneyState:
    state = await client.get_workflow_handle(workflow_id).query(OrderJourney.state)
    running = [p for p in state.parcels if not p.final]
    live = await asyncio.gather(*(_parcel_state(client, state.merchant_id, p) for p in running))
    return merge_live_parcels(state, [p for p in live if p is not None])


async def _parcel_state(client: Client, merchant_id: str, parcel: ParcelState) -> ParcelState | None:
    """The child's own view: under the id the journey recorded for it, else (a state from before the
    `tenant-ids` patch) the current id, then the legacy one, which must answer for this very parcel."""
    ids = (
        [parcel.workflow_id]
        if parcel.workflow_id
        else shipment_workflow_ids(merchant_id, parcel.tracked_via, parcel.tracking_number)
    )
    for workflow_id in ids:
        try:
            live = await client.get_workflow_handle(workflow_id).query(ShipmentTracking.state)
        except RPCError:
            continue  # not started yet, or just finished: the journey's own record stands
        if (live.carrier, live.tracking_number) == (parcel.carrier, parcel.tracking_number):
            return live
    return None


def without_addresses(state: JourneyState) -> JourneyState:
    """The state as a reader may see it once the order's customer data was erased (`aftercare customer forget`):
    the journey still holds the addresses (in its history, until retention), the API no longer shows them."""

    def scrub(messages: list[MessageOutcome]) -> list[MessageOutcome]:
        return [m.model_copy(update={"recipient": None, "detail": _cut(m.detail, m.recipient)}) for m in messages]

    parcels = [p.model_copy(update={"messages": scrub(p.messages)}) for p in state.parcels]
    return state.model_copy(update={"messages": scrub(state.messages), "parcels": parcels})


def _cut(text: str, address: str | None) -> str:
    return text.replace(address, ERASED) if address else text
