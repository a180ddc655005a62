"""Keyword-only data access for drift checks. None of these commit: the caller owns the unit of work.

Updates are statements, not ORM changes: a transition or expire_all in the same unit of work would silently drop
an unflushed attribute change.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from gateway.adapters.store.models import InventoryResource

# What a drift check looks at: what the gateway manages, and what went missing (to notice it came back).
CHECKED = ("active", "missing")


def drift_candidates(
    session: Session, *, team: str | None = None, limit: int = 10_000
) -> list[InventoryResource]:
    stmt = select(InventoryResource).where(col(InventoryResource.status).in_(CHECKED))
    if team:
        stmt = stmt.where(InventoryResource.team == team)
    stmt = stmt.order_by(col(InventoryResource.created_at), col(InventoryResource.id)).limit(limit)
    return list(session.exec(stmt).all())


@dataclass(frozen=True)
class DriftState:
    status: str
    drift: dict[str, Any]
    properties: dict[str, Any]


def drift_state(session: Session, *, resource_id: str) -> DriftState | None:
    """The row's status, recorded drift and properties, locked (FOR UPDATE on PostgreSQL) until the caller's
    transaction ends, so two checks of one resource record one change once."""
    stmt = (
        select(InventoryResource.status, InventoryResource.drift, InventoryResource.properties)
        .where(col(InventoryResource.id) == resource_id)
        .with_for_update()
    )
    row = session.exec(stmt).first()
    if row is None:
        return None
    status, drift, properties = row
    return DriftState(status=str(status), drift=dict(drift or {}), properties=dict(properties or {}))


def record_drift(
    session: Session,
    *,
    resource_id: str,
    drift: dict[str, Any],
    checked_at: datetime,
    status: str | None = None,
) -> None:
    """Stores what differed at this check ({} when nothing did), when it was checked, and optionally the status
    (`missing` when gone from the cloud, `active` when back). Only rows still checked are touched: a resource
    retired meanwhile stays retired."""
    values: dict[str, Any] = {"drift": drift, "drift_checked_at": checked_at}
    if status is not None:
        values["status"] = status
    session.connection().execute(
        update(InventoryResource)
        .where(col(InventoryResource.id) == resource_id, col(InventoryResource.status).in_(CHECKED))
        .values(**values)
    )
