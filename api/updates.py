"""Carries a person's request to an order's journey as a Temporal Update and turns the answer into HTTP terms.

Shared by the JSON API, the support console and (through the API) the CLI, so a refusal reads the same
everywhere: the validator's reason, 409 when the order's state forbids it, 422 when the request is wrong,
502/503 when the payment provider or carrier said no or could not be reached.

Every request gets its own Update id: the journey, not Temporal's Update-id dedup, decides what is a repeat
(by the person's own idempotency key and the request it carried), so a key reused for another request is
refused with 409 `idempotency_key_reused`, and of many parallel requests with one key exactly one acts.

Every outcome is audited. The journey records what it did (done, a refund whose outcome is unknown) and a
provider's failure, durably in its history; what the journey never saw is written here: refusals (a rejected
Update leaves no history), timeouts, a journey that has ended, Temporal unreachable.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi.concurrency import run_in_threadpool
from temporalio.client import WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.workflow import UpdateMethodMultiParam

from api.auth import merchant_scope
from api.errors import ApiError
from api.services import Services
from domain import Actor, AuditEntry
from workflows import commands as act
from workflows.commands import ActionResult, Command
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


# Support's Updates by action name, as the workflow's own methods: requests (and tests) address them through
# these, so a renamed Update breaks at import rather than at run time.
SUPPORT_UPDATES: dict[str, UpdateMethodMultiParam[[OrderJourney, Any], Any]] = {
    act.REFUND: OrderJourney.refund,
    act.EXCHANGE: OrderJourney.exchange,
    act.CANCEL: OrderJourney.cancel,
    act.PAUSE: OrderJourney.pause_messages,
    act.RESUME: OrderJourney.resume_messages,
    act.OPT_OUT: OrderJourney.opt_out,
    act.ADD_NOTE: OrderJourney.add_note,
}


def update_id_for(action: str) -> str:
    """A fresh Update id per request: repeats are the journey's call (per person and key), never Temporal's."""
    return f"{action}-{uuid.uuid4().hex}"


async def perform(
    svc: Services, order: OrderRef, action: str, command: Command, idempotency_key: str | None = None
) -> ActionResult:
    """Run `action` on the order's journey and return its result, or raise the ApiError the person should see.

    `idempotency_key` is carried by the command itself (the journey scopes it to the person); kept here for
    callers that pass it along."""
    if action not in act.ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    order_id = order.order_id
    handle = svc.temporal.get_workflow_handle(order.workflow_id)

    async def audited(error: ApiError, outcome: Literal["refused", "failed", "timed_out"]) -> ApiError:
        """`error`, once it is in the audit log: what the journey's history never saw is kept here."""
        await _audit(svc, order, action, command, error, outcome)
        return error

    try:
        return await handle.execute_update(SUPPORT_UPDATES[action], command, id=update_id_for(action))
    except WorkflowUpdateFailedError as err:
        error, journey_audited = _refusal(err)
        if journey_audited:
            raise error from err
        raise await audited(error, "refused" if error.status in (409, 422) else "failed") from err
    except WorkflowUpdateRPCTimeoutOrCancelledError as err:
        pending = ApiError(
            504,
            "action_pending",
            f"the journey of order {order_id!r} did not answer in time; the {action} may still complete. "
            f"Repeat the request with the same idempotency key to get its result",
        )
        raise await audited(pending, "timed_out") from err
    except RPCError as err:
        if err.status is RPCStatusCode.NOT_FOUND:
            ended = ApiError(
                409,
                "journey_finished",
                f"the journey of order {order_id!r} has ended (its return window closed), so it takes no more "
                f"actions; act on the order at the payment provider or carrier directly",
            )
            raise await audited(ended, "refused") from err
        unreachable = ApiError(503, "temporal_unavailable", f"could not reach Temporal: {err.message}")
        raise await audited(unreachable, "failed") from err


def _refusal(err: WorkflowUpdateFailedError) -> tuple[ApiError, bool]:
    """The person's error, and whether the journey audited it already (a provider's failure, in its history)."""
    cause: BaseException | None = err.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.__cause__
    if not isinstance(cause, ApplicationError):
        return ApiError(500, "action_failed", f"the journey could not carry out the request: {err.cause or err}"), False
    details: dict[str, Any] = cause.details[0] if cause.details and isinstance(cause.details[0], dict) else {}
    if cause.type in (act.REFUSED, act.PROVIDER_FAILED):
        error = ApiError(int(details.get("status", 409)), str(details.get("code", "refused")), cause.message)
        return error, cause.type == act.PROVIDER_FAILED
    return ApiError(500, "action_failed", f"the journey could not carry out the request: {cause.message}"), False


async def _audit(
    svc: Services,
    order: OrderRef,
    action: str,
    command: Command,
    error: ApiError,
    outcome: Literal["refused", "failed", "timed_out"],
) -> None:
    """Who tried what and what they were told: kept though the journey's history never saw it."""
    actor: Actor = command.actor
    merchant_id, order_id = order.merchant_id, order.order_id
    entry = AuditEntry(
        entry_id=f"{order.workflow_id}:{outcome}:{uuid.uuid4().hex}",
        merchant_id=merchant_id,
        order_id=order_id,
        action=action,
        actor=actor,
        at=datetime.now(UTC),
        outcome=outcome,
        request=command.model_dump(mode="json", exclude={"actor"}),
        result={"error": error.code, "status": error.status},
        reason=error.message,
    )
    try:
        await run_in_threadpool(svc.store.record_audit, entry)
    except Exception:  # the answer still reaches the person; the log says the record is missing
        log.exception("could not record %s %s on %s/%s", outcome, action, merchant_id, order_id)
