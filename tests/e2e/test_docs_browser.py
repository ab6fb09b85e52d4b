"""`/docs` renders in a real browser with no request leaving the machine: Swagger UI's files are ours, not a
CDN's, so the interactive docs work offline. Headless Chromium (Debian's, `make browser`)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from playwright.async_api import Route, async_playwright, expect

from api.app import create_app
from tests.e2e.conftest import free_port
from tests.e2e.test_console_browser import CHROMIUM, CHROMIUM_ARGS, need_chromium


@pytest.fixture
async def api_url() -> AsyncIterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


async def test_the_docs_render_their_operations_without_leaving_127_0_0_1(api_url: str, tmp_path: Path) -> None:
    need_chromium()
    requested: list[str] = []

    async def offline(route: Route) -> None:
        """The network as it is without internet: only this machine answers."""
        requested.append(route.request.url)
        if urlsplit(route.request.url).hostname == "127.0.0.1":
            await route.continue_()
        else:
            await route.abort("internetdisconnected")

    async with async_playwright() as pw:
        browser = await pw.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            page = browser.pages[0] if browser.pages else await browser.new_page()
            await page.route("**/*", offline)
            await page.goto(f"{api_url}/docs")
            # an operation of the API, rendered from /openapi.json by Swagger UI's script
            operation = page.locator(".opblock-summary-path", has_text="/v1/orders/{order_id}/timeline")
            await expect(operation).to_be_visible(timeout=30_000)
            await expect(page.locator(".opblock")).not_to_have_count(0)
        finally:
            await browser.close()

    elsewhere = [url for url in requested if urlsplit(url).hostname != "127.0.0.1"]
    assert elsewhere == [], f"/docs asked other hosts: {elsewhere}"
    assert any(url.endswith("/openapi.json") for url in requested)
