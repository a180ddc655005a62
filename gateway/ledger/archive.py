"""Retention: old events move to object storage as signed, verifiable JSONL segments. The chain goes on across
the move: a segment ends where the next segment, or the events still in the database, begin."""

from __future__ import annotations

import hashlib
import itertools
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any

from botocore.exceptions import ClientError
from sqlalchemy import delete, func, insert, select, text
from sqlmodel import Session

from gateway.adapters.cloud.client import Cloud
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import LedgerEvent, LedgerSegment
from gateway.errors import Conflict, InvalidRequest
from gateway.ledger import ledger
from gateway.ledger.chain import GENESIS, Verification, verify_items
from gateway.ledger.checkpoints import ExportSigning, checkpoints, jsonl, parse_line
from gateway.ledger.signing import Signer

_EVENTS = LedgerEvent.__table__  # type: ignore[attr-defined]
_SEGMENTS = LedgerSegment.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Place:
    bucket: str
    region: str


def segments(s: Session) -> list[dict[str, Any]]:
    return [
        dict(r._mapping) for r in s.connection().execute(select(_SEGMENTS).order_by(_SEGMENTS.c.first_seq))
    ]


def start(s: Session) -> tuple[int, str]:
    """Where the events in the database begin: after the last archived segment, or at the genesis."""
    last = s.connection().execute(select(_SEGMENTS.c.last_seq, _SEGMENTS.c.last_hash)
                                  .order_by(_SEGMENTS.c.last_seq.desc()).limit(1)).first()  # fmt: skip
    return (int(last.last_seq) + 1, str(last.last_hash)) if last else (1, GENESIS)


