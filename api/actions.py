"""Carries a person's request to an order's journey as a Temporal Update and turns the answer into HTTP terms.

Shared by the JSON API, the support console and (through the API) the CLI, so a refusal reads the same
everywhere: the validator's reason, 409 when the order's state forbids it, 422 when the request is wrong,
502 when the payment provider or carrier said no. Refusals never reach the journey's history (a rejected
Update leaves none), so they are written to the audit table here.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from fastapi.concurrency import run_in_threadpool
from temporalio.client import WorkflowHandle, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from api.errors import ApiError
from api.services import Services
from domain import Actor, AuditEntry, Role
from workflows import actions as act
from workflows.actions import ActionResult, Command
from workflows.order_journey import OrderJourney

log = logging.getLogger("aftercare.api.actions")


@dataclass(frozen=True)
class OrderRef:
    """An order the caller may see, and the workflow id its journey runs under."""

    merchant_id: str
    order_id: str
    workflow_id: str


def not_found(order_id: str, merchant_id: str | None) -> ApiError:
    """The one answer for an order that is missing *or* another merchant's: the two must not differ."""
    where = f" for merchant {merchant_id!r}" if merchant_id is not None else ""
    return ApiError(404, "unknown_order", f"no order {order_id!r}{where}")


def merchant_scope(actor: Actor) -> str | None:
    """The one merchant a token acts for ('' for a merchant token bound to none), or None for staff."""
    if actor.merchant_id is None and actor.role is not Role.MERCHANT:
        return None
    return actor.merchant_id or ""


async def resolve_order(svc: Services, order_id: str, merchant_id: str | None, actor: Actor) -> OrderRef:
    """The order the actor means: of the merchant given, else its own merchant (merchant tokens), else the
    only merchant with an order of this id. A merchant token never learns of another merchant's orders: they
    answer exactly as missing ones do, and an ambiguous id names no merchant but its own."""
    scope = merchant_scope(actor)
    if scope is not None:
        if merchant_id is not None and merchant_id != scope:
            raise not_found(order_id, merchant_id)
        merchant_id = scope
    if merchant_id is None:
        merchants = await run_in_threadpool(svc.store.merchants_with_order, order_id)
        if not merchants:
            raise not_found(order_id, None)
        if len(merchants) > 1:
            raise ApiError(
                409,
                "ambiguous_order",
                f"order id {order_id!r} exists for several merchants; add ?merchant_id= one of "
                f"{', '.join(sorted(merchants))}",
            )
        merchant_id = merchants[0]
    workflow_id = await run_in_threadpool(svc.store.journey_workflow_id, merchant_id, order_id)
    if workflow_id is None:
        raise not_found(order_id, merchant_id)
    return OrderRef(merchant_id, order_id, workflow_id)


def update_id_for(action: str, idempotency_key: str | None) -> str:
    """The same key always maps to the same Update id, so Temporal itself answers a repeat with the first result."""
    return f"{action}-{idempotency_key}" if idempotency_key else f"{action}-{uuid.uuid4().hex}"


async def perform(
    svc: Services, order: OrderRef, action: str, command: Command, idempotency_key: str | None = None
) -> ActionResult:
    """Run `action` on the order's journey and return its result, or raise the ApiError the person should see."""
    if action not in act.ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    order_id = order.order_id
    handle = svc.temporal.get_workflow_handle(order.workflow_id)
    update_id = update_id_for(action, idempotency_key)
    try:
        # Temporal answers a repeated Update id with the first result, as it was; the action log tells a
        # repeat apart, so the person hears that nothing new happened.
        seen = idempotency_key is not None and await _in_action_log(handle, update_id)
        result = await handle.execute_update(action, command, id=update_id, result_type=ActionResult)
        return result.model_copy(update={"repeated": True}) if seen else result
    except WorkflowUpdateFailedError as err:
        error = _refusal(err)
        if error.status in (409, 422):
            await _audit_refusal(svc, order, action, command, error)
        raise error from err
    except WorkflowUpdateRPCTimeoutOrCancelledError as err:
        raise ApiError(
            504,
            "action_pending",
            f"the journey of order {order_id!r} did not answer in time; the {action} may still complete. "
            f"Repeat the request with the same idempotency key to get its result",
        ) from err
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            raise ApiError(
                409,
                "journey_finished",
                f"the journey of order {order_id!r} has ended (its return window closed), so it takes no more "
                f"actions; act on the order at the payment provider or carrier directly",
            ) from err
        raise ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}") from err


async def _in_action_log(handle: WorkflowHandle[Any, Any], update_id: str) -> bool:
    state = await handle.query(OrderJourney.state)
    return any(a.update_id == update_id for a in state.actions)


def _refusal(err: WorkflowUpdateFailedError) -> ApiError:
    cause = err.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    if not isinstance(cause, ApplicationError):
        return ApiError(500, "action_failed", f"the journey could not carry out the request: {err.cause or err}")
    details: dict[str, Any] = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    if cause.type in (act.REFUSED, act.PROVIDER_FAILED):
        return ApiError(int(details.get("status", 409)), str(details.get("code", "refused")), cause.message)
    return ApiError(500, "action_failed", f"the journey could not carry out the request: {cause.message}")


async def _audit_refusal(svc: Services, order: OrderRef, action: str, command: Command, error: ApiError) -> None:
    """Who tried what and why it was refused: kept even though the journey's history never saw it."""
    actor: Actor = command.actor
    merchant_id, order_id = order.merchant_id, order.order_id
    entry = AuditEntry(
        entry_id=f"{order.workflow_id}:refused:{uuid.uuid4().hex}",
        merchant_id=merchant_id,
        order_id=order_id,
        action=action,
        actor=actor,
        at=datetime.now(UTC),
        outcome="refused",
        request=command.model_dump(mode="json", exclude={"actor"}),
        result={"error": error.code, "status": error.status},
        reason=error.message,
    )
    try:
        await run_in_threadpool(svc.store.record_audit, entry)
    except Exception:  # the refusal still reaches the person; the log says the record is missing
        log.exception("could not record refused %s on %s/%s", action, merchant_id, order_id)
