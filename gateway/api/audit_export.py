"""/v1/audit/export: the ledger streamed as JSONL (verifiable), CSV, OPA decision logs or an HTML report."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Literal

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from gateway.api.deps import principal, require, services
from gateway.domain.identity import AUDITORS, Principal
from gateway.ledger import ledger
from gateway.services import Services

router = APIRouter(prefix="/v1/audit", tags=["audit"])
CSV_FIELDS = ("seq", "id", "ts", "type", "request_id", "actor", "data", "prev_hash", "hash")


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