class Archiver:
    def __init__(self, *, db: Database, cloud: Cloud, signer: Signer, place: Place) -> None:
        self.db = db
        self.cloud = cloud
        self.signer = signer
        self.place = place

    def archive(self, before: str, *, actor: str) -> dict[str, Any]:
        """Moves every event older than `before` (RFC 3339) that is still in the database into one segment. The
        segment is streamed to a file, stored under a name of its own, and read back before anything is deleted;
        deleting and recording it is one transaction that first checks nobody archived meanwhile. A failure
        anywhere leaves the events where they were."""
        with self.db.read() as s:
            first_seq, prev = start(s)
            last_seq = s.connection().execute(
                select(func.max(_EVENTS.c.seq)).where(_EVENTS.c.ts < before)
            ).scalar_one()  # fmt: skip
            if last_seq is None or last_seq < first_seq:
                return {"archived": 0, "segment": None}
            last_seq = int(last_seq)
            with tempfile.TemporaryFile() as fh:
                signing = ExportSigning(
                    self.signer, selection={"segment": [first_seq, last_seq]}, contiguous=True
                )
                digest = hashlib.sha256()
                for chunk in self._segment(s, first_seq, last_seq, signing):
                    fh.write(chunk)
                    digest.update(chunk)
                fh.seek(0)
                key = f"ledger/segments/{first_seq:012d}-{last_seq:012d}-{uuid.uuid4().hex[:12]}.jsonl"
                s3 = self.cloud.client("s3", self.place.region)
                self._ensure_bucket(s3)
                s3.upload_fileobj(
                    fh, self.place.bucket, key, ExtraArgs={"ContentType": "application/x-ndjson"}
                )
        stored = hashlib.sha256()
        for chunk in s3.get_object(Bucket=self.place.bucket, Key=key)["Body"].iter_chunks(1 << 20):
            stored.update(chunk)
        url = f"s3://{self.place.bucket}/{key}"
        if stored.hexdigest() != digest.hexdigest():
            raise InvalidRequest("the archived segment did not read back as written; nothing was deleted")
        trailer = signing.last_trailer
        with self.db.unit_of_work() as s:
            ledger.lock_head(s)
            if start(s) != (first_seq, prev):
                raise Conflict("another archive ran meanwhile; nothing was deleted (run it again)")
            s.connection().execute(insert(_SEGMENTS).values(
                first_seq=first_seq, last_seq=last_seq, prev_hash=prev, last_hash=trailer["last_hash"], url=url,
                sha256=digest.hexdigest(), events=trailer["events"], created_at=ledger.now_rfc3339(),
            ))  # fmt: skip
            # The delete trigger lets exactly the events of a recorded segment go.
            s.connection().execute(delete(_EVENTS).where(_EVENTS.c.seq <= last_seq))
            ledger.append(s, type="ledger.archived", actor=actor, data={
                "first_seq": first_seq, "last_seq": last_seq, "events": trailer["events"], "url": url,
                "sha256": digest.hexdigest(), "before": before,
            })  # fmt: skip
        return {"archived": trailer["events"], "segment": {"first_seq": first_seq, "last_seq": last_seq,
                "url": url, "sha256": digest.hexdigest()}}  # fmt: skip

    def _segment(self, s: Session, first_seq: int, last_seq: int, signing: ExportSigning) -> Iterator[bytes]:
        events = itertools.takewhile(
            lambda e: e["seq"] <= last_seq, ledger.iter_events(s, after_seq=first_seq - 1)
        )
        last = s.connection().execute(select(_EVENTS.c.hash).where(_EVENTS.c.seq == last_seq)).scalar_one()
        yield from jsonl(
            events, checkpoints(s, first_seq=first_seq, last_seq=last_seq), signing, (last_seq, last)
        )

    def _ensure_bucket(self, s3: Any) -> None:
        try:
            s3.head_bucket(Bucket=self.place.bucket)
        except ClientError:
            args: dict[str, Any] = {"Bucket": self.place.bucket}
            if self.place.region != "us-east-1":
                args["CreateBucketConfiguration"] = {"LocationConstraint": self.place.region}
            s3.create_bucket(**args)

    def verify_segments(self, s: Session, public_key: Any) -> tuple[Verification | None, tuple[int, str]]:
        """Each archived segment read back from storage and held against its row: the file's digest, its own
        chain and signatures, and a signed trailer saying exactly the range the row claims, each segment starting
        where the one before ended (the first at seq 1). Returns the first failure (or None) and where the events
        in the database must begin: after the last segment, at the hash its signed file ends with."""
        prev, next_seq, total = GENESIS, 1, 0
        for seg in segments(s):
            where = f"archived segment {seg['url']}"
            failed = Verification(False, total, prev, first_bad_seq=seg["first_seq"])
            if (seg["first_seq"], seg["prev_hash"]) != (next_seq, prev):
                why = f"{where} does not start where the chain before it ends (seq {next_seq})"
                return replace(failed, reason=why), (0, "")
            bucket, _, key = str(seg["url"]).removeprefix("s3://").partition("/")
            body = (
                self.cloud.client("s3", self.place.region).get_object(Bucket=bucket, Key=key)["Body"].read()
            )
            if hashlib.sha256(body).hexdigest() != seg["sha256"]:
                return replace(
                    failed, reason=f"{where} is not the file that was archived (its digest differs)"
                ), (0, "")
            lines = [parse_line(x) for x in body.splitlines() if x.strip()]
            result = verify_items(iter(lines), public_key=public_key, need_trailer=True)
            if not result.ok:
                return replace(result, events=total + result.events, reason=f"{where}: {result.reason}"), (
                    0,
                    "",
                )
            trailer = lines[-1][1]
            claimed = {"filter": {"segment": [seg["first_seq"], seg["last_seq"]]}, "first_seq": seg["first_seq"],
                       "prev_hash": seg["prev_hash"], "last_hash": seg["last_hash"],
                       "events": seg["last_seq"] - seg["first_seq"] + 1}  # fmt: skip
            if any(trailer.get(k) != v for k, v in claimed.items()):
                return replace(failed, reason=f"{where}: its signed trailer is not the range its record claims"), (
                    0, "")  # fmt: skip
            prev, next_seq, total = str(trailer["last_hash"]), int(seg["last_seq"]) + 1, total + result.events
        return None, (next_seq, prev)


def archived_count(s: Session) -> int:
    return int(
        s.connection().execute(text("SELECT coalesce(sum(events), 0) FROM ledger_segments")).scalar_one()
    )
