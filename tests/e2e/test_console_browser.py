"""The support console in a real browser: headless Chromium (Debian's, `make browser`) driving the console
over HTTP on the embedded stack, with the worker refunding through the sandbox's Stripe.

A support agent signs in with a token, finds the order by the customer's email, refunds one item through
the form and its confirmation page, sees the banner, the refund on the timeline and the refundable amount
go down; a repeated confirmation refunds nothing more; a refund of more than is left is refused in words;
signing out ends the session on the server (a copy of the cookie no longer opens the console). The pages'
Content-Security-Policy blocks nothing the console needs.
The order page is saved as `artifacts/console-order.png` for people to look at.
"""

from __future__ import annotations

import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, async_playwright, expect

from aftercare.settings import REPO_ROOT
from domain import Role
from tests.e2e.conftest import Stack
from tests.e2e.waiting import eventually

pytestmark = pytest.mark.devserver

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = REPO_ROOT / "artifacts" / "console-order.png"
WAIT_MS = 30_000  # a refund goes browser -> API -> Temporal Update -> worker -> Stripe sandbox and back


def need_chromium() -> None:
    if CHROMIUM.exists():
        return
    message = f"{CHROMIUM} is missing: run `make browser` (installs Debian's chromium) before this test"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


async def paid_order(stack: Stack, email: str) -> dict[str, Any]:
    """An order of two items, paid through the sandbox's Stripe, started through the API."""
    async with httpx.AsyncClient(base_url=stack.sandbox.stripe_base_url, timeout=10) as stripe:
        intent = await stripe.post(
            "/v1/payment_intents",
            data={"amount": "6000", "currency": "usd", "confirm": "true"},
            headers={"Authorization": f"Bearer {next(iter(stack.sandbox.state.stripe_api_keys))}"},
        )
    assert intent.status_code == 200, intent.text
    order = {
        "merchant_id": "e2e",
        "order_id": f"WEB-{uuid.uuid4().hex[:6].upper()}",
        "placed_at": datetime.now(UTC).isoformat(),
        "currency": "USD",
        "total": "60.00",
        "customer": {
            "id": f"cust-{uuid.uuid4().hex[:6]}",
            "first_name": "Ada",
            "last_name": "Lovelace",
            "email": email,
        },
        "shipping_address": {"name": "Ada Lovelace", "city": "Austin", "country": "US"},
        "items": [
            {"id": "li-1", "sku": "MUG-1", "name": "Mug", "quantity": 1, "unit_price": "20.00"},
            {"id": "li-2", "sku": "POT-1", "name": "Teapot", "quantity": 1, "unit_price": "40.00"},
        ],
        "payment": {"provider": "stripe", "reference": intent.json()["id"]},
    }
    created = await stack.api.post("/v1/orders", json=order)
    assert created.status_code == 201, created.text
    return order


async def journey_state(stack: Stack, order_id: str) -> dict[str, Any]:
    response = await stack.api.get(f"/v1/orders/{order_id}")
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_support_agent_refunds_through_the_console(stack: Stack, tmp_path: Path) -> None:
    need_chromium()
    email = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    order = await paid_order(stack, email)
    order_id = order["order_id"]
    await eventually(lambda: journey_state(stack, order_id), f"the journey of {order_id} to answer")
    token = stack.store.create_api_token("console-agent", Role.SUPPORT).token
    base = str(stack.api.base_url).rstrip("/")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport={"width": 1440, "height": 900},
        )
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            page.set_default_timeout(WAIT_MS)
            blocked: list[str] = []  # what the CSP refused, as Chromium reports it on the page's console
            page.on("console", lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else None)
            await sign_in(page, base, token)
            await find_order(page, email, order_id)
            action, posted = await refund_one_item(page)
            await confirming_again_refunds_nothing(page, action, posted)
            await refund_too_much_is_refused(page)
            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOT), full_page=True)
            print(f"\nconsole screenshot: {SCREENSHOT}")
            await signing_out_ends_the_session(page, base)
            assert blocked == []
        finally:
            await browser.close()

    state = await journey_state(stack, order_id)
    assert [(r["amount"], r["items"], r["reason"]) for r in state["refunds"]] == [("20.00", {"li-1": 1}, "damaged")]
    assert state["refundable"] == "40.00"


