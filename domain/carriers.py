"""Carriers the customer knows (UPS, DHL, Royal Mail...), by our own slug, with the name we show.

A *carrier* moves the parcel; a *tracking provider* (EasyPost, AfterShip, Shippo, 17TRACK, the store itself)
is who we ask about it. Every provider names carriers its own way (`UPS`, `ups`, `100002`, `"United Parcel
Service"`): each provider's units table maps its codes onto these slugs, and `carrier_slug` reads free text
(a store's `tracking_company`). Messages, the console and the timeline show `carrier_name(slug)`.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class CarrierInfo(NamedTuple):
    slug: str
    name: str


# slug -> display name, and the spellings stores and providers use for it (lower case, no punctuation)
_TABLE: list[tuple[CarrierInfo, tuple[str, ...]]] = [
    (CarrierInfo("ups", "UPS"), ("united parcel service", "ups ground", "ups mail innovations")),
    (CarrierInfo("fedex", "FedEx"), ("federal express", "fedex ground", "fedex express", "fedex smartpost")),
    (CarrierInfo("usps", "USPS"), ("united states postal service", "us postal service", "us mail")),
    (CarrierInfo("dhl_express", "DHL Express"), ("dhl", "dhl express worldwide")),
    (CarrierInfo("dhl_ecommerce", "DHL eCommerce"), ("dhl ecommerce solutions", "dhl global mail")),
    (CarrierInfo("dhl_parcel_de", "DHL Paket"), ("dhl paket", "deutsche post dhl", "dhl germany", "deutsche post")),
    (CarrierInfo("royal_mail", "Royal Mail"), ("royalmail",)),
    (CarrierInfo("parcelforce", "Parcelforce"), ("parcelforce worldwide",)),
    (CarrierInfo("evri", "Evri"), ("hermes uk", "myhermes", "hermes")),
    (CarrierInfo("dpd", "DPD"), ("dpd uk", "dpd de", "dpd local")),
    (CarrierInfo("gls", "GLS"), ("general logistics systems",)),
    (CarrierInfo("postnl", "PostNL"), ("post nl",)),
    (CarrierInfo("colissimo", "Colissimo"), ("la poste colissimo", "la poste")),
    (CarrierInfo("chronopost", "Chronopost"), ()),
    (CarrierInfo("canada_post", "Canada Post"), ("postes canada",)),
    (CarrierInfo("purolator", "Purolator"), ()),
    (CarrierInfo("australia_post", "Australia Post"), ("auspost",)),
    (CarrierInfo("new_zealand_post", "NZ Post"), ("nz post", "new zealand post")),
    (CarrierInfo("japan_post", "Japan Post"), ()),
    (CarrierInfo("yamato", "Yamato Transport"), ("yamato transport", "kuroneko yamato")),
    (CarrierInfo("sf_express", "SF Express"), ("sf",)),
    (CarrierInfo("china_post", "China Post"), ("china ems", "ems china")),
    (CarrierInfo("correos", "Correos"), ("correos de espana",)),
    (CarrierInfo("poste_italiane", "Poste Italiane"), ()),
    (CarrierInfo("bpost", "bpost"), ("belgian post",)),
    (CarrierInfo("swiss_post", "Swiss Post"), ("die post", "la poste suisse")),
    (CarrierInfo("austrian_post", "Austrian Post"), ("osterreichische post", "post at")),
    (CarrierInfo("postnord", "PostNord"), ()),
    (CarrierInfo("amazon_logistics", "Amazon Logistics"), ("amazon", "amazon shipping")),
    (CarrierInfo("ontrac", "OnTrac"), ()),
    (CarrierInfo("lasership", "LaserShip"), ()),
    (CarrierInfo("india_post", "India Post"), ()),
    (CarrierInfo("blue_dart", "Blue Dart"), ("bluedart",)),
    (CarrierInfo("aramex", "Aramex"), ()),
]

CARRIERS: dict[str, CarrierInfo] = {info.slug: info for info, _ in _TABLE}
UNKNOWN_CARRIER = "other"

TRACKING_PROVIDERS: tuple[str, ...] = ("17track", "aftership", "easypost", "shippo")
PROVIDER_NAMES = {"aftership": "AfterShip", "easypost": "EasyPost", "shippo": "Shippo", "17track": "17TRACK"}
"""The tracking providers Aftercare has a connector for (`connectors/carriers/<name>/`), by the name a policy's
`tracking.provider`, a Shipment's `provider` and the push URL (`/v1/carriers/{provider}/events`) use. A shipment
whose `carrier` is one of these and names no `provider` is of the old form: the carrier field named the provider."""

_ALIASES: dict[str, str] = {}
for _info, _spellings in _TABLE:
    for _spelling in (_info.slug.replace("_", " "), _info.name.lower(), *_spellings):
        _ALIASES[_spelling] = _info.slug


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", text.lower()).split())


def carrier_slug(text: str | None) -> str:
    """Our slug for a carrier as a store or provider spells it (`"UPS"`, `"Royal Mail"`, `"fedex"`).

    Text we do not know keeps a slug of its own (`"Acme Couriers"` -> `acme_couriers`), so the customer is
    still told the name the merchant gave; nothing at all is `other`."""
    plain = _plain(text or "")
    if not plain:
        return UNKNOWN_CARRIER
    known = _ALIASES.get(plain)
    if known is not None:
        return known
    return plain.replace(" ", "_")[:32]


def carrier_name(slug: str | None) -> str:
    """What the customer reads: `ups` -> `UPS`; a slug we do not know is shown as the merchant wrote it."""
    if not slug or slug == UNKNOWN_CARRIER:
        return "the carrier"
    info = CARRIERS.get(slug)
    if info is not None:
        return info.name
    return PROVIDER_NAMES.get(slug) or slug.replace("_", " ").title()  # an older parcel's carrier named its provider
