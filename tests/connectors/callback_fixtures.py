"""Reading the providers' published callback payloads under tests/connectors/fixtures/<vendor>/."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"


def raw(vendor: str, name: str) -> bytes:
    """The fixture's bytes as the vendor would POST them (a form's trailing newline dropped)."""
    data = (FIXTURES / vendor / name).read_bytes()
    return data.strip() if name.endswith(".txt") else data


def doc(vendor: str, name: str) -> Any:
    return json.loads(raw(vendor, name))
