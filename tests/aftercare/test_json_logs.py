"""AFTERCARE_LOG_FORMAT=json: every line a JSON object a collector can index, naming the workflow, merchant and
order a record is about, and never a customer's address."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from temporalio.testing import WorkflowEnvironment

from aftercare.json_logs import JsonFormatter, ids_of_workflow
from aftercare.logs import install_redaction
from aftercare.settings import load_settings
from storage import Store
from tests.aftercare.observed_journey import EMAIL, observed_journey


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """What the root logger writes while the test runs, formatted as AFTERCARE_LOG_FORMAT=json formats it."""
    install_redaction()  # as configure_logging does at start
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter("worker"))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


def parsed(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]  # every line parses, or this fails


async def test_a_journeys_log_lines_name_its_workflow_merchant_and_order_and_no_address(
    time_skipping_env: WorkflowEnvironment,
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    json_lines: io.StringIO,
) -> None:
    async with observed_journey(time_skipping_env, store, tmp_path, monkeypatch) as run:
        logging.getLogger("aftercare.test").warning("bounced: %s said no", EMAIL)  # a careless line, redacted
    lines = parsed(json_lines)
    sent = [line for line in lines if line.get("activity_type") == "send_message" and "sent" in line["message"]]
    assert sent, lines
    assert sent[0] | {"time": "", "message": "", "run_id": "", "activity_id": ""} == {
        "time": "",
        "level": "INFO",
        "logger": "temporalio.activity",
        "component": "worker",
        "message": "",
        "workflow_id": run.order.workflow_id,
        "run_id": "",
        "workflow_type": "OrderJourney",
        "activity_type": "send_message",
        "activity_id": "",
        "attempt": 1,
        "merchant_id": "acme",
        "order_id": run.order.order_id,
    }
    assert sent[0]["run_id"] == run.handle.result_run_id
    assert not any(EMAIL in text or "ada.lovelace" in text for text in json_lines.getvalue().splitlines())
    assert any(line["message"] == "bounced: [email] said no" for line in lines)


def test_the_sdks_extras_are_redacted_too() -> None:
    """The SDK's workflow details are not part of the message the record factory redacts."""
    record = logging.LogRecord("temporalio.workflow", logging.INFO, __file__, 1, "started", None, None)
    record.temporal_workflow = {"workflow_id": f"order~acme~{EMAIL}", "run_id": "r-1", "workflow_type": "X"}
    line = json.loads(JsonFormatter("worker").format(record))
    assert "[email]" in line["workflow_id"] and "[email]" in line["order_id"]
    assert "ada.lovelace" not in json.dumps(line)


def test_ids_of_workflow_ids() -> None:
    assert ids_of_workflow("order~acme~1001") == {"merchant_id": "acme", "order_id": "1001"}
    assert ids_of_workflow("shipment~acme~ups~1Z999") == {"merchant_id": "acme"}
    assert ids_of_workflow("order-acme-1001") == {}  # the legacy id is ambiguous: nothing rather than a guess


def test_configure_logging_writes_json_lines_when_asked() -> None:
    """What a process started with AFTERCARE_LOG_FORMAT=json writes (worker.py and the API pass the setting)."""
    code = (
        "import logging; from aftercare.logs import configure_logging; configure_logging('worker', log_format='json');"
        " logging.getLogger('aftercare').info('hello %s', 'x@y.example')"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    line = json.loads(done.stderr.strip().splitlines()[-1])
    assert (line["message"], line["component"], line["level"], line["logger"]) == (
        "hello [email]",
        "worker",
        "INFO",
        "aftercare",
    )


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("AFTERCARE_LOG_FORMAT", "xml", "must be one of text, json"),
        ("AFTERCARE_WORKER_METRICS_ADDRESS", "9464", "must be host:port"),
        ("AFTERCARE_WORKER_METRICS_ADDRESS", "0.0.0.0:99999", "must be host:port"),
    ],
)
def test_observability_settings_that_cannot_work_stop_start_up(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SystemExit, match=says) as stopped:
        load_settings()
    assert variable in str(stopped.value)
