"""Keyword-only data access for leases on inventory resources. None of these commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from gateway.adapters.store.models import ChangeRequest, InventoryResource


def leases_to_warn(session: Session, *, before: datetime, limit: int) -> list[InventoryResource]:
    """Active resources whose lease ends before `before` and whose subscribers were not warned yet."""
    stmt = select(InventoryResource).where(
        InventoryResource.status == "active",
        col(InventoryResource.lease_expires_at).is_not(None),
        col(InventoryResource.lease_expires_at) <= before,
        col(InventoryResource.lease_warned_at).is_(None),
    )
    return list(session.exec(stmt.order_by(col(InventoryResource.lease_expires_at)).limit(limit)).all())


def mark_warned(session: Session, *, resource_id: str, now: datetime) -> bool:
    stmt = (
        update(InventoryResource)
        .where(col(InventoryResource.id) == resource_id, col(InventoryResource.lease_warned_at).is_(None))
        .values(lease_warned_at=now)
    )
    return bool(session.connection().execute(stmt).rowcount == 1)


def leases_ended(session: Session, *, now: datetime, limit: int) -> list[InventoryResource]:
    """Active resources whose lease has ended and for which no retirement was filed yet."""
    stmt = select(InventoryResource).where(
        InventoryResource.status == "active",
        col(InventoryResource.lease_expires_at) <= now,
        col(InventoryResource.retire_request_id).is_(None),
    )
    return list(session.exec(stmt.order_by(col(InventoryResource.lease_expires_at)).limit(limit)).all())


def mark_retiring(session: Session, *, resource_ids: list[str], request_id: str) -> bool:
    """Links the resources to the request that retires them; False if another got any of them first."""
    stmt = (
        update(InventoryResource)
        .where(
            col(InventoryResource.id).in_(resource_ids), col(InventoryResource.retire_request_id).is_(None)
        )
        .values(retire_request_id=request_id)
    )
    return bool(session.connection().execute(stmt).rowcount == len(resource_ids))


def retirements_ended(session: Session, *, states: Sequence[str], limit: int) -> list[str]:
    """Requests that were filed to retire resources still in the inventory and ended in one of `states`: the
    resources still point at them, so their lease would never be retired again unless released."""
    waiting = sa_select(col(InventoryResource.retire_request_id)).where(
        col(InventoryResource.retire_request_id).is_not(None), col(InventoryResource.status) != "retired"
    )
    stmt = (
        select(ChangeRequest.id)
        .where(col(ChangeRequest.id).in_(waiting), col(ChangeRequest.state).in_(list(states)))
        .order_by(col(ChangeRequest.updated_at), col(ChangeRequest.id))
        .limit(limit)
    )
    return list(session.exec(stmt).all())


def release(session: Session, *, request_id: str, lease_expires_at: datetime | None) -> list[str]:
    """Unlinks the resources not retired from the retirement request `request_id` and gives them a new lease end
    (None: no lease any more). Only rows still linked to that request change, so of two callers racing, one gets
    the ids and the other an empty list."""
    stmt = (
        update(InventoryResource)
        .where(
            col(InventoryResource.retire_request_id) == request_id, col(InventoryResource.status) != "retired"
        )
        # A lease retried ends again: its subscribers are warned again.
        .values(retire_request_id=None, lease_expires_at=lease_expires_at, lease_warned_at=None)
        .returning(col(InventoryResource.id))
    )
    return sorted(session.connection().execute(stmt).scalars().all())


def origin_request(session: Session, *, request_id: str) -> ChangeRequest | None:
    return session.get(ChangeRequest, request_id)
