"""Health, readiness, metrics and the loaded policy sets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.deps import principal, services
from gateway.domain.identity import Principal
from gateway.errors import GatewayError
from gateway.services import Services

router = APIRouter(tags=["system"])


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
def readyz(svc: Services = Depends(services)) -> JSONResponse:
    """Ready only when OPA has every policy set loaded and the database answers."""
    checks: dict[str, Any] = {}
    src = svc.source()
    checks["opa"] = "ok" if svc.opa.loaded([s.data_path for s in src.sets]) else "policies not loaded"
    try:
        svc.db.ping()
        checks["database"] = "ok"
    except GatewayError as exc:
        checks["database"] = exc.detail
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ok else "not ready", "checks": checks, "cloud": svc.cloud.label}
    headers = {} if ok else {"Retry-After": str(svc.settings.retry_after_seconds)}
    return JSONResponse(body, status_code=200 if ok else 503, headers=headers)


@router.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/policies")
def policies(who: Principal = Depends(principal), svc: Services = Depends(services)) -> dict[str, Any]:
    src = svc.source()
    return {
        "sets": [{**s.model_dump(), "revision": src.revisions[s.name]} for s in src.sets],
        "policy_dir": str(src.root),
    }
