"""WhatsApp through Meta's WhatsApp Cloud API. Delivery callbacks: `webhook.py` (signed status webhooks and the
GET verification handshake), `units_events.py`."""
