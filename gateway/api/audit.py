"""/v1/audit: events, verification and exports for auditors."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from gateway.adapters.store.models import LedgerEvent
from gateway.api.deps import principal, require, services
from gateway.domain.identity import AUDITORS, Principal
from gateway.ledger import ledger
from gateway.services import Services

router = APIRouter(prefix="/v1/audit", tags=["audit"])


@router.get("/events")
def events(
    request_id: str | None = None,
    type: str | None = None,
    after_seq: int = Query(0, ge=0),
    limit: int = Query(100, ge=1, le=1000),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    require(who, AUDITORS, "read the audit ledger")
    stmt = select(LedgerEvent).where(LedgerEvent.seq > after_seq)
    if request_id:
        stmt = stmt.where(LedgerEvent.request_id == request_id)
    if type:
        stmt = stmt.where(LedgerEvent.type == type)
    with svc.db.read() as s:
        rows = s.exec(stmt.order_by(col(LedgerEvent.seq)).limit(limit)).all()
        items = [ledger.as_dict(r) for r in rows]
    return {"items": items, "next_after_seq": items[-1]["seq"] if items else after_seq}


@router.get("/verify")
def verify(who: Principal = Depends(principal), svc: Services = Depends(services)) -> dict[str, Any]:
    require(who, AUDITORS, "verify the audit ledger")
    with svc.db.read() as s:
        return ledger.verify_database(s).as_dict()
