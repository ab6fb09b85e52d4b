"""Reading the providers' published callback payloads under tests/connectors/fixtures/<vendor>/, and what the
callback parsers' refusals are checked with."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.messaging.callbacks import CallbackRefused

FIXTURES = Path(__file__).parent / "fixtures"


def raw(vendor: str, name: str) -> bytes:
    """The fixture's bytes as the vendor would POST them (a form's trailing newline dropped)."""
    data = (FIXTURES / vendor / name).read_bytes()
    return data.strip() if name.endswith(".txt") else data


def doc(vendor: str, name: str) -> Any:
    return json.loads(raw(vendor, name))


def assert_refused(kind: str, match: str | None, call: Callable[..., object], *args: object) -> None:
    """`call(*args)` refuses the callback as `kind` (signature, unconfigured, malformed), saying `match`."""
    with pytest.raises(CallbackRefused, match=match) as refused:
        call(*args)
    assert refused.value.kind == kind
