"""Durations as merchants write them: `30m`, `36h`, `2d`, `1w`, `3bd` (business days).

Pure maths only: the workflows import this, so no I/O and no clock.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, ClassVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_RE = re.compile(r"^\s*(\d+)\s*(s|m|h|d|w|bd)\s*$")


@dataclass(frozen=True, slots=True)
class Duration:
    """A span of wall-clock time, or a count of business days (`unit == "bd"`)."""

    amount: int
    unit: str

    VALID: ClassVar[str] = "a whole number and a unit: 30m, 36h, 2d, 1w, or 3bd for business days"

    @classmethod
    def parse(cls, text: str | int) -> Duration:
        if isinstance(text, int) and text == 0:
            return cls(0, "s")
        match = _RE.match(str(text))
        if not match:
            raise ValueError(f"{text!r} is not a duration; use {cls.VALID}")
        return cls(int(match.group(1)), match.group(2))

    @property
    def business_days(self) -> bool:
        return self.unit == "bd"

    def as_timedelta(self) -> timedelta:
        """Calendar length; business days need `add_business_days`, so they refuse here."""
        if self.business_days:
            raise ValueError(f"{self} counts business days; it has no fixed length")
        return timedelta(seconds=self.amount * _UNITS[self.unit])

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def validate(value: Any) -> Duration:
            if isinstance(value, Duration):
                return value
            if isinstance(value, str | int) and not isinstance(value, bool):
                return cls.parse(value)
            raise ValueError(f"{value!r} is not a duration; use {cls.VALID}")

        return core_schema.no_info_plain_validator_function(
            validate,
            serialization=core_schema.plain_serializer_function_ser_schema(str),
            json_schema_input_schema=core_schema.str_schema(),
        )
