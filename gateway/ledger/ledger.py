"""Appending to and reading the ledger inside the caller's transaction."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import text
from sqlmodel import Session

from gateway.adapters.store.db import json_text
from gateway.adapters.store.models import LedgerEvent, LedgerHead
from gateway.ledger.chain import Verification, checkpoint_problem, event_hash, holds


def now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_EVENTS = LedgerEvent.__table__  # type: ignore[attr-defined]
_HEAD = LedgerHead.__table__  # type: ignore[attr-defined]


_HEAD_ROW = {
    # The head row lock serialises appenders until the caller commits (SQLite: its one writer at a time).
    "postgresql": text("SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE"),
    "sqlite": text("SELECT seq, hash FROM ledger_head WHERE id = 1"),
}
_INSERT = text(
    "INSERT INTO ledger_events (seq, id, ts, type, request_id, actor, data, prev_hash, hash) "
    "VALUES (:seq, :id, :ts, :type, :request_id, :actor, :data, :prev_hash, :hash)"
)
_MOVE_HEAD = text("UPDATE ledger_head SET seq = :seq, hash = :hash WHERE id = 1")
# PostgreSQL appends in one round trip, so the head row lock is held for as short a time as possible: the event's
# canonical bytes are the parts that do not depend on its place, around its predecessor's hash and its seq, and
# the database hashes them as it links the event (the same SHA-256 that event_hash computes).
_APPEND_PG = text(
    "WITH old AS (SELECT seq, hash FROM ledger_head WHERE id = 1 FOR UPDATE), "
    "ins AS (INSERT INTO ledger_events (seq, id, ts, type, request_id, actor, data, prev_hash, hash) "
    "SELECT old.seq + 1, :id, :ts, :type, :request_id, :actor, CAST(:data AS json), old.hash, "
    "encode(sha256(convert_to(old.hash || :p1 || old.hash || :p2 || (old.seq + 1)::text || :p3, 'UTF8')), 'hex') "
    "FROM old RETURNING seq, prev_hash, hash) "
    "UPDATE ledger_head SET seq = ins.seq, hash = ins.hash FROM ins WHERE ledger_head.id = 1 "
    "RETURNING ins.seq, ins.prev_hash, ins.hash"
)


def lock_head(session: Session) -> None:
    """Holds the head row (and so every appender) until the caller commits."""
    conn = session.connection()
    conn.execute(_HEAD_ROW.get(conn.dialect.name, _HEAD_ROW["postgresql"]))


def append(
    session: Session, *, type: str, actor: str, data: dict[str, Any], request_id: str | None = None
) -> dict[str, Any]:
    """Adds one event after the current head, in the caller's transaction.

    Prepared textual statements rather than ORM objects or freshly built Core ones: this runs for every state
    change, under the head lock, so its cost is the ledger's throughput. The JSON is written as the engine writes
    JSON columns (keys sorted), which is what lets verification paste an event's canonical bytes together."""
    conn = session.connection()
    if conn.dialect.name == "postgresql":
        return _append_pg(conn, type=type, actor=actor, data=json_safe(data), request_id=request_id)
    head = conn.execute(_HEAD_ROW["sqlite"]).first()
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
    conn.execute(_INSERT, {**fields, "data": json_text(fields["data"])})
    conn.execute(_MOVE_HEAD, {"seq": fields["seq"], "hash": fields["hash"]})
    return fields


