"""/v1/inventory: every resource the gateway manages, as the cost policies and updates see it."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends, Query

from gateway.adapters.store import repositories as repo
from gateway.adapters.store.models import InventoryResource
from gateway.api.deps import principal, services
from gateway.domain.clock import aware, rfc3339
from gateway.domain.identity import Principal, visibility
from gateway.services import Services

router = APIRouter(prefix="/v1/inventory", tags=["inventory"])


def resource_view(r: InventoryResource) -> dict[str, Any]:
    return {
        "id": r.id, "type": r.type, "address": r.address, "team": r.team, "environment": r.environment,
        "region": r.region, "cloud": r.cloud, "sandbox": r.cloud == "sandbox", "status": r.status,
        "monthly_cost": round(r.monthly_cost, 2), "request_id": r.request_id, "properties": r.properties,
        "created_at": rfc3339(aware(r.created_at)),
    }  # fmt: skip


@router.get("")
def list_inventory(
    team: str | None = None,
    type: str | None = None,
    status: Literal["active", "retired", "all"] = "active",
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
