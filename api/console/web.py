"""The console's web plumbing: its Jinja2 templates, links, who is signed in, the one-time banner cookie,
and drawing a page or a problem page (every page `no-store`: live state and one-time keys)."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from api.auth import SESSION_COOKIE, session_actor
from api.console.views import parcel_label
from api.console.words import CHANNEL_WORDS, REASON_WORDS, STATUS_WORDS, relative, utc
from domain import Actor

# The console's own pages (Jinja2) and stylesheet; message templates are the repository's templates/.
PAGES = Path(__file__).parent / "pages"
TEMPLATES = Jinja2Templates(directory=PAGES)
STYLESHEET = PAGES / "console.css"

FLASH_COOKIE = "aftercare_flash"
TOKEN_HINT = "an admin creates one with `aftercare token create`"

TEMPLATES.env.filters["utc"] = utc
TEMPLATES.env.filters["ago"] = relative
TEMPLATES.env.globals["parcel_label"] = parcel_label  # "UPS via AfterShip"
TEMPLATES.env.globals["STATUS_WORDS"] = STATUS_WORDS
TEMPLATES.env.globals["REASON_WORDS"] = REASON_WORDS
TEMPLATES.env.globals["CHANNEL_WORDS"] = CHANNEL_WORDS


def link(request: Request, name: str, **params: str) -> str:
    """A path to one of our pages, honouring a root_path when the app is mounted below `/`."""
    return str(request.scope.get("root_path", "")) + str(request.app.url_path_for(name, **params))


async def signed_in(request: Request) -> Actor | None:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    return await session_actor(request, session_id)


def to_login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"{link(request, 'console_login')}?next={quote(here)}", status_code=303)


def safe_next(request: Request, target: str | None) -> str:
    """Where to go after signing in: a console page of ours, never another site."""
    home = link(request, "console_search")
    if not target or not target.startswith(home) or target.startswith("//") or "\\" in target:
        return home
    return target


def client_address(request: Request) -> str:
    return request.client.host if request.client is not None else "unknown"


def set_flash(response: Response, request: Request, kind: str, text: str, where: str) -> None:
    """A one-time banner for the page we redirect to; a cookie, so it survives any number of API processes."""
    payload = json.dumps({"kind": kind, "text": text[:1500], "where": where}).encode()
    response.set_cookie(
        FLASH_COOKIE,
        base64.urlsafe_b64encode(payload).decode(),
        max_age=120,
        path=link(request, "console_search"),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def take_flash(request: Request, where: str) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        flash = json.loads(base64.urlsafe_b64decode(raw.encode()))
    except (ValueError, binascii.Error):
        return None
    if not isinstance(flash, dict) or flash.get("where") != where:
        return None
    return {"kind": str(flash.get("kind", "ok")), "text": str(flash.get("text", ""))}


def page(request: Request, name: str, status: int = 200, **context: Any) -> Response:
    """A console page from its template, with the signed-in actor, links and the time."""
    actor = context.pop("actor", None)
    context = {
        "actor": actor,
        "link": lambda route, **params: link(request, route, **params),
        "now": datetime.now(UTC),
        **context,
    }
    response = TEMPLATES.TemplateResponse(request, name, context, status_code=status)
    response.headers["Cache-Control"] = "no-store"  # pages show live state and carry one-time keys
    # CSP, framing and referrer headers: api.headers.SecurityHeaders, for every page
    return response


def problem(
    request: Request, actor: Actor | None, status: int, title: str, message: str, back: str | None = None
) -> Response:
    return page(request, "error.html", status, actor=actor, title=title, message=message, back=back)


def refused_origin(request: Request, origin: str) -> Response:
    return problem(
        request,
        None,
        403,
        "Refused: sent from another site",
        f"This form was sent from {origin}, not from the console itself, so nothing was done. "
        f"Open the console directly and try again.",
    )
