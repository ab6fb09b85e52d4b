"""A stand-in for EasyPost's Tracker and Shipment APIs and its webhooks, speaking EasyPost's JSON.

Real API (under `/easypost`): `POST /v2/trackers` (JSON `{"tracker": {...}}` or form
`tracker[tracking_code]=...`; an existing code returns its tracker, as EasyPost does),
`GET /v2/trackers` (`tracking_codes[]`, `tracking_code`, `carrier`), `GET /v2/trackers/{id}`; basic
auth with the API key as user name.

Return labels: `POST /v2/shipments` (JSON `{"shipment": {...}}`) with `carrier` and `service` buys the
label in the same call (EasyPost's one-call buy); `is_return: true` swaps the two addresses as
EasyPost does. Each shipment gets a tracker for its fresh tracking code (follow it with the scan
controls below) and a PNG label served by the sandbox at `GET /easypost/labels/{shp_id}.png`.
`GET /v2/shipments/{id}` also takes a shipment's `reference` in place of its id. Like EasyPost, a
repeated `reference` makes a second shipment: the connector looks the reference up before buying.
A missing street1, country or parcel weight is a 422 `SHIPMENT.INVALID_PARAMS` naming each field.

Sandbox controls (under `/_sandbox/easypost`), in EasyPost's own vocabulary:
- `POST trackers/{code}/scan`: append a scan; POST the signed `tracker.updated` Event to the webhook
  URL (first attempt before answering, retries with back-off in the background) unless
  `deliver_webhook` is false; `GET`/`DELETE trackers/{code}` to look at or forget a tracker;
- `POST trackers/{code}/script`: scans played in the background (`after_seconds` after the previous);
- `POST fail-next`: the next API calls answer 429/5xx (optionally late) as an outage would;
- `GET webhooks`: every delivery with its attempts; `webhook-sink` (+ `/fail-next`): a receiver of
  its own for when no Aftercare API listens.

The modules, one job each: `bodies` (the controls' request bodies), `shapes` (EasyPost's JSON objects),
`trackers` (tracker state, scans and scripts), `shipments` (return labels), `webhooks` (signed
deliveries with retries) and `routes` (the HTTP side).
"""

from sandbox.easypost.bodies import ApiFail, Scan, Script, ScriptStep, SinkFail
from sandbox.easypost.routes import build_router
from sandbox.easypost.webhooks import sign

__all__ = ["ApiFail", "Scan", "Script", "ScriptStep", "SinkFail", "build_router", "sign"]
