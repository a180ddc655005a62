"""Health, readiness, metrics and the loaded policy sets."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.adapters.bundles import Bundle
from gateway.api.deps import principal, services
from gateway.domain.identity import Principal
from gateway.errors import GatewayError
from gateway.pipeline.evaluate import stale_bundles
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
    loaded = svc.opa.revisions()
    if loaded is None:
        checks["opa"] = "policy engine unavailable"
    else:
        stale = stale_bundles(src.revisions, loaded)
        checks["opa"] = "ok" if not stale else f"bundles not loaded: {', '.join(sorted(stale))}"
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
def metrics(who: Principal = Depends(principal)) -> Response:
    """Any valid token may scrape (Prometheus: `authorization: {credentials: ...}` in the scrape config)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _bundle_view(b: Bundle, loaded: str | None) -> dict[str, Any]:
    return {
        "revision": b.revision,
        "roots": b.roots,
        "rego_version": f"v{b.rego_version}",
        "loaded_revision": loaded,
    }


@router.get("/v1/policies")
def policies(who: Principal = Depends(principal), svc: Services = Depends(services)) -> dict[str, Any]:
    """What is loaded now: each set, its bundle's revision on disk and in OPA, and any reload problem."""
    src = svc.source()
    loaded = svc.opa.revisions() or {}
    return {
        "policy_dir": str(src.root),
        "sets": [
            {**s.model_dump(), "revision": src.revisions[s.bundle], "loaded_revision": loaded.get(s.bundle)}
            for s in src.sets
        ],
        "bundles": {name: _bundle_view(b, loaded.get(name)) for name, b in src.bundles.items()},
        "in_sync": not stale_bundles(src.revisions, loaded),
        "reload_error": svc.watcher.error,
    }