def _append_pg(conn: Any, *, type: str, actor: str, data: Any, request_id: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {"id": str(uuid.uuid4()), "ts": now_rfc3339(), "type": type, "request_id": request_id,
                              "actor": actor, "data": data}  # fmt: skip

    def c(value: Any) -> str:
        return bytes(rfc8785.dumps(value)).decode()

    # Sorted keys: actor, data, id, prev_hash, request_id, seq, ts, type.
    parts = {
        "p1": f'{{"actor":{c(actor)},"data":{c(data)},"id":{c(fields["id"])},"prev_hash":"',
        "p2": f'","request_id":{c(request_id)},"seq":',
        "p3": f',"ts":{c(fields["ts"])},"type":{c(type)}}}',
    }
    row = conn.execute(_APPEND_PG, {**fields, "data": json_text(data), **parts}).first()
    if row is None:
        raise RuntimeError("the ledger head row is missing: the database was not initialised (create_all)")
    return {**fields, "seq": row.seq, "prev_hash": row.prev_hash, "hash": row.hash}


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


@dataclass(frozen=True)
class Coverage:
    """How densely checkpoints must sign the chain (from the checkpoint settings): no run of more than `max_gap`
    events without one, and no unsigned tail older than `max_age`. A chain whose checkpoints were removed, and
    then recomputed, fails here: nobody without the key can sign it again."""

    max_gap: int
    max_age: timedelta
    now: datetime


def verify_database(
    session: Session,
    public_key: Ed25519PublicKey | None = None,
    *,
    start_at: tuple[int, str] | None = None,
    coverage: Coverage | None = None,
) -> Verification:
    """The chain in the database, with every checkpoint in it (signatures checked when a key is given), from
    `start_at` (the seq and predecessor hash where the archived segments end, as verified from their files) or,
    without it, from the archive's records.

    The fast path of verify_items for stored rows: the gateway writes JSON with sorted keys, so an event's
    canonical bytes are mostly its columns pasted together, with no parsing. Where that does not give the stored
    hash, the event is checked the canonical way before anything is called bad."""
    from gateway.ledger.archive import start
    from gateway.ledger.checkpoints import checkpoints

    # Checkpoints first, then the head, then the events up to it: what commits meanwhile is not in this check, and
    # every checkpoint read signs an event at or below the head read.
    signed = checkpoints(session)
    head = session.get(LedgerHead, 1)
    top = head.seq if head is not None else 0
    conn = session.connection()
    data = "CAST(data AS TEXT)" if conn.dialect.name == "postgresql" else "data"
    stmt = text(
        f"SELECT seq, id, ts, type, request_id, actor, {data}, prev_hash, hash FROM ledger_events "
        "WHERE seq > :last AND seq <= :top ORDER BY seq LIMIT 5000"
    )
    dumps, sha256 = orjson.dumps, hashlib.sha256
    # Events archived to object storage are checked there (Archiver.verify_segments); here the chain picks up
    # where the last segment ended.
    expected, prev = start_at or start(session)
    count, checked = 0, 0
    signed_through: int | None = None
    unsigned_since: tuple[int, str] | None = None  # the first event after the last checkpoint: seq, ts

    def bad(seq: int | None, id_: str | None, reason: str, cp: int | None = None) -> Verification:
        return Verification(False, count, prev, first_bad_seq=seq, first_bad_id=id_, reason=reason,
                            checkpoints=checked, signed_through=signed_through, bad_checkpoint_seq=cp,
                            signatures_checked=public_key is not None)  # fmt: skip

    last = expected - 1
    while rows := conn.execute(stmt, {"last": last, "top": top}).all():
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
                checked, signed_through, unsigned_since = checked + 1, seq, None
            elif unsigned_since is None:
                unsigned_since = (seq, ts)
            if coverage and unsigned_since and seq - unsigned_since[0] >= coverage.max_gap:
                why = f"{coverage.max_gap} events from seq {unsigned_since[0]} on carry no signed checkpoint"
                return bad(unsigned_since[0], None, why + " (were checkpoints removed?)")
        last = rows[-1][0]
    if expected - 1 != top or (count and head is not None and head.hash != prev):
        # The tail was removed, or the head moved by hand, after the last event we saw.
        return bad(expected, None, "events missing at the tail: the head is beyond the last event")
    beyond = [cp for cp in signed if cp > top]
    if beyond:
        return bad(min(beyond), None, f"checkpoint at seq {min(beyond)} signs an event that is gone (the tail was "
                                      "cut)", min(beyond))  # fmt: skip
    if coverage and unsigned_since and _older(unsigned_since[1], coverage.now - coverage.max_age):
        return bad(unsigned_since[0], None, f"events since seq {unsigned_since[0]} are older than the checkpoint "
                                            "interval and unsigned (were checkpoints removed?)")  # fmt: skip
    return Verification(True, count, prev, checkpoints=checked, signed_through=signed_through,
                        signatures_checked=public_key is not None)  # fmt: skip


def _older(ts: str, than: datetime) -> bool:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")) < than
