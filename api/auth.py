"""Who is calling: FastAPI dependencies that turn an API token or a console session into an `Actor` and
check its role.

Scripts and other services send `Authorization: Bearer <token>`, resolved with `Store.authenticate`, so a
revoked token stops working on its next request. The web console's browser sends the `aftercare_session`
cookie instead: a server-side session opened at sign-in (`Store.open_session`), never the token itself, that
ends at logout, when idle or old, or when its token is revoked. A cookie is sent by the browser on its own,
so a request that changes something (POST, PUT, PATCH, DELETE) and is signed in by cookie must come from
our own origin (`Origin`, else `Referer`): anything else is refused with 403, whatever its role. Bearer
calls are not browsers' and are not checked. Use it as

    actor: Actor = Depends(require(Role.SUPPORT, Role.MERCHANT))

and call `check_merchant(actor, merchant_id)` once the order's merchant is known. Admin passes every
role check. A refusal never repeats the token, not even part of it: error bodies end up in logs.
401s carry the `WWW-Authenticate` header RFC 6750 asks for. A route guarded this way is checked before
its request body is read (`authenticate_before_body`, run by api/limits.py), so an anonymous upload costs
us its headers only.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Request, Security
from fastapi.concurrency import run_in_threadpool
from fastapi.dependencies.models import Dependant
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer

from api.errors import ApiError
from api.senders import acting_as
from domain import Actor, Role

log = logging.getLogger("aftercare.api.auth")

SESSION_COOKIE = "aftercare_session"
LEGACY_TOKEN_COOKIE = "aftercare_token"  # what older versions kept the token itself in; deleted at sign-in/out
CREATE_HINT = "create one with `aftercare token create`"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_CHECKED = "aftercare.actors"  # scope key: the actor each `require` check found for this request

# Declared as security schemes so /docs offers an "Authorize" button; both are read leniently
# (auto_error=False) so that a missing or malformed credential gets our error shape, not FastAPI's.
_bearer = HTTPBearer(auto_error=False, description="an Aftercare API token (`aftercare token create`)")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="the web console's session")


def _unauthenticated(code: str, message: str, challenge: str = "Bearer") -> ApiError:
    return ApiError(401, code, message, headers={"WWW-Authenticate": challenge})


def _article(role: Role) -> str:
    return "an" if role.value[0] in "aeiou" else "a"


def _either(roles: list[Role]) -> str:
    names = [r.value for r in roles]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def allows(actor: Actor, roles: frozenset[Role]) -> bool:
    """Whether the actor's role is one of `roles` (an empty set: any role). Admin is always allowed."""
    return not roles or actor.role in roles or actor.role is Role.ADMIN


def foreign_origin(request: Request, trusted: Collection[str] = ()) -> str | None:
    """The origin a browser says this request came from, if it is not ours (nor one of `trusted`).

    `Origin` is read, else the origin of `Referer`; with neither, `Sec-Fetch-Site` saying another site.
    A request that carries none of them did not come from a browser page of another site that we could
    tell, and SameSite=Strict already keeps our cookie off cross-site requests."""
    origin = request.headers.get("origin")
    if origin is None and (referer := request.headers.get("referer")):
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}" if parts.netloc else "null"
    if origin is None:
        site = request.headers.get("sec-fetch-site")
        return "another site" if site in ("cross-site", "same-site") else None
    if origin in trusted:
        return None
    if origin == "null" or urlsplit(origin).netloc != request.headers.get("host"):
        return origin
    return None


def session_actor(request: Request, session_id: str) -> Awaitable[Actor | None]:
    """The actor a console session cookie stands for, or None if it ended (logout, expiry, revoked token)."""
    services = request.app.state.services
    return run_in_threadpool(services.store.session_actor, session_id, services.sessions.idle)


