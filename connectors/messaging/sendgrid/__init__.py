"""Email through SendGrid. Delivery callbacks: `webhook.py` (the signed Event Webhook), `units_events.py`."""
