"""Message templates: every step on every channel renders, locales fall back, customer data is escaped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from activities.templates import TemplateError, TemplateNotFoundError, TemplateRenderer
from domain import Channel, DelayKind, Step


@pytest.mark.parametrize("channel", list(Channel))
@pytest.mark.parametrize("step", list(Step))
def test_every_step_renders_on_every_channel(
    renderer: TemplateRenderer, context: dict[str, Any], step: Step, channel: Channel
) -> None:
    message = renderer.render(step, channel, "en", context)
    assert message.text and "{{" not in message.text and "{%" not in message.text
    assert "None" not in message.text
    if channel is Channel.EMAIL:
        assert message.subject and "\n" not in message.subject
        assert message.html and message.html.startswith("<!DOCTYPE html>") and "</html>" in message.html
        assert "Acme Coffee" in message.html
    else:
        assert message.subject is None and message.html is None
        assert message.text.isascii() or channel is Channel.WHATSAPP  # GSM-friendly SMS
    if channel is Channel.SMS:
        assert len(message.text) <= 320, message.text  # at most two SMS segments


@pytest.mark.parametrize("step", list(Step))
def test_templates_tolerate_a_minimal_context(renderer: TemplateRenderer, step: Step) -> None:
    """Only what every message has (merchant, customer, order) plus the one key the step is about:
    no links, no names, no estimated delivery."""
    needs: dict[Step, dict[str, Any]] = {
        Step.SHIPPED: {"shipment": {"carrier": "dhl", "tracking_number": "JD1"}},
        Step.STATUS_UPDATE: {"shipment": {"carrier": "dhl", "tracking_number": "JD1", "status": "in_transit"}},
        Step.DELAY_ALERT: {"delay": {"kind": "fulfillment_late"}},
        Step.REORDER_REMINDER: {"reorder": {"sku": "B"}},
        Step.REFUND_ISSUED: {"refund": {"amount": 5}},
    }
    context = {"merchant": {"name": "Shop"}, "customer": {"first_name": None}, "order": {"id": "7"}}
    for channel in Channel:
        message = renderer.render(step, channel, "en", {**context, **needs.get(step, {})})
        assert "None" not in message.text, (step, channel, message.text)


def test_customer_names_are_escaped_in_html_and_left_alone_in_text(
    renderer: TemplateRenderer, context: dict[str, Any]
) -> None:
    context["customer"]["first_name"] = "<script>alert('x')</script>"
    context["merchant"]["name"] = "Tom & Jerry's"
    message = renderer.render(Step.CONFIRMATION, Channel.EMAIL, "en", context)
    assert message.html is not None
    assert "<script>" not in message.html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in message.html
    assert "Tom &amp; Jerry&#39;s" in message.html
    assert "Hi <script>alert('x')</script>," in message.text
    assert "Tom & Jerry's" in message.text

    sms = renderer.render(Step.CONFIRMATION, Channel.SMS, "en", context)
    assert sms.text.startswith("Tom & Jerry's:")


def test_locale_selection_and_fallback(renderer: TemplateRenderer, context: dict[str, Any]) -> None:
    german = renderer.render(Step.CONFIRMATION, Channel.EMAIL, "de", context)
    assert german.subject == "Danke für deine Bestellung 1001!"
    assert german.html is not None and '<html lang="de">' in german.html
    assert renderer.render(Step.CONFIRMATION, Channel.EMAIL, "de-AT", context).subject == german.subject
    assert renderer.render(Step.CONFIRMATION, Channel.EMAIL, "de_DE", context).subject == german.subject

    for locale in ("fr", "", None):
        assert renderer.render(Step.CONFIRMATION, Channel.EMAIL, locale, context).subject == (
            "Thanks for your order 1001!"
        )
    # German exists for the confirmation email only: everything else falls back to English
    assert renderer.render(Step.SHIPPED, Channel.EMAIL, "de", context).subject == "Your order 1001 is on its way"
    assert renderer.render(Step.CONFIRMATION, Channel.SMS, "de", context).text.startswith("Acme Coffee: Thanks")


def test_missing_template_names_the_paths_looked_for(tmp_path: Path, context: dict[str, Any]) -> None:
    renderer = TemplateRenderer(tmp_path, default_locale="en")
    with pytest.raises(TemplateNotFoundError) as raised:
        renderer.render(Step.SHIPPED, Channel.WHATSAPP, "de-CH", context)
    text = str(raised.value)
    for name in ("shipped/whatsapp.de-CH.j2", "shipped/whatsapp.de.j2", "shipped/whatsapp.en.j2"):
        assert str(tmp_path / name) in text


def test_missing_required_variable_is_a_clear_error(renderer: TemplateRenderer, context: dict[str, Any]) -> None:
    del context["shipment"]
    with pytest.raises(TemplateError, match=r"shipped/email\.en\.j2.*'shipment' is undefined"):
        renderer.render(Step.SHIPPED, Channel.EMAIL, "en", context)


def test_sandbox_blocks_unsafe_access(tmp_path: Path) -> None:
    (tmp_path / "confirmation").mkdir()
    (tmp_path / "confirmation" / "sms.en.j2").write_text("{{ order.__class__.__mro__ }}")
    with pytest.raises(TemplateError, match=r"confirmation/sms\.en\.j2.*unsafe"):
        TemplateRenderer(tmp_path).render(Step.CONFIRMATION, Channel.SMS, "en", {"order": {}})


def test_email_without_subject_is_refused(tmp_path: Path) -> None:
    (tmp_path / "confirmation").mkdir()
    (tmp_path / "confirmation" / "email.en.j2").write_text(
        '{% if render_part == "text" %}hello{% elif render_part == "html" %}<p>hi</p>{% endif %}'
    )
    with pytest.raises(TemplateError, match="empty subject"):
        TemplateRenderer(tmp_path).render(Step.CONFIRMATION, Channel.EMAIL, "en", {})


def test_each_delay_kind_says_something_different(renderer: TemplateRenderer, context: dict[str, Any]) -> None:
    texts = set()
    for kind in DelayKind:
        context["delay"] = {"kind": kind.value, "level": 1, "detail": "customs hold"}
        for channel in Channel:
            message = renderer.render(Step.DELAY_ALERT, channel, "en", context)
            texts.add((channel, message.text))
    assert len(texts) == len(DelayKind) * len(Channel)


def test_delay_escalation_and_revised_estimate(renderer: TemplateRenderer, context: dict[str, Any]) -> None:
    context["delay"] = {"kind": "edd_revised", "level": 1}
    context["shipment"]["estimated_delivery"] = "2026-11-27"
    text = renderer.render(Step.DELAY_ALERT, Channel.EMAIL, "en", context).text
    assert "Friday, 27 November" in text and "You don't need to do anything" in text

    context["delay"] = {"kind": "carrier_exception", "level": 2, "detail": "damaged in transit"}
    text = renderer.render(Step.DELAY_ALERT, Channel.EMAIL, "en", context).text
    assert "(damaged in transit)" in text and "still dragging on" in text


def test_review_without_a_link_asks_for_a_reply(renderer: TemplateRenderer, context: dict[str, Any]) -> None:
    del context["links"]["review"]
    message = renderer.render(Step.REVIEW_REQUEST, Channel.EMAIL, "en", context)
    assert "reply to this email" in message.text and "https://" not in message.text.split("--")[0]


def test_marketing_sms_carries_the_opt_out(renderer: TemplateRenderer, context: dict[str, Any]) -> None:
    for step in (Step.REVIEW_REQUEST, Step.REVIEW_REMINDER, Step.REORDER_REMINDER):
        assert renderer.render(step, Channel.SMS, "en", context).text.endswith("Reply STOP to opt out")
    assert "STOP" not in renderer.render(Step.SHIPPED, Channel.SMS, "en", context).text


def test_a_link_that_cannot_be_built_is_left_out(renderer: TemplateRenderer, context: dict[str, Any]) -> None:
    """The "fulfillment late" email goes out before anything shipped: no tracking number, so no tracking button
    (it read `Track your parcel: https://shop.example/track/{tracking_number}`)."""
    context["delay"] = {"kind": "fulfillment_late", "level": 1}
    del context["shipment"]
    context["links"]["tracking"] = "https://shop.example/track/{tracking_number}"
    for channel in Channel:
        message = renderer.render(Step.DELAY_ALERT, channel, "en", context)
        for part in (message.text, message.html or ""):
            assert "{tracking_number}" not in part and "shop.example/track" not in part
            assert "Track your parcel" not in part
    context["links"]["tracking"] = "https://shop.example/track/1001"  # a whole link still shows
    assert (
        "Track your parcel: https://shop.example/track/1001"
        in renderer.render(Step.DELAY_ALERT, Channel.EMAIL, "en", context).text
    )
