"""Log records as one JSON object per line (AFTERCARE_LOG_FORMAT=json), for a collector to index and search.

Each line has time (UTC, ISO 8601), level, logger, component and message, the traceback when there is one, and,
when the record comes from a workflow or an activity (the Temporal SDK puts `temporal_workflow` /
`temporal_activity` on its loggers' records), which one: workflow id, run id, workflow type, activity type and
attempt, and the merchant and order the workflow id names. Every string written is redacted again (`aftercare.logs`):
the SDK's extras are not part of the message the record factory already redacted.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from aftercare.logs import redact
from domain.orders import ID_SEPARATOR, order_of_journey
from domain.tracking import SHIPMENT_ID_SEPARATOR

# what we copy from the SDK's extras, under our names
_WORKFLOW_FIELDS = {"workflow_id": "workflow_id", "run_id": "run_id", "workflow_type": "workflow_type"}
_ACTIVITY_FIELDS = {
    "workflow_id": "workflow_id",
    "workflow_run_id": "run_id",
    "workflow_type": "workflow_type",
    "activity_type": "activity_type",
    "activity_id": "activity_id",
    "attempt": "attempt",
}


def ids_of_workflow(workflow_id: str) -> dict[str, str]:
    """The merchant and order a journey's id names (`order~acme~1001`), the merchant of a tracking child's
    (`shipment~acme~ups~1Z...`); nothing for any other id (the legacy `order-...` ids are ambiguous)."""
    kind, sep, rest = workflow_id.partition(ID_SEPARATOR)
    if kind == "order" and sep:
        return {"merchant_id": rest.partition(ID_SEPARATOR)[0], "order_id": order_of_journey(workflow_id, None)}
    kind, sep, rest = workflow_id.partition(SHIPMENT_ID_SEPARATOR)
    if kind == "shipment" and sep:
        return {"merchant_id": rest.partition(SHIPMENT_ID_SEPARATOR)[0]}
    return {}


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The workflow/activity fields of a record made by the SDK's workflow or activity logger; {} otherwise."""
    out: dict[str, Any] = {}
    for extra, names in (("temporal_workflow", _WORKFLOW_FIELDS), ("temporal_activity", _ACTIVITY_FIELDS)):
        details = getattr(record, extra, None)
        if isinstance(details, Mapping):
            out |= {ours: details[theirs] for theirs, ours in names.items() if details.get(theirs) is not None}
    if isinstance(out.get("workflow_id"), str):
        out |= ids_of_workflow(out["workflow_id"])
    return out


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line, redacted."""

    def __init__(self, component: str) -> None:
        super().__init__()
        self.component = component

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "component": self.component,
            "message": record.getMessage(),
            **record_fields(record),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        return json.dumps({k: redact(v) if isinstance(v, str) else v for k, v in line.items()}, default=str)
