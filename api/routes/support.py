"""Support's actions over HTTP: `POST /v1/orders/{id}/refunds`, `/exchanges`, `/cancel`, `/pause`, `/resume`,
`/opt-out`, `/notes`, and the order's action log. Each answers with the action's result and the order's state
afterwards; a refusal is 409 or 422 with the journey's reason. A refund the payment provider did not confirm
answers 202 (`result.refund.status` is `unknown`): it is held and looked up before anything else is refunded.

One route per action of api/action_catalog.py (its path, body, name and description come from there), so
the API, the console and the CLI offer the same actions taking the same fields."""

from __future__ import annotations

import inspect
import re
from typing import Any

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.action_catalog import ACTIONS, BY_UPDATE, KEY_MAX, KEY_PATTERN, SupportAction
from api.deps import Acting, KeyHeader, MerchantQuery, ServicesDep, Staff
from api.errors import ApiError
from api.journey_state import read_journey_state
from api.services import Services
from api.updates import perform, resolve_order
from domain import Actor, AuditEntry
from workflows.commands import ActionResult
from workflows.models import JourneyState

router = APIRouter(prefix="/v1/orders/{order_id}", tags=["support"])


class ActionResponse(BaseModel):
    result: ActionResult
    state: JourneyState | None = Field(default=None, description="the order's state after the action")


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
    command_type = BY_UPDATE[action].command
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


def _endpoint(spec: SupportAction) -> Any:
    """The route of one action: its body (with its idempotency key, if it carries one) run as its Update."""

    async def endpoint(
        *,
        order_id: str,
        svc: Services,
        actor: Actor,
        response: Response,
        body: BaseModel | None = None,
        merchant_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> ActionResponse:
        fields = (body or spec.body()).model_dump(**spec.dump)
        key = None
        if spec.keyed:
            key = _key(getattr(body, "idempotency_key", None), idempotency_key)
            fields |= {"idempotency_key": key}
        done = await act_on_order(svc, actor, order_id, merchant_id, spec.update, fields, key)
        if spec.accepted is not None and spec.accepted(done.result):
            response.status_code = 202
        return done

    def param(name: str, annotation: Any, default: Any = inspect.Parameter.empty) -> inspect.Parameter:
        return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)

    body = param("body", spec.body | None, None) if spec.body_optional else param("body", spec.body)
    params = [param("order_id", str), body, param("svc", ServicesDep), param("actor", Acting)]
    params += [param("response", Response), param("merchant_id", MerchantQuery, None)]
    if spec.keyed:
        params.append(param("idempotency_key", KeyHeader, None))
    endpoint.__signature__ = inspect.Signature(params, return_annotation=ActionResponse)  # type: ignore[attr-defined]  # FastAPI reads a generated endpoint's parameters from here
    endpoint.__name__ = spec.route_name
    endpoint.__doc__ = spec.doc or None
    return endpoint


for _spec in ACTIONS:
    router.add_api_route(
        f"/{_spec.path}",
        _endpoint(_spec),
        methods=["POST"],
        response_model=ActionResponse,
        name=_spec.route_name,
    )


@router.get("/actions", response_model=list[AuditEntry])
async def action_log(
    order_id: str, svc: ServicesDep, actor: Staff, merchant_id: MerchantQuery = None
) -> list[AuditEntry]:
    """Every action taken or refused on the order: who, when, what, the result, state before and after."""
    order = await resolve_order(svc, order_id, merchant_id, actor)
    return await run_in_threadpool(svc.store.list_audit, order.merchant_id, order.order_id)
