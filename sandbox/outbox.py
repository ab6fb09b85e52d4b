"""The outbox: every email, SMS and WhatsApp message the stand-ins received, and every payment and refund,
newest first.

Server-rendered with Jinja2 (autoescaped: message bodies come from templates we are testing), and
refreshing itself so a demo shows messages as the journeys send them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from jinja2 import DictLoader, Environment, select_autoescape

from sandbox.state import SandboxState, iso
from sandbox.stripe import money

_LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
{% if refresh %}<meta http-equiv="refresh" content="{{ refresh }}">{% endif %}
<title>{{ title }} · Aftercare sandbox</title>
<style>
 body{font-family:system-ui,sans-serif;margin:2rem;color:#222}
 table{border-collapse:collapse;width:100%;margin-bottom:2rem}
 th,td{border-bottom:1px solid #ddd;padding:.4rem .6rem;text-align:left;vertical-align:top}
 th{background:#f5f5f5} .muted{color:#777;font-size:.9em} pre{white-space:pre-wrap}
 .tag{display:inline-block;padding:0 .4em;border-radius:.3em;background:#eef;font-size:.85em}
 iframe{width:100%;height:60vh;border:1px solid #ddd}
</style></head><body>{% block body %}{% endblock %}</body></html>"""

_OUTBOX = """{% extends "layout.html" %}{% block body %}
<h1>Outbox</h1>
<p class="muted">Everything the sandbox received, newest first. Refreshes every {{ refresh }} s.
 <a href="/outbox.json">JSON</a></p>
<h2>Email ({{ emails|length }})</h2>
{% if emails %}<table><tr><th>Received</th><th>To</th><th>Subject</th><th>View</th></tr>
{% for e in emails %}<tr class="email">
 <td class="muted">{{ e.received_at.strftime("%Y-%m-%d %H:%M:%S") }}</td>
 <td>{{ e.to }}</td><td><a href="/outbox/emails/{{ e.id }}">{{ e.subject or "(no subject)" }}</a></td>
 <td>{% if e.html %}<a href="/outbox/emails/{{ e.id }}/html">HTML</a>{% endif %}
     {% if e.text %}<a href="/outbox/emails/{{ e.id }}/text">text</a>{% endif %}</td>
</tr>{% endfor %}</table>{% else %}<p class="muted">No email yet.</p>{% endif %}
<h2>SMS and WhatsApp ({{ texts|length }})</h2>
{% if texts %}<table><tr><th>Received</th><th>Channel</th><th>To</th><th>From</th><th>Body</th></tr>
{% for t in texts %}<tr class="text">
 <td class="muted">{{ t.date_created }}</td><td><span class="tag">{{ t.channel }}</span></td>
 <td>{{ t.to }}</td><td>{{ t.from }}</td><td><pre>{{ t.body }}</pre></td>
</tr>{% endfor %}</table>{% else %}<p class="muted">No text message yet.</p>{% endif %}
<h2>Carrier webhooks ({{ deliveries|length }})</h2>
{% if deliveries %}<table><tr><th>Event</th><th>Tracking code</th><th>To</th><th>Attempts</th><th>State</th></tr>
{% for d in deliveries %}<tr>
 <td>{{ d.description }} <span class="muted">{{ d.event_id }}</span></td><td>{{ d.tracking_code }}</td>
 <td class="muted">{{ d.url }}</td>
 <td>{% for a in d.attempts %}{{ a.status_code or a.error }}{% if not loop.last %}, {% endif %}{% endfor %}</td>
 <td>{{ "delivered" if d.delivered else ("gave up" if d.gave_up else "retrying") }}</td>
</tr>{% endfor %}</table>{% else %}<p class="muted">No webhook sent yet.</p>{% endif %}
<h2>Payments ({{ payments|length }}) and refunds ({{ refunds|length }})</h2>
{% if payments %}<table><tr><th>Paid</th><th>PaymentIntent</th><th>Amount</th><th>Refunded</th><th>Order</th></tr>
{% for p in payments %}<tr class="payment">
 <td class="muted">{{ p.created }}</td><td>{{ p.id }}</td><td>{{ p.amount }}</td><td>{{ p.refunded }}</td>
 <td>{{ p.order }}</td>
</tr>{% endfor %}</table>{% else %}<p class="muted">No payment yet.</p>{% endif %}
{% if refunds %}<table><tr><th>Refunded</th><th>Refund</th><th>PaymentIntent</th><th>Amount</th><th>Status</th>
<th>Why</th></tr>
{% for r in refunds %}<tr class="refund">
 <td class="muted">{{ r.created }}</td><td>{{ r.id }}</td><td>{{ r.payment_intent }}</td><td>{{ r.amount }}</td>
 <td><span class="tag">{{ r.status }}</span></td><td>{{ r.why }}</td>
</tr>{% endfor %}</table>{% endif %}
{% endblock %}"""

