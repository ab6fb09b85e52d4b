"""One error shape for every refusal: what is wrong, where (field path or id), and what would be valid."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class ApiError(Exception):
    """`headers` go on the response (a 401's WWW-Authenticate); `details` join the JSON body."""

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None, **details: Any
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details
        self.headers = headers or {}


def _path(loc: tuple[Any, ...]) -> str:
    parts = [p for p in loc if p not in ("body", "query", "path")]
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "body"


def error_response(exc: ApiError) -> JSONResponse:
    """The response for a refusal, for the exception handler and for middleware that answers before routing."""
    return JSONResponse(
        status_code=exc.status,
        content={"error": exc.code, "message": exc.message, **exc.details},
        headers=exc.headers,
    )


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            message = str(err.get("msg", "invalid"))
            if err.get("type") == "json_invalid":
                message = f"malformed JSON: {err.get('ctx', {}).get('error', message)}"
            problems.append({"path": _path(tuple(err.get("loc", ()))), "message": message})
        summary = "; ".join(f"{p['path']}: {p['message']}" for p in problems)
        return JSONResponse(
            status_code=422, content={"error": "invalid_request", "message": summary, "problems": problems}
        )
