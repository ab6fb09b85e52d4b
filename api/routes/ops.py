"""Operating the API: `/healthz` (open, names no merchant) and `/metrics` (Prometheus, an engineer's token)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.concurrency import run_in_threadpool
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import Operators, ServicesDep

router = APIRouter(tags=["ops"])


@router.get("/healthz")
async def healthz(response: Response, svc: ServicesDep) -> dict[str, str]:
    """Database and Temporal reachable: 200; otherwise 503 naming what is down."""
    checks: dict[str, str] = {}
    try:
        await run_in_threadpool(svc.store.ping)
        checks["database"] = "ok"
    except Exception as err:
        checks["database"] = f"down: {err}"
    try:
        await svc.temporal.service_client.check_health()
        checks["temporal"] = "ok"
    except Exception as err:
        checks["temporal"] = f"down: {err}"
    healthy = all(v == "ok" for v in checks.values())
    response.status_code = 200 if healthy else 503
    return {"status": "ok" if healthy else "degraded", **checks}


@router.get("/metrics", include_in_schema=False)
async def metrics(_: Operators) -> Response:
    """Prometheus metrics (scrape with an engineer token): their labels name merchants."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
