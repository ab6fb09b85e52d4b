"""The codec endpoint: lets the Temporal Web UI show decrypted payloads to people allowed to see them.

The UI (Settings -> Codec Server, or the dev server's `--ui-codec-endpoint`) POSTs `{"payloads": [...]}`
in Temporal's JSON form to `/codec/decode` or `/codec/encode` and shows what comes back. It calls from
its own origin, so these two paths answer CORS for the Web UI's origin only, with credentials: a browser
signed in to the support console sends its session cookie ("include cross-origin credentials" in the UI),
or a Bearer token is passed. Engineers, support and admins may decode; merchants may not (a payload does
not say whose order it is until it has been decoded).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from google.protobuf import json_format
from google.protobuf.message import DecodeError
from temporalio.api.common.v1 import Payloads
from temporalio.converter import PayloadCodec

from api.auth import require
from api.errors import ApiError
from api.services import Services
from domain import Role

CODEC_PREFIX = "/codec"
ALLOWED_HEADERS = "Authorization, Content-Type, X-Namespace"


async def codec_cors(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """CORS for the codec paths only: the rest of the API is not for browsers on other origins."""
    if not request.url.path.startswith(f"{CODEC_PREFIX}/"):
        return await call_next(request)
    origin = request.headers.get("origin")
    services: Services | None = getattr(request.app.state, "services", None)
    allowed = origin is not None and services is not None and origin in services.codec_origins
    if request.method == "OPTIONS":
        response = Response(status_code=204 if allowed else 403)
    else:
        response = await call_next(request)
    if allowed:
        response.headers["Access-Control-Allow-Origin"] = origin or ""
        response.headers["Access-Control-Allow-Credentials"] = "true"
        response.headers["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Vary"] = "Origin"
    return response


def _web_ui_origins(request: Request) -> frozenset[str]:
    services: Services = request.app.state.services
    return services.codec_origins


def _codec(request: Request) -> PayloadCodec:
    services: Services = request.app.state.services
    codec = services.temporal.data_converter.payload_codec
    if codec is None:
        raise ApiError(503, "no_codec", "this API's Temporal client has no payload codec configured")
    return codec


async def _payloads(request: Request) -> Payloads:
    body = await request.body()
    try:
        return json_format.Parse(body or b"{}", Payloads())
    except (json_format.ParseError, DecodeError, UnicodeDecodeError) as err:
        raise ApiError(
            422, "invalid_payloads", f'expected {{"payloads": [{{"metadata": {{...}}, "data": "<base64>"}}]}}: {err}'
        ) from err


def _answer(payloads: list[Any]) -> Response:
    body = json_format.MessageToJson(Payloads(payloads=payloads), indent=None)
    return Response(body, media_type="application/json")


router = APIRouter(prefix=CODEC_PREFIX, tags=["codec"])
# the Web UI signs in with the console's cookie from its own origin: that origin may use it here
allowed = Depends(require(Role.ENGINEER, Role.SUPPORT, trusted_origins=_web_ui_origins))


@router.post("/encode", dependencies=[allowed])
async def encode(request: Request) -> Response:
    """Encrypt payloads with the current key (the Web UI uses it when it sends a signal)."""
    payloads = await _payloads(request)
    return _answer(await _codec(request).encode(list(payloads.payloads)))


@router.post("/decode", dependencies=[allowed])
async def decode(request: Request) -> Response:
    """Decrypt payloads; a payload under a key this API does not hold is refused naming its key id."""
    payloads = await _payloads(request)
    try:
        return _answer(await _codec(request).decode(list(payloads.payloads)))
    except ValueError as err:  # UnknownKeyError, TamperedPayloadError
        raise ApiError(422, "undecodable_payload", str(err)) from err
