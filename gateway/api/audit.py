"""/v1/audit: events, verification and exports for auditors."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any, Literal

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlmodel import col, select

from gateway.adapters.store.models import LedgerEvent
from gateway.api.deps import principal, require, services
from gateway.domain.identity import AUDITORS, Principal
from gateway.ledger import ledger
from gateway.services import Services

router = APIRouter(prefix="/v1/audit", tags=["audit"])
CSV_FIELDS = ("seq", "id", "ts", "type", "request_id", "actor", "data", "prev_hash", "hash")


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


@router.get("/export")
def export(
    format: Literal["jsonl", "csv"] = "jsonl",
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """The whole chain, streamed in order; a JSONL export verifies offline with `govgate audit verify --file`."""
    require(who, AUDITORS, "export the audit ledger")

    def rows() -> Iterator[bytes]:
        with svc.db.read() as s:
            if format == "jsonl":
                for ev in ledger.iter_events(s):
                    yield orjson.dumps(ev) + b"\n"
                return
            buf = io.StringIO()
            writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS)
            writer.writeheader()
            for ev in ledger.iter_events(s):
                writer.writerow({**ev, "data": orjson.dumps(ev["data"]).decode()})
                if buf.tell() > 65536:
                    yield buf.getvalue().encode()
                    buf.seek(0)
                    buf.truncate()
            yield buf.getvalue().encode()

    media = "application/x-ndjson" if format == "jsonl" else "text/csv"
    headers = {"Content-Disposition": f'attachment; filename="audit.{format}"'}
    return StreamingResponse(rows(), media_type=media, headers=headers)