_EMAIL = """{% extends "layout.html" %}{% block body %}
<p><a href="/outbox">&larr; Outbox</a></p>
<h1>{{ e.subject or "(no subject)" }}</h1>
<table>
{% for name, value in e.headers.items() %}<tr><th>{{ name }}</th><td>{{ value }}</td></tr>{% endfor %}
<tr><th>Envelope</th><td>{{ e.mail_from }} &rarr; {{ e.rcpt_tos|join(", ") }}</td></tr>
</table>
{% if e.html %}<h2>HTML</h2><iframe sandbox src="/outbox/emails/{{ e.id }}/html" title="HTML part"></iframe>{% endif %}
{% if e.text %}<h2>Text</h2><pre>{{ e.text }}</pre>{% endif %}
{% endblock %}"""

_env = Environment(
    loader=DictLoader({"layout.html": _LAYOUT, "outbox.html": _OUTBOX, "email.html": _EMAIL}),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
REFRESH_SECONDS = 3


def _texts(state: SandboxState) -> list[dict[str, Any]]:
    with state.lock:
        return list(reversed(state.texts))


def _emails(state: SandboxState) -> list[Any]:
    with state.lock:
        return list(reversed(state.emails))


def _when(unix: int) -> str:
    return iso(datetime.fromtimestamp(unix, UTC)).replace("T", " ").rstrip("Z")


def _payments(state: SandboxState) -> list[dict[str, Any]]:
    """PaymentIntents newest first, with what was refunded of each, as the page shows them."""
    rows = []
    for intent in reversed(state.payment_intents.values()):
        charge = state.charges.get(intent.get("latest_charge") or "") or {}
        rows.append({
            "id": intent["id"],
            "created": _when(intent["created"]),
            "amount": money(intent["amount"], intent["currency"]),
            "refunded": money(charge.get("amount_refunded", 0), intent["currency"]),
            "order": intent["metadata"].get("order_id", ""),
        })  # fmt: skip
    return rows


def _refunds(state: SandboxState) -> list[dict[str, Any]]:
    rows = []
    for refund in reversed(state.refunds.values()):
        meta = refund["metadata"]
        why = " · ".join(v for v in (meta.get("aftercare_reason") or refund["reason"], meta.get("note"),
                                     meta.get("requested_by")) if v)  # fmt: skip
        rows.append({
            "id": refund["id"],
            "created": _when(refund["created"]),
            "payment_intent": refund["payment_intent"],
            "amount": money(refund["amount"], refund["currency"]),
            "status": refund["status"],
            "why": why,
        })  # fmt: skip
    return rows


def build_router(state: SandboxState) -> APIRouter:
    router = APIRouter(tags=["outbox"])

    @router.get("/outbox", response_class=HTMLResponse)
    async def outbox() -> HTMLResponse:
        html = _env.get_template("outbox.html").render(
            title="Outbox",
            refresh=REFRESH_SECONDS,
            emails=_emails(state),
            texts=_texts(state),
            deliveries=list(reversed(state.deliveries)),
            payments=_payments(state),
            refunds=_refunds(state),
        )
        return HTMLResponse(html)

    @router.get("/outbox.json")
    async def outbox_json() -> JSONResponse:
        return JSONResponse(
            {
                "emails": [e.to_json() for e in _emails(state)],
                "texts": _texts(state),
                "webhooks": [d.to_json() for d in reversed(state.deliveries)],
                "payment_intents": list(reversed(state.payment_intents.values())),
                "refunds": list(reversed(state.refunds.values())),
            }
        )

    @router.delete("/outbox")
    async def clear() -> JSONResponse:
        state.clear_outbox()
        return JSONResponse({"cleared": True})

    def find(email_id: int) -> Any:
        return next((e for e in _emails(state) if e.id == email_id), None)

    @router.get("/outbox/emails/{email_id}", response_class=HTMLResponse)
    async def email_page(email_id: int) -> Response:
        if (e := find(email_id)) is None:
            return PlainTextResponse(f"no email {email_id}", status_code=404)
        return HTMLResponse(_env.get_template("email.html").render(title=e.subject, refresh=None, e=e))

    @router.get("/outbox/emails/{email_id}/html")
    async def email_html(email_id: int) -> Response:
        if (e := find(email_id)) is None or e.html is None:
            return PlainTextResponse(f"no HTML part for email {email_id}", status_code=404)
        # the HTML is what our templates rendered: show it, but never let it run scripts here
        return HTMLResponse(e.html, headers={"Content-Security-Policy": "sandbox"})

    @router.get("/outbox/emails/{email_id}/text")
    async def email_text(email_id: int) -> Response:
        if (e := find(email_id)) is None or e.text is None:
            return PlainTextResponse(f"no text part for email {email_id}", status_code=404)
        return PlainTextResponse(e.text)

    return router
