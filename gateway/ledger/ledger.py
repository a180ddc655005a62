"""Appending to and reading the ledger inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import insert, update
from sqlmodel import Session, col, select

from gateway.adapters.store.models import LedgerEvent, LedgerHead
from gateway.ledger.chain import Verification, event_hash, verify_items


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_EVENTS = LedgerEvent.__table__  # type: ignore[attr-defined]
_HEAD = LedgerHead.__table__  # type: ignore[attr-defined]


def append(
    session: Session, *, type: str, actor: str, data: dict[str, Any], request_id: str | None = None
) -> dict[str, Any]:
    """Adds one event after the current head. The head row lock serialises appenders until the caller commits.

    Core statements rather than ORM objects: this runs for every decision, under the write lock.
    """
    conn = session.connection()
    head = conn.execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()).first()
    if head is None:
        raise RuntimeError("the ledger head row is missing: the database was not initialised (create_all)")
    seq, prev = head
    fields: dict[str, Any] = {
        "seq": seq + 1,
        "id": str(uuid.uuid4()),
        "ts": now_rfc3339(),
        "type": type,
        "request_id": request_id,
        "actor": actor,
        "data": json_safe(data),
        "prev_hash": prev,
    }
    fields["hash"] = event_hash(fields)
    conn.execute(insert(_EVENTS).values(**fields))
    conn.execute(update(_HEAD).where(_HEAD.c.id == 1).values(seq=fields["seq"], hash=fields["hash"]))
    return fields


MAX_SAFE_INT = 2**53 - 1


def json_safe(value: Any) -> Any:
    """RFC 8785 has no form for integers beyond IEEE-754 doubles; such values (a policy's nanosecond clock, say)
    are kept as decimal strings so that the event can be hashed and stored as given."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and abs(value) > MAX_SAFE_INT:
        return str(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [json_safe(v) for v in value]
    return value


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


def verify_database(session: Session, public_key: Ed25519PublicKey | None = None) -> Verification:
    """The chain in the database, with every checkpoint in it (signatures checked when a key is given)."""
    from gateway.ledger.checkpoints import checkpoints, items

    result = verify_items(items(iter_events(session), checkpoints(session)), public_key=public_key)
    head = session.get(LedgerHead, 1)
    if result.ok and head is not None and head.seq != result.events:
        # The tail was removed (or the head moved) after the last event we saw.
        return Verification(
            False,
            result.events,
            result.head,
            first_bad_seq=result.events + 1,
            reason="events missing at the tail",
            checkpoints=result.checkpoints,
            signed_through=result.signed_through,
            signatures_checked=result.signatures_checked,
        )
    return result
