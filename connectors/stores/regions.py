"""A customer's time zone from the country and state/province a store gives, where only one zone fits.

Stores send addresses, not zones. A country whose zones all keep the same clock (Germany, France, Japan)
names its zone outright; a country that spans several (the US, Canada, Australia) needs the state, and
only states wholly inside one zone answer: Texas, Florida or Ontario straddle a line, so they give None
and the journey uses the merchant's zone, as for any customer whose zone we do not know.
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime
from functools import cache

from babel.core import get_global

# States and provinces wholly inside one zone, by the ISO 3166-2 subdivision code stores use.
_STATE_ZONES: dict[str, dict[str, str]] = {
    "US": {
        **dict.fromkeys(
            (
                "CT",
                "DC",
                "DE",
                "GA",
                "MA",
                "MD",
                "ME",
                "NC",
                "NH",
                "NJ",
                "NY",
                "OH",
                "PA",
                "RI",
                "SC",
                "VA",
                "VT",
                "WV",
            ),
            "America/New_York",
        ),
        **dict.fromkeys(("AL", "AR", "IA", "IL", "LA", "MN", "MO", "MS", "OK", "WI"), "America/Chicago"),
        **dict.fromkeys(("CO", "MT", "NM", "UT", "WY"), "America/Denver"),
        "AZ": "America/Phoenix",
        **dict.fromkeys(("CA", "WA"), "America/Los_Angeles"),
        "HI": "Pacific/Honolulu",
        "PR": "America/Puerto_Rico",
    },
    "CA": {
        "AB": "America/Edmonton",
        "MB": "America/Winnipeg",
        "NB": "America/Moncton",
        "NS": "America/Halifax",
        "PE": "America/Halifax",
        "SK": "America/Regina",
        "YT": "America/Whitehorse",
    },
    "AU": {
        "ACT": "Australia/Sydney",
        "NT": "Australia/Darwin",
        "QLD": "Australia/Brisbane",
        "SA": "Australia/Adelaide",
        "TAS": "Australia/Hobart",
        "VIC": "Australia/Melbourne",
    },
}
# Two days a year apart in season: zones that agree on both keep the same clock (standard time and DST).
_PROBES = (datetime(2026, 1, 15, 12, tzinfo=UTC), datetime(2026, 7, 15, 12, tzinfo=UTC))


@cache
def _country_zone(country: str) -> str | None:
    zones: list[str] = get_global("territory_zones").get(country, [])
    if not zones:
        return None
    clocks = {tuple(probe.astimezone(zoneinfo.ZoneInfo(z)).utcoffset() for probe in _PROBES) for z in zones}
    return zones[0] if len(clocks) == 1 else None


def customer_timezone(country: str | None, state: str | None = None) -> str | None:
    """The IANA zone of an address in `country` (ISO 3166-1 alpha-2) and `state`, or None if it is not
    certain: an unknown country, or a state that is not wholly inside one zone of a country that spans several."""
    if not country:
        return None
    code = country.strip().upper()
    by_state = _STATE_ZONES.get(code, {})
    if state and (zone := by_state.get(state.strip().upper())):
        return zone
    return _country_zone(code)
