"""`GET /v1/orders` / `aftercare orders list` against a small in-memory visibility store that evaluates the
queries the API sends: counts honour every filter given (the stage too), and a carrier status no parcel is
in answers with no journey query at all, not `WorkflowId IN ('')`."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from rich.console import Console
from temporalio.client import WorkflowExecutionStatus

from aftercare import orders_cli
from api.routes.finding import find_orders
from domain import DelayKind, TrackingStatus
from workflows.models import Stage

_CLAUSE = re.compile(r"^(\w+) (=|!=) (?:'((?:[^'\\]|\\.)*)'|(true|false))$")
_IN = re.compile(r"^WorkflowId IN \((.*)\)$")


@dataclass
class Execution:
    id: str
    type: str
    attrs: dict[str, Any]
    parent_id: str | None = None
    status: WorkflowExecutionStatus = WorkflowExecutionStatus.RUNNING
    run_id: str = "run-1"
    start_time: datetime = field(default_factory=lambda: datetime(2026, 3, 1, tzinfo=UTC))

    @property
    def typed_search_attributes(self) -> Any:
        return SimpleNamespace(get=lambda key: self.attrs.get(key.name))

    def matches(self, query: str) -> bool:
        for clause in query.split(" AND "):
            if found := _IN.match(clause):
                ids = [v.strip().strip("'") for v in found.group(1).split(",")]
                if not ids or ids == [""] or self.id not in ids:
                    return False
                continue
            name, op, text, boolean = _CLAUSE.match(clause).groups()  # type: ignore[union-attr]
            want: Any = (boolean == "true") if boolean else text
            if name == "WorkflowType":
                have: Any = self.type
            elif name == "ExecutionStatus":
                have = "Running" if self.status is WorkflowExecutionStatus.RUNNING else "Completed"
            else:
                have = self.attrs.get(name)
            hit = want in have if isinstance(have, list) else have == want
            if hit != (op == "="):
                return False
        return True


@dataclass
class Visibility:
    """Temporal's list/count over a fixed set of executions, recording every query it answers."""

    executions: list[Execution]
    queries: list[str] = field(default_factory=list)

    def _matching(self, query: str) -> list[Execution]:
        self.queries.append(query)
        return [e for e in self.executions if e.matches(query)]

    def list_workflows(self, query: str, page_size: int = 100, next_page_token: bytes | None = None) -> Any:
        found = self._matching(query)

        class Listing:
            current_page: list[Execution] = []
            next_page_token: bytes | None = None

            async def fetch_next_page(self) -> None:
                self.current_page = found[:page_size]

            def __aiter__(self) -> AsyncIterator[Execution]:
                async def each() -> AsyncIterator[Execution]:
                    for execution in found:
                        yield execution

                return each()

        return Listing()

    async def count_workflows(self, query: str) -> Any:
        return SimpleNamespace(count=len(self._matching(query)))


def journey(order_id: str, stage: Stage, *, delayed: bool = False) -> Execution:
    attrs = {"AftercareMerchant": "acme", "AftercareStage": stage.value, "AftercareDelayed": delayed}
    return Execution(f"order-acme-{order_id}", "OrderJourney", attrs)


def parcel(order_id: str, status: TrackingStatus) -> Execution:
    attrs = {"AftercareMerchant": "acme", "AftercareCarrierStatus": status.value}
    return Execution(f"shipment-easypost-{order_id}", "ShipmentTracking", attrs, parent_id=f"order-acme-{order_id}")


@pytest.fixture
def visibility() -> Visibility:
    return Visibility(
        [
            journey("1", Stage.AWAITING_FULFILLMENT),
            journey("2", Stage.AWAITING_FULFILLMENT),
            journey("3", Stage.IN_TRANSIT),
            journey("4", Stage.IN_TRANSIT, delayed=True),
            journey("5", Stage.DELIVERED),
            parcel("3", TrackingStatus.IN_TRANSIT),
            parcel("4", TrackingStatus.IN_TRANSIT),
            parcel("5", TrackingStatus.DELIVERED),
        ]
    )


async def find(visibility: Visibility, **filters: Any) -> dict[str, Any]:
    services = SimpleNamespace(temporal=visibility, temporal_ui_url=None, namespace="default")
    wanted: dict[str, Any] = {
        "merchant": None,
        "stage": None,
        "delayed": None,
        "delay_kind": None,
        "carrier_status": None,
        "customer": None,
        "running": None,
        "page_size": 50,
        "page_token": None,
    }
    found = await find_orders(services, **(wanted | filters))  # type: ignore[arg-type]
    return found.model_dump(mode="json")


async def test_counts_per_stage_count_within_the_stage_asked_for(visibility: Visibility) -> None:
    everything = await find(visibility)
    assert everything["counts"] == {"awaiting_fulfillment": 2, "in_transit": 2, "delivered": 1}
    in_transit = await find(visibility, stage=Stage.IN_TRANSIT)
    assert {o["order_id"] for o in in_transit["orders"]} == {"3", "4"}
    assert in_transit["counts"] == {"in_transit": 2}
    delayed = await find(visibility, stage=Stage.IN_TRANSIT, delayed=True)
    assert delayed["counts"] == {"in_transit": 1}


async def test_counts_with_a_carrier_status_count_only_the_journeys_of_those_parcels(visibility: Visibility) -> None:
    moving = await find(visibility, carrier_status=TrackingStatus.IN_TRANSIT)
    assert {o["order_id"] for o in moving["orders"]} == {"3", "4"}
    assert moving["counts"] == {"in_transit": 2}
    moving_late = await find(visibility, carrier_status=TrackingStatus.IN_TRANSIT, delayed=True)
    assert {o["order_id"] for o in moving_late["orders"]} == {"4"} and moving_late["counts"] == {"in_transit": 1}


async def test_a_carrier_status_no_parcel_is_in_runs_no_journey_query(visibility: Visibility) -> None:
    none = await find(visibility, carrier_status=TrackingStatus.EXCEPTION, delay_kind=DelayKind.CARRIER_EXCEPTION)
    assert none["orders"] == [] and none["counts"] == {}
    assert none["query"] is None
    assert "AftercareCarrierStatus = 'exception'" in none["parcel_query"]
    assert not [q for q in visibility.queries if "WorkflowId IN" in q]

    out = io.StringIO()
    orders_cli.show(none, Console(file=out, width=250))
    text = out.getvalue()
    assert "IN ('')" not in text and "WorkflowId" not in text
    assert "parcel query: WorkflowType = 'ShipmentTracking' AND AftercareCarrierStatus = 'exception'" in text
    assert "no parcel is in that carrier status" in text


async def test_the_cli_shows_both_queries_when_parcels_match(visibility: Visibility) -> None:
    answer = await find(visibility, carrier_status=TrackingStatus.DELIVERED)
    out = io.StringIO()
    orders_cli.show(answer, Console(file=out, width=250))
    text = out.getvalue()
    assert "parcel query: WorkflowType = 'ShipmentTracking'" in text
    assert "query: WorkflowType = 'OrderJourney' AND WorkflowId IN ('order-acme-5')" in text
