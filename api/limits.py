"""Bounded input at the front door, before any route sees a request body.

Pure ASGI (no BaseHTTPMiddleware: that one buffers), wrapped around every route, in this order:

1. A route that needs a token (a `require` dependency, see api/auth.py) has it checked from the headers
   first: an anonymous POST is refused with 401 without its body being read.
2. A declared `Content-Length` above the cap answers 413 at once.
3. The body is then handed to the route as it arrives, counted: a chunked or undeclared body is cut off
   with 413 as soon as it passes the cap, so no more than the cap is ever held for one request.
4. Each chunk is scanned for JSON nesting before the route gets it: deeper than `MAX_JSON_DEPTH` answers
   400 before any `json.loads` runs (CPython's parser recurses, and a 50k-deep body overflows it).

Public routes (store and carrier webhooks, /healthz, /metrics, the console's login form, /docs) pass
step 1 and get the same bounds.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from fastapi import Request
from fastapi.routing import APIRoute
from starlette.datastructures import Headers
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import authenticate_before_body
from api.errors import ApiError, error_response

log = logging.getLogger("aftercare.api.limits")

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
MAX_JSON_DEPTH = 32
_UNSCANNED_TYPES = ("multipart/form-data",)  # file uploads are not JSON (none today)


def _route_for(routes: Iterable[BaseRoute], scope: Scope) -> BaseRoute | None:
    """The route a request will reach, looked for inside included routers too (each resource has its own)."""
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.FULL:
            included = getattr(route, "original_router", None)  # FastAPI's wrapper of an included APIRouter
            return _route_for(included.routes, scope) if included is not None else route
    return None


class JsonDepth:
    """Tracks the nesting depth of a JSON text fed in chunks, without parsing it.

    Exact for UTF-8 (the bytes `"[]{}\\` never occur inside a multi-byte character); a body holding a NUL
    byte is refused instead, since UTF-16/32 JSON could hide its brackets from this count."""

    _SIGNIFICANT = re.compile(rb'["\\\[\]{}\x00]')

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.depth = 0
        self._offset = 0  # bytes fed before the current chunk
        self._in_string = False
        self._escaped_at = -1  # offset of the byte a backslash escapes

    def feed(self, chunk: bytes) -> str | None:
        """Scan the next chunk; the problem if the text is too deep or not UTF-8, else None."""
        for match in self._SIGNIFICANT.finditer(chunk):
            at = self._offset + match.start()
            char = match.group()
            if char == b"\x00":
                return "the request body must be UTF-8 JSON"
            if at == self._escaped_at:
                continue
            if self._in_string:
                if char == b"\\":
                    self._escaped_at = at + 1
                elif char == b'"':
                    self._in_string = False
            elif char == b'"':
                self._in_string = True
            elif char in (b"[", b"{"):
                self.depth += 1
                if self.depth > self.limit:
                    return f"the request body nests JSON deeper than {self.limit} levels; send a flatter document"
            elif char in (b"]", b"}"):
                self.depth -= 1
        self._offset += len(chunk)
        return None


def too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        "body_too_large",
        f"the request body is larger than {limit} bytes, the most this API accepts (AFTERCARE_MAX_BODY_BYTES)",
        limit=limit,
    )


class BodyLimits:
    """The ASGI middleware described above; `max_body_bytes` comes from settings (AFTERCARE_MAX_BODY_BYTES)."""

    def __init__(
        self, app: ASGIApp, max_body_bytes: int = DEFAULT_MAX_BODY_BYTES, max_json_depth: int = MAX_JSON_DEPTH
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        declared = headers.get("content-length")
        if declared in (None, "0") and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body: nothing to bound
            return
        try:
            await self._authenticate(scope)
            if declared is not None and _length(declared) > self.max_body_bytes:
                raise too_large(self.max_body_bytes)
        except ApiError as refusal:
            await error_response(refusal)(scope, receive, send)
            return
        await self._bounded(scope, receive, send, headers)

    async def _authenticate(self, scope: Scope) -> None:
        """The token checks of the route this request will reach, from its headers alone."""
        app = scope.get("app")
        route = _route_for(getattr(getattr(app, "router", None), "routes", []), scope)
        if isinstance(route, APIRoute):
            await authenticate_before_body(Request(scope), route.dependant)

    async def _bounded(self, scope: Scope, receive: Receive, send: Send, headers: Headers) -> None:
        """Hand the body on chunk by chunk; past the cap or too deep, answer for the route and cut it off."""
        content_type = headers.get("content-type", "").lower()
        depth = None if content_type.startswith(_UNSCANNED_TYPES) else JsonDepth(self.max_json_depth)
        received = 0
        refused = False
        started = False

        async def bounded_receive() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] != "http.request":
                return message
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            refusal: ApiError | None = None
            if received > self.max_body_bytes:
                refusal = too_large(self.max_body_bytes)
            elif depth is not None and (problem := depth.feed(chunk)) is not None:
                refusal = ApiError(400, "invalid_body", problem, limit=self.max_json_depth)
            if refusal is None:
                return message
            refused = True
            log.info("refused %s %s: %s", scope.get("method"), scope.get("path"), refusal.message)
            if not started:
                await error_response(refusal)(scope, receive, send)
            return {"type": "http.disconnect"}  # the route stops reading; what it answers is dropped

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except Exception:
            if not refused:  # a route that fails on the disconnect we fed it has already been answered
                raise


def _length(declared: str) -> int:
    try:
        value = int(declared)
    except ValueError:
        value = -1
    if value < 0:
        raise ApiError(400, "invalid_request", f"Content-Length {declared[:32]!r} is not a byte count")
    return value
