"""`/docs` (Swagger UI) served from our own files, so it works offline.

FastAPI's default loads Swagger UI from a CDN: with no internet (or a strict network) `/docs` is a blank
page. The `fastapi-offline` package ships the build FastAPI would fetch (swagger-ui-dist 5); we serve it
under `/docs/assets` and point FastAPI's page builder at it. Nothing on the page asks another host for
anything (the online validator badge is off). ReDoc is not offered: its page fetches its logo from its
vendor's CDN whatever the options, and `/docs` shows the same operations.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
_ASSET_DIR = files("fastapi_offline") / "static"


def install_docs(app: FastAPI) -> None:
    """Add `/docs`, its OAuth2 redirect page and their assets; the app must be built with
    `docs_url=None, redoc_url=None` so FastAPI's CDN pages are not added too."""
    app.mount(ASSETS, StaticFiles(directory=str(_ASSET_DIR)), name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = "/docs/oauth2-redirect"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} - API docs",
            oauth2_redirect_url=redirect_url,
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
            swagger_ui_parameters={"validatorUrl": None},  # the badge would ask an online validator
        )

    @app.get(redirect_url, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
