"""Hashing and verification of the chain. Pure functions: exports are verified with these alone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.ledger.signing import check

GENESIS = "0" * 64
HASHED_FIELDS = ("seq", "id", "ts", "type", "request_id", "actor", "data", "prev_hash")


def holds(event: Mapping[str, Any]) -> bool:
    """Whether the event's hash is over its content. Fast first: orjson with sorted keys writes the same bytes as
    RFC 8785 for most events (ASCII keys, no float that JSON numbers spell differently), and equal hashes mean
    equal bytes, so equal content. Only when that differs is the canonical form computed."""
    body = {k: event[k] for k in HASHED_FIELDS}
    digest = hashlib.sha256(str(event["prev_hash"]).encode("ascii"))
    digest.update(orjson.dumps(body, option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest() == event["hash"] or event_hash(event) == event["hash"]


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
    # Signatures: how many checkpoints held, up to which event the chain is signed, the first that failed.
    checkpoints: int = 0
    signed_through: int | None = None
    bad_checkpoint_seq: int | None = None
    signatures_checked: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "events": self.events,
            "head": self.head,
            "first_bad_seq": self.first_bad_seq,
            "first_bad_id": self.first_bad_id,
            "reason": self.reason,
            "checkpoints": self.checkpoints,
            "signed_through": self.signed_through,
            "bad_checkpoint_seq": self.bad_checkpoint_seq,
            "signatures_checked": self.signatures_checked,
        }


def verify(
    events: Iterable[Mapping[str, Any]], *, start_hash: str = GENESIS, start_seq: int = 1
) -> Verification:
    """Walk the chain in order; name the first event whose link or content does not hold."""
    return verify_items((("event", ev) for ev in events), start_hash=start_hash, start_seq=start_seq)


def checkpoint_problem(
    cp: Mapping[str, Any], last: Mapping[str, Any] | None, public_key: Ed25519PublicKey | None
) -> str | None:
    """Why a checkpoint does not hold for `last`, the event it follows; None if it does."""
    seq = int(cp["seq"])
    if last is None or int(last["seq"]) != seq:
        return f"checkpoint at seq {seq} does not follow the event it signs"
    if cp.get("hash") != last["hash"]:
        return f"checkpoint at seq {seq} signed another hash: the chain was changed"
    if public_key is not None and (why := check(dict(cp), public_key)):
        return f"checkpoint at seq {seq}: {why}"
    return None


def verify_items(
    items: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    start_hash: str = GENESIS,
    start_seq: int = 1,
    public_key: Ed25519PublicKey | None = None,
    need_trailer: bool = False,
) -> Verification:
    """An export's header, events, checkpoints and trailer, in the order an export holds them (the header first, a
    checkpoint right after the event it signs, the trailer last). Every event's hash is recomputed; the links
    between them are checked unless the header says the events are a filtered, non-contiguous selection (the
    trailer's signed digest of their hashes then stands for the links, and it repeats the header, signed). With
    a public key every checkpoint and the trailer must verify: a chain
    recomputed without the key fails at the first checkpoint after the change."""
    prev, expected_seq, count = start_hash, start_seq, 0
    last: Mapping[str, Any] | None = None
    checked = 0
    signed_through: int | None = None
    digest = hashlib.sha256()
    contiguous = True
    trailer: Mapping[str, Any] | None = None
    header: Mapping[str, Any] = {}

    def fail(ev: Mapping[str, Any] | None, reason: str, checkpoint: int | None = None) -> Verification:
        seq = int(ev["seq"]) if ev is not None else None
        return Verification(False, count, prev, first_bad_seq=seq, first_bad_id=str(ev.get("id")) if ev else None,
                            reason=reason, checkpoints=checked, signed_through=signed_through,
                            bad_checkpoint_seq=checkpoint, signatures_checked=public_key is not None)  # fmt: skip

    for kind, item in items:
        if trailer is not None:
            return fail(None, f"a {kind} follows the export trailer")
        if kind == "header":
            if count or header:
                return fail(last, "the export header is not at the start")
            header = item
            contiguous = bool(item.get("contiguous", True))
            if contiguous and item.get("first_seq") is not None:
                expected_seq, prev = int(item["first_seq"]), str(item["prev_hash"])
            continue
        if kind == "trailer":
            trailer = item
            continue
        if kind == "checkpoint":
            cp_seq = int(item["seq"])
            if why := checkpoint_problem(item, last, public_key):
                return fail(last, why, cp_seq)
            checked += 1
            signed_through = cp_seq
            continue
        ev = item
        seq = int(ev["seq"])
        if not holds(ev):
            return fail(ev, "content does not match its hash (the event was altered)")
        if contiguous:
            if seq != expected_seq:
                return fail(ev, f"sequence gap: expected seq {expected_seq}, found {seq}")
            if ev["prev_hash"] != prev:
                return fail(ev, "prev_hash does not match the hash of the event before it")
        digest.update(str(ev["hash"]).encode("ascii"))
        prev, last, expected_seq = str(ev["hash"]), ev, seq + 1
        count += 1
    if need_trailer and trailer is None:
        return fail(last, "no signed trailer: the export is incomplete (its tail may have been cut off)")
    if trailer is not None:
        for key in ("contiguous", "first_seq", "prev_hash", "filter"):
            if trailer.get(key) != header.get(key):
                return fail(last, f"the header's {key} is not what the trailer signs")
        if int(trailer.get("events", -1)) != count:
            return fail(last, f"the trailer signs {trailer.get('events')} events; the file holds {count}")
        if trailer.get("events_digest") != digest.hexdigest():
            return fail(
                last, "the events are not the ones the trailer signs (changed, removed, added or reordered)"
            )
        if count and trailer.get("last_hash") != prev:
            return fail(last, "the trailer signs another last event: the tail was changed or cut off")
        if public_key is not None and (why := check(dict(trailer), public_key)):
            return fail(last, f"export trailer: {why}")
        if contiguous and count and public_key is not None:
            signed_through = int(last["seq"]) if last is not None else signed_through
    return Verification(True, count, prev, checkpoints=checked, signed_through=signed_through,
                        signatures_checked=public_key is not None)  # fmt: skip
