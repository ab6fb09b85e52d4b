"""The EasyPost stand-in's HTTP routes: the API under `/easypost` and the controls under `/_sandbox/easypost`."""

from __future__ import annotations

import base64

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from sandbox.easypost.bodies import ApiFail, Scan, Script, SinkFail
from sandbox.easypost.shapes import STATUSES, error
from sandbox.easypost.shipments import find_shipment, label_png, new_shipment, shipment_errors
from sandbox.easypost.trackers import TRACKING_CODE, get_or_create, scan_and_notify, start_script
from sandbox.fail_next import next_failure, queue_failure
from sandbox.state import SandboxState, SinkedWebhook, utcnow


def _api_key(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("basic "):
        try:
            user, _, _ = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


def build_router(state: SandboxState, client: httpx.AsyncClient) -> APIRouter:
    router = APIRouter()

    async def auth_error(request: Request) -> JSONResponse | None:
        """Scripted failures first (they stand for EasyPost being down), then the API key check."""
        if (fail := await next_failure(state.easypost_fail_next)) is not None:
            status = fail["status_code"]
            names = {429: "RATE_LIMITED", 503: "SERVICE_UNAVAILABLE"}
            return error(status, names.get(status, "INTERNAL_SERVER_ERROR"), "Sandbox failure requested by fail-next")
        key = _api_key(request)
        if not key:
            return error(401, "APIKEY.REQUIRED", "No API key provided: use HTTP basic auth with the key as user")
        if key not in state.easypost_api_keys:
            return error(401, "APIKEY.INACTIVE", "The API key provided is not valid")
        return None

    @router.post("/easypost/v2/trackers", tags=["easypost"])
    async def create_tracker(request: Request) -> JSONResponse:
        if (denied := await auth_error(request)) is not None:
            return denied
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                payload = (await request.json()).get("tracker") or {}
            except (ValueError, AttributeError):
                return error(400, "PARAMETER.INVALID", "The request body is not valid JSON")
        else:
            form = await request.form()
            payload = {k[8:-1]: v for k, v in form.items() if k.startswith("tracker[") and k.endswith("]")}
        code = str(payload.get("tracking_code") or "").strip()
        if not code:
            return error(422, "TRACKER.TRACKING_CODE.REQUIRED", "tracker[tracking_code] is required")
        if code not in state.tracker_ids and not TRACKING_CODE.match(code):
            return error(422, "TRACKER.TRACKING_CODE.INVALID", f"Invalid tracking code: {code!r}")
        existed = code in state.tracker_ids
        tracker = get_or_create(state, code, payload.get("carrier"))
        return JSONResponse(tracker, status_code=200 if existed else 201)

    @router.get("/easypost/v2/trackers", tags=["easypost"])
    async def list_trackers(request: Request) -> JSONResponse:
        if (denied := await auth_error(request)) is not None:
            return denied
        params = request.query_params
        codes = set(params.getlist("tracking_codes[]") + params.getlist("tracking_codes"))
        if params.get("tracking_code"):
            codes.add(params["tracking_code"])
        carrier = params.get("carrier")
        found = [
            t for t in state.trackers.values()
            if (not codes or t["tracking_code"] in codes) and (not carrier or t["carrier"] == carrier)
        ]  # fmt: skip
        found.sort(key=lambda t: t["created_at"], reverse=True)
        size = int(params.get("page_size", 20))
        return JSONResponse({"trackers": found[:size], "has_more": len(found) > size})

    @router.get("/easypost/v2/trackers/{tracker_id}", tags=["easypost"])
    async def retrieve_tracker(tracker_id: str, request: Request) -> JSONResponse:
        if (denied := await auth_error(request)) is not None:
            return denied
        tracker = state.trackers.get(tracker_id)
        if tracker is None:
            return error(404, "NOT_FOUND", f"The requested resource could not be found: {tracker_id}")
        return JSONResponse(tracker)

    @router.post("/easypost/v2/shipments", tags=["easypost"])
    async def create_shipment(request: Request) -> JSONResponse:
        if (denied := await auth_error(request)) is not None:
            return denied
        try:
            body = await request.json()
        except ValueError:
            return error(422, "SHIPMENT.INVALID_PARAMS", 'The request body must be JSON: {"shipment": {...}}')
        payload = body.get("shipment") if isinstance(body, dict) else None
        if not isinstance(payload, dict):
            return error(422, "SHIPMENT.INVALID_PARAMS", 'Missing the shipment object: {"shipment": {...}}')
        if problems := shipment_errors(payload):
            message = "Unable to create shipment, one or more parameters were invalid."
            return error(422, "SHIPMENT.INVALID_PARAMS", message, problems)
        return JSONResponse(new_shipment(state, payload), status_code=201)

    @router.get("/easypost/v2/shipments/{id_or_reference:path}", tags=["easypost"])
    async def retrieve_shipment(id_or_reference: str, request: Request) -> JSONResponse:
        if (denied := await auth_error(request)) is not None:
            return denied
        shipment = find_shipment(state, id_or_reference)
        if shipment is None:
            return error(404, "NOT_FOUND", f"The requested resource could not be found: {id_or_reference}")
        return JSONResponse(shipment)

    @router.get("/easypost/labels/{shipment_id}.png", tags=["easypost"])
    async def label(shipment_id: str) -> Response:
        """The label's image, public like EasyPost's label URLs (no API key needed to print it)."""
        shipment = state.shipments.get(shipment_id)
        if shipment is None or not shipment.get("tracking_code"):
            return error(404, "NOT_FOUND", f"no label for shipment {shipment_id!r}")
        return Response(label_png(shipment["tracking_code"]), media_type="image/png")

    # sandbox controls ---------------------------------------------------------------------------

    @router.get("/_sandbox/easypost/trackers/{code}", tags=["sandbox"])
    async def show_tracker(code: str) -> JSONResponse:
        tracker_id = state.tracker_ids.get(code)
        if tracker_id is None:
            return error(404, "NOT_FOUND", f"no tracker for {code!r}")
        return JSONResponse(state.trackers[tracker_id])

    @router.delete("/_sandbox/easypost/trackers/{code}", tags=["sandbox"])
    async def forget_tracker(code: str) -> JSONResponse:
        tracker_id = state.tracker_ids.pop(code, None)
        if tracker_id:
            state.trackers.pop(tracker_id, None)
        return JSONResponse({"forgotten": bool(tracker_id)})

    @router.post("/_sandbox/easypost/trackers/{code}/scan", tags=["sandbox"])
    async def scan(code: str, body: Scan) -> JSONResponse:
        try:
            return JSONResponse(await scan_and_notify(state, client, code, body))
        except ValueError as exc:
            return error(422, "SCAN.INVALID", str(exc))

    @router.post("/_sandbox/easypost/trackers/{code}/script", tags=["sandbox"], status_code=202)
    async def script(code: str, body: Script) -> JSONResponse:
        bad = [s.status for s in body.steps if s.status not in STATUSES]
        if bad:
            return error(422, "SCRIPT.INVALID", f"not EasyPost statuses: {', '.join(bad)}")
        record = start_script(state, client, code, body)
        return JSONResponse(record, status_code=202)

    @router.post("/_sandbox/easypost/fail-next", tags=["sandbox"])
    async def api_fail_next(body: ApiFail) -> JSONResponse:
        return queue_failure(state.easypost_fail_next, body)

    @router.get("/_sandbox/easypost/scripts", tags=["sandbox"])
    async def scripts() -> JSONResponse:
        return JSONResponse(list(state.scripts.values()))

    @router.get("/_sandbox/easypost/webhooks", tags=["sandbox"])
    async def deliveries() -> JSONResponse:
        return JSONResponse([d.to_json() for d in state.deliveries])

    @router.post("/_sandbox/easypost/webhook-sink", tags=["sandbox"])
    async def sink(request: Request) -> JSONResponse:
        """A receiver to point `--webhook-url` at when no Aftercare API runs; can be told to fail."""
        body = await request.body()
        state.webhook_sink.append(SinkedWebhook(utcnow(), dict(request.headers), body))
        if state.sink_fail_next > 0:
            state.sink_fail_next -= 1
            return JSONResponse({"error": "sandbox sink told to fail"}, status_code=503)
        return JSONResponse({"received": True})

    @router.get("/_sandbox/easypost/webhook-sink", tags=["sandbox"])
    async def sink_list() -> JSONResponse:
        return JSONResponse([w.to_json() for w in state.webhook_sink])

    @router.post("/_sandbox/easypost/webhook-sink/fail-next", tags=["sandbox"])
    async def sink_fail(body: SinkFail) -> JSONResponse:
        state.sink_fail_next = body.count
        return JSONResponse({"fail_next": body.count})

    return router
