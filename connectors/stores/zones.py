"""A customer's time zone from their shipping country and province, for stores that do not send one.

A country with one zone (CLDR's territory zones, through Babel) is that zone. Countries spanning several zones
are looked up by province (ISO 3166-2 subdivision code, as Shopify's `province_code` and WooCommerce's `state`
give it) where the table below has them, or by the zone most of their people live in. Anything else is None:
the journey then uses the merchant policy's default zone.
"""

from __future__ import annotations

from collections.abc import Mapping

from babel.core import get_global

_US = {
    **dict.fromkeys(
        ("CT", "DC", "DE", "FL", "GA", "IN", "KY", "MA", "MD", "ME", "MI", "NC", "NH", "NJ", "NY", "OH", "PA", "RI"),
        "America/New_York",
    ),
    **dict.fromkeys(("SC", "VA", "VT", "WV"), "America/New_York"),
    **dict.fromkeys(
        ("AL", "AR", "IA", "IL", "KS", "LA", "MN", "MO", "MS", "ND", "NE", "OK", "SD", "TN", "TX", "WI"),
        "America/Chicago",
    ),
    **dict.fromkeys(("CO", "ID", "MT", "NM", "UT", "WY"), "America/Denver"),
    "AZ": "America/Phoenix",
    **dict.fromkeys(("CA", "NV", "OR", "WA"), "America/Los_Angeles"),
    "AK": "America/Anchorage",
    "HI": "Pacific/Honolulu",
    "PR": "America/Puerto_Rico",
    "GU": "Pacific/Guam",
    "VI": "America/St_Thomas",
    "AS": "Pacific/Pago_Pago",
    "MP": "Pacific/Saipan",
}
_CA = {
    **dict.fromkeys(("ON", "QC"), "America/Toronto"),
    **dict.fromkeys(("NS", "NB", "PE"), "America/Halifax"),
    "NL": "America/St_Johns",
    "MB": "America/Winnipeg",
    "SK": "America/Regina",
    "AB": "America/Edmonton",
    "BC": "America/Vancouver",
    "YT": "America/Whitehorse",
    "NT": "America/Yellowknife",
    "NU": "America/Iqaluit",
}
_AU = {
    **dict.fromkeys(("NSW", "ACT"), "Australia/Sydney"),
    "VIC": "Australia/Melbourne",
    "QLD": "Australia/Brisbane",
    "SA": "Australia/Adelaide",
    "WA": "Australia/Perth",
    "TAS": "Australia/Hobart",
    "NT": "Australia/Darwin",
}
_BR = {
    **dict.fromkeys(
        ("SP", "RJ", "MG", "ES", "PR", "SC", "RS", "GO", "DF", "BA", "SE", "AL", "PE", "PB", "RN", "CE", "PI"),
        "America/Sao_Paulo",
    ),
    **dict.fromkeys(("MA", "PA", "AP", "TO"), "America/Belem"),
    **dict.fromkeys(("MT", "MS"), "America/Cuiaba"),
    **dict.fromkeys(("AM", "RR", "RO"), "America/Manaus"),
    "AC": "America/Rio_Branco",
}
_MX = {
    "BC": "America/Tijuana",
    **dict.fromkeys(("BCS", "SIN", "NAY"), "America/Mazatlan"),
    "SON": "America/Hermosillo",
    "CHH": "America/Chihuahua",
    "ROO": "America/Cancun",
}
_BY_PROVINCE: dict[str, tuple[dict[str, str], str | None]] = {
    "US": (_US, None),  # no default: a US customer in an unknown state could be six hours from New York
    "CA": (_CA, None),
    "AU": (_AU, None),
    "BR": (_BR, "America/Sao_Paulo"),
    "MX": (_MX, "America/Mexico_City"),
}
# Several zones, but nearly everyone lives in one (islands, exclaves and the Antarctic bases aside).
_MAIN_ZONE = {
    "AR": "America/Argentina/Buenos_Aires",
    "CL": "America/Santiago",
    "CN": "Asia/Shanghai",
    "CY": "Asia/Nicosia",
    "DE": "Europe/Berlin",
    "DK": "Europe/Copenhagen",
    "EC": "America/Guayaquil",
    "ES": "Europe/Madrid",
    "FR": "Europe/Paris",
    "GB": "Europe/London",
    "MY": "Asia/Kuala_Lumpur",
    "NL": "Europe/Amsterdam",
    "NZ": "Pacific/Auckland",
    "PT": "Europe/Lisbon",
    "UA": "Europe/Kyiv",
}
_TERRITORY_ZONES: Mapping[str, list[str]] = get_global("territory_zones")


def customer_timezone(country: str | None, province: str | None = None) -> str | None:
    """The IANA zone a customer in `country` (ISO 3166-1 alpha-2) and `province` most likely lives in, or None."""
    if not country:
        return None
    country = country.upper()
    by_province = _BY_PROVINCE.get(country)
    if by_province is not None:
        table, fallback = by_province
        code = (province or "").upper().removeprefix(f"{country}-")
        return table.get(code, fallback)
    if country in _MAIN_ZONE:
        return _MAIN_ZONE[country]
    zones = _TERRITORY_ZONES.get(country, [])
    return zones[0] if len(zones) == 1 else None
