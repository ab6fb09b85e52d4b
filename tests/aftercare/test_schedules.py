"""A Temporal that will not let the worker make the prune's schedule does not stop the worker: it says what to do."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.service import RPCError, RPCStatusCode

from aftercare.schedules import ensure_prune_schedule


class RefusingClient:
    async def create_schedule(self, *_: Any, **__: Any) -> None:
        raise RPCError("namespace API key may not create schedules", RPCStatusCode.PERMISSION_DENIED, b"")


async def test_a_refused_schedule_is_a_warning_naming_the_cron_alternative(caplog: pytest.LogCaptureFixture) -> None:
    assert await ensure_prune_schedule(RefusingClient(), "aftercare") is False  # type: ignore[arg-type]
    [record] = [r for r in caplog.records if r.name == "aftercare.schedules"]
    assert record.levelname == "WARNING" and "PERMISSION_DENIED" in record.getMessage()
    assert "aftercare db prune" in record.getMessage()
