"""Appending to and reading the ledger inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from gateway.adapters.store.models import LedgerEvent, LedgerHead
from gateway.ledger.chain import GENESIS, Verification, event_hash, verify


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def append(
    session: Session, *, type: str, actor: str, data: dict[str, Any], request_id: str | None = None
) -> LedgerEvent:
    """Adds one event after the current head. The head row lock serialises appenders until the caller commits."""
    head = session.exec(select(LedgerHead).where(LedgerHead.id == 1).with_for_update()).first()
    if head is None:
        head = LedgerHead(id=1, seq=0, hash=GENESIS)
        session.add(head)
    fields: dict[str, Any] = {
        "seq": head.seq + 1,
        "id": str(uuid.uuid4()),
        "ts": now_rfc3339(),
        "type": type,
        "request_id": request_id,
        "actor": actor,
        "data": data,
        "prev_hash": head.hash,
    }
    fields["hash"] = event_hash(fields)
    event = LedgerEvent(**fields)
    session.add(event)
    head.seq = event.seq
    head.hash = event.hash
    session.add(head)
    session.flush()
    return event


def as_dict(ev: LedgerEvent) -> dict[str, Any]:
    return {
        "seq": ev.seq,
        "id": ev.id,
        "ts": ev.ts,
        "type": ev.type,
        "request_id": ev.request_id,
        "actor": ev.actor,
        "data": ev.data,
        "prev_hash": ev.prev_hash,
        "hash": ev.hash,
    }


def iter_events(
    session: Session, *, batch: int = 2000, request_id: str | None = None
) -> Iterator[dict[str, Any]]:
    """All events in order, read in keyset batches so memory stays flat."""
    last = 0
    while True:
        stmt = select(LedgerEvent).where(LedgerEvent.seq > last)
        if request_id:
            stmt = stmt.where(LedgerEvent.request_id == request_id)
        rows = session.exec(stmt.order_by(col(LedgerEvent.seq)).limit(batch)).all()
        if not rows:
            return
        for ev in rows:
            yield as_dict(ev)
        last = rows[-1].seq


def verify_database(session: Session) -> Verification:
    result = verify(iter_events(session))
    head = session.get(LedgerHead, 1)
    if result.ok and head is not None and head.seq != result.events:
        # The tail was removed (or the head moved) after the last event we saw.
        return Verification(
            False,
            result.events,
            result.head,
            first_bad_seq=result.events + 1,
            reason="events missing at the tail",
        )
    return result
