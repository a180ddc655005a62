"""Signed checkpoints of the chain's head, and the signed header and trailer of an export."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import insert, select
from sqlmodel import Session

from gateway.adapters.store.db import Database
from gateway.adapters.store.models import LedgerCheckpoint, LedgerHead
from gateway.ledger.ledger import Coverage, now_rfc3339
from gateway.ledger.signing import Signer

_CHECKPOINTS = LedgerCheckpoint.__table__  # type: ignore[attr-defined]
_HEAD = LedgerHead.__table__  # type: ignore[attr-defined]


def coverage(every_events: int, every_seconds: float, tick_seconds: float, now: datetime) -> Coverage:
    """What the checkpoint settings promise, with room for bursts between ticks and a tick's delay."""
    return Coverage(max_gap=10 * every_events, max_age=timedelta(seconds=2 * every_seconds + 2 * tick_seconds + 60),
                    now=now)  # fmt: skip


class Checkpointer:
    """Signs the head every `every_events` events or `every_seconds` seconds (whichever comes first, checked on
    each tick of the background loop), so rewriting what came before needs the key."""

    def __init__(self, *, db: Database, signer: Signer, every_events: int, every_seconds: float) -> None:
        self.db = db
        self.signer = signer
        self.every_events = every_events
        self.every_seconds = every_seconds

    def tick(self, *, force: bool = False) -> int:
        with self.db.unit_of_work() as s:
            return 1 if self.checkpoint(s, force=force) else 0

    def checkpoint(self, s: Session, *, force: bool = False) -> dict[str, Any] | None:
        conn = s.connection()
        # The head row lock: appenders wait a moment, and two replicas never sign twice.
        head = conn.execute(
            select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
        ).first()
        if head is None or head.seq == 0:
            return None
        last = conn.execute(
            select(_CHECKPOINTS.c.seq, _CHECKPOINTS.c.ts).order_by(_CHECKPOINTS.c.seq.desc()).limit(1)
        ).first()
        if last is not None:
            if last.seq >= head.seq:
                return None
            age = (datetime.now(UTC) - datetime.fromisoformat(last.ts.replace("Z", "+00:00"))).total_seconds()
            if not force and head.seq - last.seq < self.every_events and age < self.every_seconds:
                return None
        record = self.signer.sign({"seq": head.seq, "hash": head.hash, "ts": now_rfc3339()})
        conn.execute(insert(_CHECKPOINTS).values(**record))
        return record


def checkpoints(s: Session, *, first_seq: int = 1, last_seq: int | None = None) -> dict[int, dict[str, Any]]:
    stmt = select(_CHECKPOINTS).where(_CHECKPOINTS.c.seq >= first_seq)
    if last_seq is not None:
        stmt = stmt.where(_CHECKPOINTS.c.seq <= last_seq)
    return {int(r.seq): dict(r._mapping) for r in s.connection().execute(stmt)}


def items(
    events: Iterable[dict[str, Any]], signed: dict[int, dict[str, Any]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """Events with each checkpoint right after the event it signs: the order verify_items and exports use."""
    for ev in events:
        yield "event", ev
        cp = signed.get(int(ev["seq"]))
        if cp is not None:
            yield "checkpoint", cp


class ExportSigning:
    """Builds an export's header and, once every event is out, its signed trailer: how many events, the digest of
    their hashes in order, the last one, and the selection they are."""

    def __init__(self, signer: Signer, *, selection: dict[str, Any], contiguous: bool) -> None:
        self.signer = signer
        self.selection = selection
        self.contiguous = contiguous
        self.header: dict[str, Any] = {}
        self._digest = hashlib.sha256()
        self._events = 0
        self._last_hash: str | None = None
        self.last_trailer: dict[str, Any] = {}

    def start(self, first: dict[str, Any] | None) -> dict[str, Any]:
        self.header = {
            "format": "governance-gateway ledger export v1",
            "contiguous": self.contiguous,
            "first_seq": int(first["seq"]) if first and self.contiguous else None,
            "prev_hash": first["prev_hash"] if first and self.contiguous else None,
            "filter": self.selection,
            "key_id": self.signer.key_id,
        }
        return self.header

    def add(self, ev: dict[str, Any]) -> None:
        self._digest.update(str(ev["hash"]).encode("ascii"))
        self._events += 1
        self._last_hash = str(ev["hash"])

    def trailer(self, head: tuple[int, str]) -> dict[str, Any]:
        self.last_trailer = self.signer.sign({
            "contiguous": self.contiguous, "first_seq": self.header.get("first_seq"),
            "prev_hash": self.header.get("prev_hash"), "filter": self.selection, "events": self._events,
            "events_digest": self._digest.hexdigest(), "last_hash": self._last_hash,
            "head_seq": head[0], "head_hash": head[1], "exported_at": now_rfc3339(),
        })  # fmt: skip
        return self.last_trailer


def jsonl(
    events: Iterable[dict[str, Any]], signed: dict[int, dict[str, Any]], signing: ExportSigning,
    head: tuple[int, str], *, chunk_size: int = 64 * 1024,
) -> Iterator[bytes]:  # fmt: skip
    """A verifiable JSONL export, in chunks of about `chunk_size` bytes: the header, each event (with its
    checkpoint after it), the signed trailer."""
    it = iter(events)
    first = next(it, None)
    parts = [orjson.dumps({"header": signing.start(first)}) + b"\n"]
    size = len(parts[0])

    def all_events() -> Iterator[dict[str, Any]]:
        if first is not None:
            yield first
        yield from it

    for kind, item in items(all_events(), signed if signing.contiguous else {}):
        if kind == "event":
            signing.add(item)
        line = orjson.dumps(item if kind == "event" else {kind: item}) + b"\n"
        parts.append(line)
        size += len(line)
        if size >= chunk_size:
            yield b"".join(parts)
            parts, size = [], 0
    parts.append(orjson.dumps({"trailer": signing.trailer(head)}) + b"\n")
    yield b"".join(parts)


def parse_line(line: bytes) -> tuple[str, dict[str, Any]]:
    doc = orjson.loads(line)
    for kind in ("header", "checkpoint", "trailer"):
        if kind in doc and len(doc) == 1:
            return kind, doc[kind]
    return "event", doc
