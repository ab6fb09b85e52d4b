"""Support's actions over HTTP: `POST /v1/orders/{id}/refunds`, `/exchanges`, `/cancel`, `/pause`, `/resume`,
`/opt-out`, `/notes`, and the order's action log. Each answers with the action's result and the order's state
afterwards; a refusal is 409 or 422 with the journey's reason. A refund the payment provider did not confirm
answers 202 (`result.refund.status` is `unknown`): it is held and looked up before anything else is refunded.

Every body is bounded (lengths, counts, amounts, aware times), so what reaches a journey is what it can run."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from api.actions import perform, resolve_order
from api.auth import require
from api.errors import ApiError
from api.journey_state import read_journey_state
from api.services import Services
from domain import Actor, AuditEntry, Channel, RefundReason, Role
from workflows import commands as act
from workflows.commands import MAX_AMOUNT, MAX_LINES, ActionResult, ExchangeItem, ItemId, Quantity
from workflows.models import JourneyState

ACTORS = (Role.SUPPORT, Role.MERCHANT, Role.ADMIN)
READERS = (Role.SUPPORT, Role.MERCHANT, Role.ENGINEER, Role.ADMIN)

_KEY_HELP = "also accepted as an Idempotency-Key header; keep it to retry safely"
KEY_PATTERN = r"^[A-Za-z0-9._:-]+$"
KEY_MAX = 128
_KEY_FIELD = Field(default=None, min_length=1, max_length=KEY_MAX, pattern=KEY_PATTERN, description=_KEY_HELP)
Note = Annotated[str, Field(max_length=2000)]
Reason = Annotated[str, Field(max_length=500)]


class RefundBody(BaseModel):
    """No `items` and no `amount` refunds what is left of the order."""

    idempotency_key: str | None = _KEY_FIELD
    reason: RefundReason | None = None
    items: dict[ItemId, Quantity] = Field(
        default_factory=dict, max_length=MAX_LINES, description="line item id -> quantity"
    )
    amount: Decimal | None = Field(
        default=None, gt=0, le=MAX_AMOUNT, description="in the order's currency, with at most its decimals"
    )
    note: Note = ""


class ExchangeBody(BaseModel):
    idempotency_key: str | None = _KEY_FIELD
    items: list[ExchangeItem] = Field(min_length=1, max_length=MAX_LINES)
    reason: Reason = ""
    note: Note = ""


class CancelBody(BaseModel):
    reason: Reason = ""
    note: Note = ""


class PauseBody(BaseModel):
    until: AwareDatetime | None = Field(
        default=None, description="ISO time with its UTC offset to resume by itself; none = until resumed"
    )
    note: Note = ""


class ResumeBody(BaseModel):
    note: Note = ""


class OptOutBody(BaseModel):
    channels: list[Channel] = Field(min_length=1, max_length=len(Channel))
    note: Note = ""

    @field_validator("channels")
    @classmethod
    def _once_each(cls, channels: list[Channel]) -> list[Channel]:
        twice = sorted({c.value for c in channels if channels.count(c) > 1})
        if twice:
            raise ValueError(f"list each channel once; {', '.join(twice)} is listed more than once")
        return channels


class NoteBody(BaseModel):
    text: str = Field(min_length=1, max_length=4000)


class ActionResponse(BaseModel):
    result: ActionResult
    state: JourneyState | None = Field(default=None, description="the order's state after the action")


def _svc(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


def _key(body_key: str | None, header_key: str | None) -> str:
    key = body_key or header_key
    if not key:
        raise ApiError(
            422,
            "missing_idempotency_key",
            "idempotency_key is required (in the body, or as an Idempotency-Key header): a value you keep, such "
            "as a UUID, so that retrying the request can never refund or exchange twice",
        )
    if len(key) > KEY_MAX or not re.fullmatch(KEY_PATTERN, key):
        raise ApiError(
            422,
            "invalid_idempotency_key",
            f"idempotency_key (or the Idempotency-Key header) must be 1 to {KEY_MAX} letters, digits or . _ : -, "
            f"such as a UUID",
        )
    return key


async def act_on_order(
    svc: Services,
    actor: Actor,
    order_id: str,
    merchant_id: str | None,
    action: str,
    fields: dict[str, Any],
    idempotency_key: str | None = None,
) -> ActionResponse:
    """Resolve the order, check the actor may touch it, run the Update, read the state afterwards."""
    order = await resolve_order(svc, order_id, merchant_id, actor)
    command_type = _COMMANDS[action]
    try:
        command = command_type.model_validate({**fields, "actor": actor})
    except ValueError as err:
        raise ApiError(422, "invalid_request", str(err)) from err
    result = await perform(svc, order, action, command, idempotency_key)
    try:
        state: JourneyState | None = await read_journey_state(svc.temporal, order.workflow_id)
    except Exception:  # the action is done; a journey that just ended may not answer a query
        state = None
    return ActionResponse(result=result, state=state)


_COMMANDS: dict[str, type[act.Command]] = {
    act.REFUND: act.RefundCommand,
    act.EXCHANGE: act.ExchangeCommand,
    act.CANCEL: act.CancelCommand,
    act.PAUSE: act.PauseCommand,
    act.RESUME: act.ResumeCommand,
    act.OPT_OUT: act.OptOutCommand,
    act.ADD_NOTE: act.NoteCommand,
}

MerchantQuery = Annotated[str | None, Query(description="needed only when several merchants share the order id")]
KeyHeader = Annotated[str | None, Header(alias="Idempotency-Key")]


def build_router() -> APIRouter:
    router = APIRouter(prefix="/v1/orders/{order_id}", tags=["support"])
    acting = Depends(require(*ACTORS))

    @router.post("/refunds", response_model=ActionResponse)
    async def refund(
        order_id: str,
        body: RefundBody,
        request: Request,
        response: Response,
        merchant_id: MerchantQuery = None,
        idempotency_key: KeyHeader = None,
        actor: Actor = acting,
    ) -> ActionResponse:
        """Refund the whole order, chosen items with quantities, or an amount; the customer is told.

        202 when the payment provider did not confirm it (`result.refund.status` `unknown`): the amount is held
        and the refund looked up before anything else is refunded; repeat with the same key for its outcome."""
        key = _key(body.idempotency_key, idempotency_key)
        fields = body.model_dump(exclude_none=True) | {"idempotency_key": key}
        done = await act_on_order(_svc(request), actor, order_id, merchant_id, act.REFUND, fields, key)
        if done.result.refund is not None and done.result.refund.status == "unknown":
            response.status_code = 202
        return done

    @router.post("/exchanges", response_model=ActionResponse)
    async def exchange(
        order_id: str,
        body: ExchangeBody,
        request: Request,
        merchant_id: MerchantQuery = None,
        idempotency_key: KeyHeader = None,
        actor: Actor = acting,
    ) -> ActionResponse:
        """Exchange delivered items within the return window: a return label, the replacement tracked."""
        key = _key(body.idempotency_key, idempotency_key)
        fields = body.model_dump(mode="json") | {"idempotency_key": key}
        return await act_on_order(_svc(request), actor, order_id, merchant_id, act.EXCHANGE, fields, key)

    @router.post("/cancel", response_model=ActionResponse)
    async def cancel(
        order_id: str, body: CancelBody, request: Request, merchant_id: MerchantQuery = None, actor: Actor = acting
    ) -> ActionResponse:
        """Cancel before anything shipped: refunded per policy, the customer told, the journey ended."""
        return await act_on_order(_svc(request), actor, order_id, merchant_id, act.CANCEL, body.model_dump())

    @router.post("/pause", response_model=ActionResponse)
    async def pause(
        order_id: str, body: PauseBody, request: Request, merchant_id: MerchantQuery = None, actor: Actor = acting
    ) -> ActionResponse:
        """Hold back this order's messages, until resumed or until a time."""
        return await act_on_order(_svc(request), actor, order_id, merchant_id, act.PAUSE, body.model_dump())

    @router.post("/resume", response_model=ActionResponse)
    async def resume(
        order_id: str,
        request: Request,
        body: ResumeBody | None = None,
        merchant_id: MerchantQuery = None,
        actor: Actor = acting,
    ) -> ActionResponse:
        fields = (body or ResumeBody()).model_dump()
        return await act_on_order(_svc(request), actor, order_id, merchant_id, act.RESUME, fields)

    @router.post("/opt-out", response_model=ActionResponse)
    async def opt_out(
        order_id: str, body: OptOutBody, request: Request, merchant_id: MerchantQuery = None, actor: Actor = acting
    ) -> ActionResponse:
        """No more messages on these channels for this order."""
        return await act_on_order(_svc(request), actor, order_id, merchant_id, act.OPT_OUT, body.model_dump())

    @router.post("/notes", response_model=ActionResponse)
    async def add_note(
        order_id: str, body: NoteBody, request: Request, merchant_id: MerchantQuery = None, actor: Actor = acting
    ) -> ActionResponse:
        """Free text on the order's record."""
        return await act_on_order(_svc(request), actor, order_id, merchant_id, act.ADD_NOTE, body.model_dump())

    @router.get("/actions", response_model=list[AuditEntry])
    async def action_log(
        order_id: str,
        request: Request,
        merchant_id: MerchantQuery = None,
        actor: Actor = Depends(require(*READERS)),  # noqa: B008
    ) -> list[AuditEntry]:
        """Every action taken or refused on the order: who, when, what, the result, state before and after."""
        svc = _svc(request)
        order = await resolve_order(svc, order_id, merchant_id, actor)
        return await run_in_threadpool(svc.store.list_audit, order.merchant_id, order.order_id)

    return router
