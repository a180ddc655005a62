"""Hashing and verification of the chain. Pure functions: exports are verified with these alone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import rfc8785

GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "id", "ts", "type", "request_id", "actor", "data", "prev_hash")


def event_hash(event: Mapping[str, Any]) -> str:
    """SHA-256 over the previous hash and the RFC 8785 canonical JSON of the event without its own hash."""
    body = {k: event[k] for k in HASHED_FIELDS}
    digest = hashlib.sha256(str(event["prev_hash"]).encode("ascii"))
    digest.update(rfc8785.dumps(body))
    return digest.hexdigest()


@dataclass(frozen=True)
class Verification:
    ok: bool
    events: int
    head: str
    first_bad_seq: int | None = None
    first_bad_id: str | None = None
    reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "first_bad_seq": self.first_bad_seq,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
        }


def verify(
    events: Iterable[Mapping[str, Any]], *, start_hash: str = GENESIS, start_seq: int = 1
) -> Verification:
    """Walk the chain in order; name the first event whose link or content does not hold."""
    prev = start_hash
    expected_seq = start_seq
    count = 0
    for ev in events:
        seq = int(ev["seq"])
        bad = None
        if seq != expected_seq:
            bad = f"sequence gap: expected seq {expected_seq}, found {seq}"
        elif ev["prev_hash"] != prev:
            bad = "prev_hash does not match the hash of the event before it"
        elif event_hash(ev) != ev["hash"]:
            bad = "content does not match its hash (the event was altered)"
        if bad:
            return Verification(
                False, count, prev, first_bad_seq=seq, first_bad_id=str(ev.get("id")), reason=bad
            )
        prev = str(ev["hash"])
        expected_seq += 1
        count += 1
    return Verification(True, count, prev)