def require(
    *roles: Role, trusted_origins: Callable[[Request], Collection[str]] | None = None
) -> Callable[..., Awaitable[Actor]]:
    """A dependency that returns the calling Actor if its token or console session is valid and its role
    is one of `roles` (or admin); none given means any valid token. 401 without valid credentials, 403 for
    a role that may not do this, and 403 for a cookie-signed request that changes something from another
    origin than ours or those `trusted_origins` names (the codec's Web UI)."""
    allowed = frozenset(Role(r) for r in roles)
    wanted = [Role(r) for r in dict.fromkeys(roles)]
    if allowed and Role.ADMIN not in allowed:
        wanted.append(Role.ADMIN)
    needs = f"{_article(wanted[0])} {_either(wanted)} token" if allowed else "an API token"

    async def identify(request: Request) -> Actor:
        """The check itself, on headers and cookies only: `authenticate_before_body` runs it before the
        body is read, and the dependency then finds its answer in the request's scope."""
        checked: dict[object, Actor] = request.scope.setdefault(_CHECKED, {})
        actor = checked.get(identify)
        if actor is None:
            actor = checked[identify] = check_role(await _credentials(request))
        acting_as(actor)  # signals this request sends say who sent them (api.senders)
        return actor

    async def _credentials(request: Request) -> Actor:
        bearer, cookie = await _bearer(request), await _cookie(request)
        if bearer is None and cookie:
            return await _by_session(request, cookie)
        if bearer is None:
            if request.headers.get("authorization"):
                raise _unauthenticated(
                    "unauthenticated", f"the Authorization header must read 'Bearer <token>'; {CREATE_HINT}"
                )
            raise _unauthenticated(
                "unauthenticated", f"this needs {needs}: send Authorization: Bearer <token>; {CREATE_HINT}"
            )
        store = request.app.state.services.store
        actor: Actor | None = await run_in_threadpool(store.authenticate, bearer.credentials)
        if actor is None:
            log.info("refused %s %s: unknown or revoked API token", request.method, request.url.path)
            raise _unauthenticated(
                "invalid_token",
                f"the API token is unknown or revoked; ask an admin for a new one ({CREATE_HINT})",
                'Bearer error="invalid_token"',
            )
        return actor

    async def _by_session(request: Request, session_id: str) -> Actor:
        if request.method not in SAFE_METHODS:
            trusted = trusted_origins(request) if trusted_origins is not None else ()
            if (origin := foreign_origin(request, trusted)) is not None:
                log.warning("refused %s %s: console cookie sent from %s", request.method, request.url.path, origin)
                raise ApiError(
                    403,
                    "foreign_origin",
                    f"a request signed in with the console's cookie must come from this site's own pages, not "
                    f"from {origin}; scripts send Authorization: Bearer <token> instead",
                )
        actor = await session_actor(request, session_id)
        if actor is None:
            log.info("refused %s %s: ended console session", request.method, request.url.path)
            raise _unauthenticated(
                "session_ended",
                "the console session has ended (signed out, expired, or its token was revoked); sign in again "
                f"at /console/login, or send Authorization: Bearer <token>; {CREATE_HINT}",
                'Bearer error="invalid_token"',
            )
        return actor

    def check_role(actor: Actor) -> Actor:
        if not allows(actor, allowed):
            raise ApiError(403, "forbidden", f"this needs {needs}; yours is {actor.role.value}")
        return actor

    async def current_actor(
        request: Request,
        bearer: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer)],
        cookie: Annotated[str | None, Security(_cookie)],
    ) -> Actor:
        # `bearer` and `cookie` are declared so /docs offers "Authorize"; `identify` reads them itself.
        return await identify(request)

    current_actor.identify = identify  # type: ignore[attr-defined]  # a function attribute: how authenticate_before_body finds the check
    return current_actor


async def authenticate_before_body(request: Request, dependant: Dependant) -> None:
    """Run every `require` check among a route's dependencies from the request's headers alone, so a
    caller without a valid token is refused before a byte of its body is read (api/limits.py calls
    this). Raises the same ApiError the dependency would; the actors found are kept for it."""
    for dependency in dependant.dependencies:
        identify = getattr(dependency.call, "identify", None)
        if identify is not None:
            await identify(request)
        await authenticate_before_body(request, dependency)


def merchant_scope(actor: Actor) -> str | None:
    """The one merchant a token acts for ('' for a merchant token bound to none), or None for staff."""
    if actor.merchant_id is None and actor.role is not Role.MERCHANT:
        return None
    return actor.merchant_id or ""


def check_merchant(actor: Actor, merchant_id: str) -> None:
    """403 unless the actor may act on `merchant_id`'s orders: a merchant token only on its own merchant's,
    every other role on any merchant's. The message does not say whether the order exists."""
    scope = merchant_scope(actor)
    if scope is not None and scope != merchant_id:
        scope = f"merchant {actor.merchant_id!r} only" if actor.merchant_id else "no merchant (ask an admin)"
        raise ApiError(403, "forbidden", f"token {actor.name!r} acts for {scope}, not for merchant {merchant_id!r}")
