"""/v1/audit: events, verification and exports for auditors."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from fastapi import APIRouter, Depends, Query
from sqlmodel import col, select

from gateway.adapters.store.models import LedgerEvent
from gateway.api.deps import principal, require, services
from gateway.domain.identity import AUDITORS, Principal, Role
from gateway.errors import InvalidRequest
from gateway.ledger import ledger
from gateway.ledger.archive import archived_count
from gateway.ledger.checkpoints import coverage
from gateway.ledger.signing import ALGORITHM
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
    st = svc.settings
    with svc.db.read() as s:
        failed, start_at = svc.archiver.verify_segments(s, svc.signer.public)
        if failed is not None:
            return failed.as_dict()
        dense = coverage(
            st.ledger_checkpoint_events, st.ledger_checkpoint_seconds, st.tick_seconds, datetime.now(UTC)
        )
        result = ledger.verify_database(s, svc.signer.public, start_at=start_at, coverage=dense).as_dict()
        return {**result, "archived_events": archived_count(s)}


@router.post("/archive")
def archive(
    before: str = Query(..., description="RFC 3339: events older than this move to the archive"),
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> dict[str, Any]:
    """Moves old events to object storage as one signed JSONL segment (admins); the chain and verification go on
    across it."""
    require(who, frozenset({Role.ADMIN}), "archive the audit ledger")
    try:
        when = datetime.fromisoformat(before.replace("Z", "+00:00").replace("z", "+00:00"))
        rfc3339_micro(when if when.tzinfo else when.replace(tzinfo=UTC))
    except (ValueError, OverflowError):
        error = {"pointer": "/query/before", "detail": f"not a date-time: {before!r}"}
        raise InvalidRequest("before must be an RFC 3339 date-time", errors=[error]) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return svc.archiver.archive(rfc3339_micro(when), actor=who.id)


@router.get("/public-key")
def public_key(who: Principal = Depends(principal), svc: Services = Depends(services)) -> dict[str, Any]:
    """The key that checks checkpoints and export trailers: keep it apart from the gateway, and verify exports
    with it offline (`govgate audit verify --file EXPORT --public-key KEY`)."""
    raw = svc.signer.public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"algorithm": ALGORITHM, "key_id": svc.signer.key_id, "public_key_pem": svc.signer.public_pem(),
            "public_key": base64.b64encode(raw).decode()}  # fmt: skip


def rfc3339_micro(when: datetime) -> str:
    """The ledger's own timestamp form, so that comparing them as text compares times."""
    return when.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