async def sign_in(page: Page, base: str, token: str) -> None:
    await page.goto(f"{base}/console")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))  # not signed in: the login page, not JSON
    await page.get_by_label("API token").fill("ac_sup_not-a-real-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("That token is unknown or has been revoked")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Find an order")).to_be_visible()


async def find_order(page: Page, email: str, order_id: str) -> None:
    await page.get_by_label("Order number, customer email or tracking number").fill(email.upper())
    await page.get_by_role("button", name="Find", exact=True).last.click()
    await expect(page.get_by_role("heading", level=1)).to_contain_text(f"Order {order_id}")  # one hit: straight there
    await expect(page.locator("#refundable")).to_have_text("60.00 USD")
    await expect(page.locator("#timeline")).to_contain_text("Order placed: 2 items, 60.00 USD")


async def refund_one_item(page: Page) -> tuple[str, dict[str, str]]:
    """Refund 1 Mug through the form and its confirmation; returns what the Confirm button posted."""
    form = page.get_by_role("form", name="Refund items")
    await form.get_by_label("Quantity of Mug (li-1) to refund").fill("1")
    await form.get_by_label("Reason").select_option("damaged")
    await form.get_by_role("button", name="Review refund").click()
    await expect(page.locator("#proposal")).to_have_text(
        "Refund 20.00 USD for 1 \N{MULTIPLICATION SIGN} Mug (li-1) to Ada Lovelace \N{EM DASH} reason: damaged"
    )
    confirm = page.locator("form", has=page.get_by_role("button", name="Confirm"))
    action = await confirm.get_attribute("action")
    assert action is not None
    posted = {
        name: await confirm.locator(f"input[name={name}]").input_value() for name in ("idempotency_key", "fields")
    }
    await page.get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("status")).to_contain_text("Refund done: refunded 20.00 USD (damaged)")
    await expect(page.get_by_role("status")).to_contain_text("Still refundable: 40.00 USD")
    await expect(page.locator("#timeline")).to_contain_text("Refund by console-agent (support): refunded 20.00 USD")
    await expect(page.locator("#refunded")).to_have_text("20.00 USD")
    await expect(page.locator("#refundable")).to_have_text("40.00 USD")
    return action, posted


async def confirming_again_refunds_nothing(page: Page, action: str, posted: dict[str, str]) -> None:
    """The same confirmation posted again (a double click, a resubmitted page): same key, same one refund."""
    assert posted["idempotency_key"].startswith("console-")
    origin = page.url.split("/console")[0]
    again = await page.request.post(f"{origin}{action}", form=posted, headers={"Origin": origin}, max_redirects=0)
    assert again.status == 303, await again.text()
    await page.reload()
    await expect(page.get_by_role("status")).to_contain_text("had been done already")
    await expect(page.locator("#refundable")).to_have_text("40.00 USD")


async def refund_too_much_is_refused(page: Page) -> None:
    form = page.get_by_role("form", name="Refund an amount")
    await form.get_by_label("Amount to refund (USD)").fill("500")
    await form.get_by_label("Reason").select_option("other")
    await form.get_by_role("button", name="Review refund").click()
    await expect(page.locator("#proposal")).to_have_text("Refund 500.00 USD to Ada Lovelace \N{EM DASH} reason: other")
    await expect(page.get_by_role("alert")).to_contain_text("more than the 40.00 USD still refundable")
    await page.get_by_role("button", name="Confirm").click()
    refusal = page.get_by_role("alert")
    await expect(refusal).to_contain_text(
        "Refund not done: 500.00 USD is more than the 40.00 USD still refundable (60.00 USD paid, 20.00 USD refunded)"
    )
    await expect(page.locator("#refundable")).to_have_text("40.00 USD")
    await expect(page.locator("#timeline")).to_contain_text("Refund by console-agent (support) \N{EM DASH} refused")


async def signing_out_ends_the_session(page: Page, base: str) -> None:
    """Sign out, then put the old cookie back: the session is gone on the server, so the login page answers."""
    [cookie] = [c for c in await page.context.cookies(base) if c["name"] == "aftercare_session"]
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    await page.context.add_cookies([cookie])
    await page.goto(f"{base}/console")
    await expect(page).to_have_url(re.compile(r"/console/login\?next="))
