"""Return-label Shipments: EasyPost's checks, the one-call buy (rate, tracking code, tracker, label) and a PNG label."""

from __future__ import annotations

import random
import re
import struct
import uuid
import zlib
from typing import Any

from sandbox.easypost import shapes
from sandbox.easypost.trackers import new_tracker
from sandbox.state import SandboxState, iso, utcnow

# Services the sandbox sells per carrier (EasyPost's names); other carriers take any service.
SERVICES = {
    "USPS": ("GroundAdvantage", "Priority", "Express", "First", "ParcelSelect", "MediaMail", "LibraryMail"),
    "UPS": ("Ground", "3DaySelect", "2ndDayAir", "NextDayAir", "NextDayAirSaver"),
    "FedEx": ("FEDEX_GROUND", "FEDEX_2_DAY", "FEDEX_EXPRESS_SAVER", "PRIORITY_OVERNIGHT", "STANDARD_OVERNIGHT"),
}


def shipment_errors(payload: dict[str, Any]) -> list[dict[str, str]]:
    """Every field EasyPost would refuse, in its `{"field", "message"}` style."""
    problems: list[dict[str, str]] = []
    for side in ("to_address", "from_address"):
        address = payload.get(side)
        if not isinstance(address, dict):
            problems.append({"field": side, "message": "must be present and an object"})
            continue
        for name in ("street1", "country"):
            if not str(address.get(name) or "").strip():
                problems.append({"field": f"{side}.{name}", "message": "must be present and a string"})
        country = str(address.get("country") or "")
        if country and not re.fullmatch(r"[A-Za-z]{2}", country):
            problems.append({"field": f"{side}.country", "message": "must be a 2-letter ISO country code"})
    parcel = payload.get("parcel")
    weight = parcel.get("weight") if isinstance(parcel, dict) else None
    if not isinstance(weight, int | float) or isinstance(weight, bool) or weight <= 0:
        problems.append({"field": "parcel.weight", "message": "must be a number of ounces greater than 0"})
    carrier, service = payload.get("carrier"), payload.get("service")
    if service and carrier in SERVICES and service not in SERVICES[str(carrier)]:
        offered = ", ".join(SERVICES[str(carrier)])
        problems.append(
            {"field": "service", "message": f"{service!r} is not a {carrier} service; use one of {offered}"}
        )
    return problems


def _tracking_code(carrier: str) -> str:
    rng = random.SystemRandom()
    digits = "".join(rng.choice("0123456789") for _ in range(18))
    if carrier == "UPS":
        return "1Z" + "".join(rng.choice("0123456789ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(16))
    return ("9434" + digits) if carrier == "USPS" else digits[:12]


def new_shipment(state: SandboxState, payload: dict[str, Any]) -> dict[str, Any]:
    """A Shipment as EasyPost stores it; bought at once (label, tracking code, tracker) when a service is given."""
    now = iso(utcnow())
    shipment_id = "shp_" + uuid.uuid4().hex
    carrier = str(payload.get("carrier") or "USPS")
    shipment = shapes.shipment(shipment_id, payload, now)
    if payload.get("service"):  # one-call buy
        rate = shapes.rate(shipment_id, carrier, payload["service"])
        code = _tracking_code(carrier)
        tracker = new_tracker(state, code, carrier)
        tracker.update(shipment_id=shipment_id, is_return=shipment["is_return"])
        shipment.update(
            rates=[rate],
            selected_rate=rate,
            tracking_code=code,
            tracker=tracker,
            postage_label=shapes.postage_label(f"{state.http_url}/easypost/labels/{shipment_id}.png", now),
        )
    state.shipments[shipment_id] = shipment
    return shipment


def find_shipment(state: SandboxState, id_or_reference: str) -> dict[str, Any] | None:
    """By id, else the newest shipment with that reference (EasyPost takes references in place of ids)."""
    if id_or_reference in state.shipments:
        return state.shipments[id_or_reference]
    same = [s for s in state.shipments.values() if s.get("reference") == id_or_reference]
    return same[-1] if same else None


def label_png(tracking_code: str, width: int = 200, height: int = 300) -> bytes:
    """A 4x6 in label at 50 dpi: a frame and a barcode drawn from the tracking code (no fonts needed)."""
    bars = [bit == "1" for ch in tracking_code for bit in format(ord(ch), "08b")]
    bar_width = max(1, (width - 40) // max(1, len(bars)))
    rows = bytearray()
    for y in range(height):
        rows.append(0)  # PNG filter type: none
        for x in range(width):
            frame = x < 4 or x >= width - 4 or y < 4 or y >= height - 4
            in_code = 190 <= y < 260 and 20 <= x < 20 + bar_width * len(bars)
            ink = frame or (in_code and bars[(x - 20) // bar_width]) or (y in (60, 120) and 10 < x < width - 10)
            rows.append(0 if ink else 255)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit greyscale
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows))) + chunk(b"IEND", b"")
    )
