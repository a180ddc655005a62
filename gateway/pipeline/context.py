"""Gathers what the plan needs from the gateway's own records: the inventory `before`, budgets, spend."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session

from gateway.adapters.policy_source import PolicySource
from gateway.adapters.store import repositories as repo
from gateway.domain.cost import Catalog
from gateway.domain.identity import Principal
from gateway.domain.plan import PlanContext
from gateway.errors import InvalidRequest
from gateway.pipeline.exemptions import in_force_for


def before_states(
    session: Session, envelope: dict[str, Any], *, started: bool = False
) -> dict[int, dict[str, Any]]:
    """Update and delete act only on what the gateway manages; their `before` is its inventory record. Once a
    request has started executing, a record retired or gone missing meanwhile still gives its `before`: the
    request is finished (the cloud then says what is no longer there), never left half-done."""
    before: dict[int, dict[str, Any]] = {}
    errors: list[dict[str, str]] = []
    for i, res in enumerate(envelope["resources"]):
        if res["action"] == "create":
            continue
        row = repo.inventory_get(session, resource_id=res["id"])
        # A resource drift found gone from the cloud may still be deleted: that clears it from the inventory.
        usable = ("active", "missing") if res["action"] == "delete" else ("active",)
        if row is None or (row.status not in usable and not started) or row.type != res["type"]:
            errors.append(
                {
                    "pointer": f"/resources/{i}/id",
                    "detail": f"{res['type']} {res['id']} is not in the gateway's inventory",
                }
            )
            continue
        before[i] = {**row.properties, "region": row.region}
    if errors:
        raise InvalidRequest("the request changes resources the gateway does not manage", errors=errors)
    return before


def retired_meanwhile(session: Session, envelope: dict[str, Any]) -> tuple[dict[int, str], frozenset[int]]:
    """For a started request: the resources it updates that another request has retired since (nothing left to
    update: why), and the ones it deletes that another request has deleted since (nothing left to do)."""
    gone: dict[int, str] = {}
    deleted = set()
    for i, res in enumerate(envelope["resources"]):
        if res["action"] == "create":
            continue
        row = repo.inventory_get(session, resource_id=res["id"])
        if row is None or row.status != "retired":
            continue
        if res["action"] == "update":
            gone[i] = f"{res['id']} was retired by another request while this one waited"
        else:
            deleted.add(i)
    return gone, frozenset(deleted)


def plan_context(
    session: Session,
    *,
    envelope: dict[str, Any],
    request_id: str,
    requester: Principal,
    submitted_at: str,
    catalog: Catalog,
    source: PolicySource,
    now: datetime,
) -> PlanContext:
    return PlanContext(
        request_id=request_id,
        requester=requester,
        submitted_at=submitted_at,
        now=now.isoformat().replace("+00:00", "Z"),
        catalog=catalog,
        before=before_states(session, envelope),
        budget_monthly=source.budget_for(envelope["team"]),
        committed_monthly=repo.committed_monthly(session, team=envelope["team"]),
        exemptions=in_force_for(session, team=envelope["team"], environment=envelope["environment"], now=now),
    )
