"""Email through Postmark. Delivery callbacks: `webhook.py` (webhooks behind basic auth), `units_events.py`."""
