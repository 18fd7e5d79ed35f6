"""Operator endpoints: `GET /readyz` (may this gateway take traffic?) and `GET /metrics` (Prometheus, private).

`/healthz` (in app.py) says whether the process and what it depends on are reachable; `/readyz` is the
stricter question a load balancer or an orchestrator asks before sending the Web Connector here: the database
answers *and* its schema is at the migration head this code expects, and Temporal answers. A gateway whose
database is behind (a rolling upgrade whose migration has not run) is alive but not ready.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from gateway.access import admin_page
from ml_connector import metrics
from ml_connector.health import schema_status

router = APIRouter()


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    gw = request.app.state.gw
    checks: dict[str, str] = {}
    try:
        status = await asyncio.to_thread(schema_status, gw.engine)
        checks["database"] = "ok" if status.at_head else f"schema at {status.current}, expected {status.head}"
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not crash
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        await asyncio.wait_for(gw.client.service_client.check_health(), timeout=3)
        checks["temporal"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["temporal"] = f"unreachable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse({"ready": ready, **checks}, status_code=200 if ready else 503)


@router.get("/metrics")
@admin_page
async def prometheus(request: Request) -> Response:
    """Private like the status page (gateway/access.py): company ids and volumes are nobody else's business."""
    gw = request.app.state.gw
    companies = [c.id for c in gw.settings.companies]
    body = await asyncio.to_thread(metrics.render, gw.engine, companies)
    return Response(body, media_type=metrics.CONTENT_TYPE)
