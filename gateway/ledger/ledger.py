"""Appending to and reading the ledger inside the caller's transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import insert, text, update
from sqlmodel import Session, select

from gateway.adapters.store.models import LedgerEvent, LedgerHead
from gateway.ledger.chain import Verification, checkpoint_problem, event_hash, holds


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
    session: Session, *, batch: int = 5000, request_id: str | None = None, after_seq: int = 0
) -> Iterator[dict[str, Any]]:
    """All events in order, read in keyset batches so memory stays flat. Plain rows and orjson rather than ORM
    objects: verifying and exporting a million events is this loop."""
    conn = session.connection()
    data = "CAST(data AS TEXT)" if conn.dialect.name == "postgresql" else "data"
    where = "seq > :last" + (" AND request_id = :rid" if request_id else "")
    stmt = text(
        f"SELECT seq, id, ts, type, request_id, actor, {data}, prev_hash, hash FROM ledger_events "
        f"WHERE {where} ORDER BY seq LIMIT :batch"
    )
    last = after_seq
    loads = orjson.loads
    while True:
        rows = conn.execute(stmt, {"last": last, "rid": request_id, "batch": batch}).all()
        if not rows:
            return
        for seq, id_, ts, type_, rid, actor, body, prev, hash_ in rows:
            yield {"seq": seq, "id": id_, "ts": ts, "type": type_, "request_id": rid, "actor": actor,
                   "data": loads(body) if isinstance(body, str | bytes) else body, "prev_hash": prev,
                   "hash": hash_}  # fmt: skip
        last = rows[-1][0]


def verify_database(session: Session, public_key: Ed25519PublicKey | None = None) -> Verification:
    """The chain in the database, with every checkpoint in it (signatures checked when a key is given).

    The fast path of verify_items for stored rows: the gateway writes JSON with sorted keys, so an event's
    canonical bytes are mostly its columns pasted together, with no parsing. Where that does not give the stored
    hash, the event is checked the canonical way before anything is called bad."""
    from gateway.ledger.archive import start
    from gateway.ledger.checkpoints import checkpoints

    signed = checkpoints(session)
    conn = session.connection()
    data = "CAST(data AS TEXT)" if conn.dialect.name == "postgresql" else "data"
    stmt = text(
        f"SELECT seq, id, ts, type, request_id, actor, {data}, prev_hash, hash FROM ledger_events "
        "WHERE seq > :last ORDER BY seq LIMIT 5000"
    )
    dumps, sha256 = orjson.dumps, hashlib.sha256
    # Events archived to object storage are checked there (Archiver.verify_segments); here the chain picks up
    # where the last segment ended.
    expected, prev = start(session)
    count, checked = 0, 0
    signed_through: int | None = None

    def bad(seq: int | None, id_: str | None, reason: str, cp: int | None = None) -> Verification:
        return Verification(False, count, prev, first_bad_seq=seq, first_bad_id=id_, reason=reason,
                            checkpoints=checked, signed_through=signed_through, bad_checkpoint_seq=cp,
                            signatures_checked=public_key is not None)  # fmt: skip

    last = expected - 1
    while rows := conn.execute(stmt, {"last": last}).all():
        for seq, id_, ts, type_, rid, actor, body, prev_hash, hash_ in rows:
            if seq != expected:
                return bad(seq, id_, f"sequence gap: expected seq {expected}, found {seq}")
            if prev_hash != prev:
                return bad(seq, id_, "prev_hash does not match the hash of the event before it")
            raw = body.encode() if isinstance(body, str) else dumps(body)
            digest = sha256(prev_hash.encode("ascii"))
            digest.update(b"".join((
                b'{"actor":', dumps(actor), b',"data":', raw, b',"id":', dumps(id_),
                b',"prev_hash":', dumps(prev_hash), b',"request_id":', dumps(rid), b',"seq":', b"%d" % seq,
                b',"ts":', dumps(ts), b',"type":', dumps(type_), b"}",
            )))  # fmt: skip
            if digest.hexdigest() != hash_:
                ev = {"seq": seq, "id": id_, "ts": ts, "type": type_, "request_id": rid, "actor": actor,
                      "data": orjson.loads(raw), "prev_hash": prev_hash, "hash": hash_}  # fmt: skip
                if not holds(ev):
                    return bad(seq, id_, "content does not match its hash (the event was altered)")
            prev, expected, count = hash_, seq + 1, count + 1
            if seq in signed:
                if why := checkpoint_problem(signed[seq], {"seq": seq, "hash": hash_}, public_key):
                    return bad(seq, id_, why, seq)
                checked, signed_through = checked + 1, seq
        last = rows[-1][0]
    head = session.get(LedgerHead, 1)
    if head is not None and head.seq != expected - 1:
        # The tail was removed (or the head moved) after the last event we saw.
        return bad(expected, None, "events missing at the tail")
    return Verification(True, count, prev, checkpoints=checked, signed_through=signed_through,
                        signatures_checked=public_key is not None)  # fmt: skip
