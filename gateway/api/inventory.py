"""/v1/inventory: every resource the gateway manages, as the cost policies and updates see it."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from gateway.adapters.store import repositories as repo
from gateway.adapters.store.models import InventoryResource
from gateway.api.deps import principal, require, services
from gateway.domain.clock import aware, rfc3339
from gateway.domain.identity import AUDITORS, Principal, visibility
from gateway.pipeline.drift import DriftCheck
from gateway.services import Services

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])


def resource_view(r: InventoryResource) -> dict[str, Any]:
    return {
        "id": r.id, "type": r.type, "address": r.address, "team": r.team, "environment": r.environment,
        "region": r.region, "cloud": r.cloud, "sandbox": r.cloud == "sandbox", "status": r.status,
        "monthly_cost": round(r.monthly_cost, 2), "request_id": r.request_id, "properties": r.properties,
        "created_at": rfc3339(aware(r.created_at)), "drift": r.drift or {},
        "drift_checked_at": _time(r.drift_checked_at), "lease_expires_at": _time(r.lease_expires_at),
        "retire_request_id": r.retire_request_id,
    }  # fmt: skip


def _time(t: datetime | None) -> str | None:
    return rfc3339(aware(t)) if t else None


@router.get("")
def list_inventory(
    team: str | None = None,
    type: str | None = None,
    status: Literal["active", "retired", "missing", "all"] = "active",
    limit: int = Query(500, ge=1, le=5000),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """A requester sees its teams' resources; approvers, auditors and admins see all."""
    with svc.db.read() as s:
        rows = repo.inventory_list(s, visible=visibility(who), team=team, rtype=type,
                                   status=None if status == "all" else status, limit=limit)  # fmt: skip
    items = [resource_view(r) for r in rows]
    return {"items": items, "monthly_cost": round(sum(i["monthly_cost"] for i in items), 2)}


@router.post("/drift")
def check_drift(
    team: str | None = None, who: Principal = Depends(principal), svc: Services = Depends(services)
) -> dict[str, Any]:
    """Compares the inventory (of one team, or all) with the cloud now; each change in what differs is recorded
    on the ledger and the inventory. Admins and auditors."""
    require(who, AUDITORS, "run a drift check")
    return DriftCheck(db=svc.db, cloud=svc.cloud, clock=svc.clock).run(team=team)
