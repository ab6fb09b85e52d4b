"""The API's counters for what outside systems push to us, under one naming scheme for stores, carriers and
messaging providers (served on the API's `/metrics`; `deploy/grafana/aftercare.json` charts them):

- `aftercare_<source>_webhooks_total{<source>, outcome}`: each delivery (one HTTP request), `outcome` one of
  WEBHOOK_OUTCOMES: accepted, duplicate (a store's retry we had already acted on), refused (signature or
  token wrong: a misconfigured secret, or someone knocking), malformed (verified, or unverifiable, but
  not a body we can read);
- `aftercare_<source>_events_total{<source>, outcome}`: what became of the events inside accepted deliveries.

Label values are bounded: a source name is counted only once it is known (an unknown one answers 404 first),
a store's topic only once the delivery's signature holds.
"""

from __future__ import annotations

from prometheus_client import Counter

WEBHOOK_OUTCOMES = ("accepted", "duplicate", "refused", "malformed")

STORE_WEBHOOKS = Counter(
    "aftercare_store_webhooks_total", "Store webhook deliveries by outcome", ["platform", "topic", "outcome"]
)
CARRIER_WEBHOOKS = Counter(
    "aftercare_carrier_webhooks_total", "Tracking providers' webhook deliveries by outcome", ["carrier", "outcome"]
)
CARRIER_EVENTS = Counter(
    "aftercare_carrier_events_total",
    "Tracking events in accepted carrier webhooks: matched (a parcel we track) or unmatched (kept for later)",
    ["carrier", "outcome"],
)
PROVIDER_WEBHOOKS = Counter(
    "aftercare_provider_webhooks_total",
    "Messaging providers' delivery callbacks (and WhatsApp's handshake) by outcome",
    ["provider", "outcome"],
)
PROVIDER_EVENTS = Counter(
    "aftercare_provider_events_total",
    "Delivery events in accepted provider callbacks: recorded, unchanged or unmatched",
    ["provider", "outcome"],
)
NAMES = (
    "aftercare_store_webhooks_total",
    "aftercare_carrier_webhooks_total",
    "aftercare_carrier_events_total",
    "aftercare_provider_webhooks_total",
    "aftercare_provider_events_total",
)
"""The names above as served (the dashboard test checks the dashboard asks only for served names)."""
