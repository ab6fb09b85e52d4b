"""The support console's pages: server-rendered pages to find an order, read its timeline and act on it.

Server-rendered (Jinja2, no build step, no JavaScript needed) so that it works in any browser and behind any
proxy, and so that everything it shows comes from the same places the JSON API reads: the store, the
journey's `state` query and the audit log. Acting goes through `api.routes.support.act_on_order`, so a
refusal reads the same here as over HTTP.

Why each piece is shaped the way it is:

- Sign-in takes an API token once and opens a server-side session (`Store.open_session`); the
  `aftercare_session` cookie (the one `api.auth` reads) carries the session's random id, never the token.
  Signing out deletes the session, so the old cookie stops working anywhere; it also ends when idle, at its
  absolute expiry and when its token is revoked (`SessionPolicy`, from settings). The cookie is HttpOnly so
  page scripts cannot read it, SameSite=Strict so no other site can send a form with it, Secure over https;
  every POST also refuses a foreign `Origin` (or `Referer`). Sign-in attempts are rate-limited per client
  address and overall (429 with Retry-After). A browser that is not signed in is sent to the login page,
  never shown a JSON 401.
- Every action is form -> confirmation page (what will happen, in words) -> POST -> redirect to the order
  with a banner (POST/redirect/GET), so a reload never repeats an action. The idempotency key is made when
  the form is first drawn and travels in hidden fields: pressing Confirm twice acts once.
- Engineers may look but not act: the forms are replaced by a note saying why.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from api.auth import LEGACY_TOKEN_COOKIE, SESSION_COOKIE, allows, foreign_origin, merchant_scope
from api.console.forms import KEYED, PROPOSERS, Context, FormProblem, form_text, new_key, outcome_words
from api.console.views import (
    item_rows,
    journey_state,
    order_story,
    temporal_link,
    visible_order,
)
from api.console.web import (
    FLASH_COOKIE,
    STYLESHEET,
    TOKEN_HINT,
    client_address,
    link,
    page,
    problem,
    refused_origin,
    safe_next,
    set_flash,
    signed_in,
    take_flash,
    to_login,
)
from api.console.words import ACTION_WORDS, SLUGS, customer_name, planned_words
from api.deps import ACTORS, get_services
from api.errors import ApiError
from api.routes.support import act_on_order
from domain import Actor, Channel, RefundReason

log = logging.getLogger("aftercare.api.console")

router = APIRouter(prefix="/console", include_in_schema=False)
MAY_ACT = frozenset(ACTORS)


@router.get("/static/console.css", name="console_css")
async def stylesheet() -> FileResponse:
    return FileResponse(STYLESHEET, media_type="text/css", headers={"Cache-Control": "max-age=300"})


@router.get("/login", name="console_login")
async def login_form(request: Request, next: str | None = None, signed_out: bool = False) -> Response:
    actor = await signed_in(request)
    return page(request, "login.html", actor=actor, next=safe_next(request, next), signed_out=signed_out)


@router.post("/login", name="console_login_post")
async def login(request: Request) -> Response:
    if (origin := foreign_origin(request)) is not None:
        return refused_origin(request, origin)
    svc = get_services(request)
    if (wait := svc.login_limiter.attempt(client_address(request))) is not None:
        log.warning("console sign-in refused: too many attempts (retry in %ss)", wait)
        error = f"Too many attempts to sign in; wait {wait} seconds and try again."
        response = page(request, "login.html", 429, next=link(request, "console_search"), error=error)
        response.headers["Retry-After"] = str(wait)
        return response
    form = await request.form()
    token = form_text(form, "token", 512)
    target = safe_next(request, form_text(form, "next", 2000))
    if not token:
        error = f"Paste your API token to sign in; {TOKEN_HINT}."
        return page(request, "login.html", 400, next=target, error=error)
    opened = await run_in_threadpool(svc.store.open_session, token, svc.sessions.lifetime)
    if opened is None:
        error = f"That token is unknown or has been revoked, so you are not signed in; {TOKEN_HINT}."
        return page(request, "login.html", 401, next=target, error=error)
    if previous := request.cookies.get(SESSION_COOKIE):  # signing in again replaces the old session
        await run_in_threadpool(svc.store.close_session, previous)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        opened.session_id,
        max_age=int(svc.sessions.lifetime.total_seconds()),
        path="/",  # the JSON API reads the same cookie
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LEGACY_TOKEN_COOKIE, path="/")
    log.info("console sign-in: %s (%s)", opened.actor.name, opened.actor.role.value)
    return response


@router.post("/logout", name="console_logout")
async def logout(request: Request) -> Response:
    if (origin := foreign_origin(request)) is not None:
        return refused_origin(request, origin)
    if session_id := request.cookies.get(SESSION_COOKIE):
        await run_in_threadpool(get_services(request).store.close_session, session_id)
    response = RedirectResponse(f"{link(request, 'console_login')}?signed_out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(LEGACY_TOKEN_COOKIE, path="/")
    response.delete_cookie(FLASH_COOKIE, path=link(request, "console_search"))
    return response


@router.get("", name="console_search")
async def search(request: Request, q: str = "") -> Response:
    actor = await signed_in(request)
    if actor is None:
        return to_login(request)
    query = q.strip()
    hits = []
    if query:
        hits = await run_in_threadpool(
            lambda: get_services(request).store.find_orders(query, 20, merchant_id=merchant_scope(actor))
        )
        if len(hits) == 1:
            hit = hits[0]
            url = link(request, "console_order", merchant_id=hit.merchant_id, order_id=hit.order_id)
            return RedirectResponse(url, status_code=303)
    return page(request, "search.html", actor=actor, q=query, hits=hits)


@router.get("/orders/{merchant_id}/{order_id}", name="console_order")
async def order_page(request: Request, merchant_id: str, order_id: str) -> Response:
    actor = await signed_in(request)
    if actor is None:
        return to_login(request)
    svc = get_services(request)
    order = await visible_order(svc, actor, merchant_id, order_id)
    if order is None:
        message = f"There is no order {order_id!r} for merchant {merchant_id!r}. Search by order number, "
        message += "customer email or tracking number."
        return problem(request, actor, 404, "No such order", message)
    workflow_id, state, unavailable = await journey_state(svc, merchant_id, order_id)
    events = await run_in_threadpool(svc.store.tracking_events_for_order, merchant_id, order_id)
    audit = await run_in_threadpool(svc.store.list_audit, merchant_id, order_id)
    outbox = await run_in_threadpool(svc.store.list_messages, merchant_id, order_id)
    where = f"{merchant_id}/{order_id}"
    may_act = allows(actor, MAY_ACT)
    response = page(
        request,
        "order.html",
        actor=actor,
        order=order,
        customer=customer_name(order),
        state=state,
        unavailable=unavailable,
        items=item_rows(order, state),
        timeline=order_story(order, state, events, audit, outbox),
        planned=[(planned_words(p.what), p.due_at) for p in (state.planned if state else [])],
        next_action=(planned_words(state.next_action.what), state.next_action.due_at)
        if state and state.next_action
        else None,
        temporal_url=temporal_link(svc, workflow_id),
        flash=take_flash(request, where),
        may_act=may_act,
        can_act=may_act and state is not None and state.completed_at is None,
        keys={slug: new_key() for slug in ("refund-items", "refund-amount", "refund-whole", *SLUGS)},
        reasons=list(RefundReason),
        channels=[c for c in Channel if state is None or c not in state.preferences.opted_out],
    )
    response.delete_cookie(FLASH_COOKIE, path=link(request, "console_search"))
    return response


@dataclass(frozen=True)
class Acting:
    """Everything a POST to an action needs: who, which action, the order and its journey, the form sent,
    and the order page to go back to."""

    actor: Actor
    action: str
    ctx: Context
    form: FormData
    back: str


async def acting(request: Request, merchant_id: str, order_id: str, slug: str) -> Acting | Response:
    """Everything a POST to an action needs, or the page that says why it cannot go on."""
    if (origin := foreign_origin(request)) is not None:
        return refused_origin(request, origin)
    actor = await signed_in(request)
    if actor is None:
        return to_login(request)
    back = link(request, "console_order", merchant_id=merchant_id, order_id=order_id)
    action = SLUGS.get(slug)
    if action is None:
        known = ", ".join(SLUGS)
        return problem(request, actor, 404, "No such action", f"{slug!r} is not an action; known: {known}", back)
    if not allows(actor, MAY_ACT):
        message = (
            f"You are signed in as {actor.name} with a {actor.role.value} token, which may look at orders but "
            f"not act on them. Actions need a support, merchant or admin token."
        )
        return problem(request, actor, 403, "Looking only", message, back)
    svc = get_services(request)
    order = await visible_order(svc, actor, merchant_id, order_id)
    if order is None:
        return problem(request, actor, 404, "No such order", f"no order {order_id!r} for merchant {merchant_id!r}")
    _, state, unavailable = await journey_state(svc, merchant_id, order_id)
    if state is None:
        return problem(request, actor, 409, "The journey cannot act", f"Nothing was done: {unavailable}.", back)
    return Acting(actor, action, Context(order=order, state=state, svc=svc), await request.form(), back)


@router.post("/orders/{merchant_id}/{order_id}/actions/{slug}/review", name="console_review")
async def review(request: Request, merchant_id: str, order_id: str, slug: str) -> Response:
    ready = await acting(request, merchant_id, order_id, slug)
    if isinstance(ready, Response):
        return ready
    actor, action, ctx, form, back = ready.actor, ready.action, ready.ctx, ready.form, ready.back
    key = form_text(form, "idempotency_key", 128) or new_key()
    try:
        proposal = PROPOSERS[action](form, ctx)
    except FormProblem as err:
        message = f"This {ACTION_WORDS[action].lower()} cannot be prepared: {err}. Go back and correct the form."
        return problem(request, actor, 422, "Please check the form", message, back)
    return page(
        request,
        "confirm.html",
        actor=actor,
        order=ctx.order,
        action=ACTION_WORDS[action],
        slug=slug,
        proposal=proposal,
        fields=json.dumps(proposal.fields),
        key=key,
        back=back,
    )


@router.post("/orders/{merchant_id}/{order_id}/actions/{slug}", name="console_act")
async def confirm(request: Request, merchant_id: str, order_id: str, slug: str) -> Response:
    ready = await acting(request, merchant_id, order_id, slug)
    if isinstance(ready, Response):
        return ready
    actor, action, ctx, back = ready.actor, ready.action, ready.ctx, ready.back
    key = form_text(ready.form, "idempotency_key", 128)
    try:
        fields = json.loads(form_text(ready.form, "fields", 20000) or "null")
    except ValueError:
        fields = None
    if not key or not isinstance(fields, dict):
        message = "The confirmation form arrived incomplete, so nothing was done. Start again from the order."
        return problem(request, actor, 400, "Nothing done", message, back)
    if action in KEYED:
        fields["idempotency_key"] = key
    redirect = RedirectResponse(f"{back}#banner", status_code=303)
    try:
        done = await act_on_order(ctx.svc, actor, order_id, merchant_id, action, fields, key)
    except ApiError as err:
        log.info("console %s on %s/%s refused for %s: %s", action, merchant_id, order_id, actor.name, err.message)
        text = f"{ACTION_WORDS[action]} not done: {err.message}"
        set_flash(redirect, request, "warn", text, f"{merchant_id}/{order_id}")
        return redirect
    text = outcome_words(action, done.result, ctx.order.currency)
    set_flash(redirect, request, "ok", text, f"{merchant_id}/{order_id}")
    return redirect
