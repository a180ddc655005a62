"""/v1/audit/export: the ledger streamed as JSONL (complete, verifiable), CSV, OPA decision logs or an HTML report,
for a period, a team, an outcome or one request.

Every format is a generator of byte chunks reading the ledger in keyset batches, so a million events export in
constant memory; `X-Ledger-Events` says up front how many events the export covers (policy events for
`decision-log`), for progress bars.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from gateway.api.deps import principal, require, services
from gateway.domain.identity import AUDITORS, Principal
from gateway.errors import InvalidRequest
from gateway.ledger import csv_export, decision_log, filters, report_html
from gateway.ledger.checkpoints import ExportSigning, checkpoints
from gateway.ledger.checkpoints import jsonl as ledger_jsonl
from gateway.ledger.filters import EventFilter, Head
from gateway.services import Services

router = APIRouter(prefix="/v1/audit", tags=["audit"])


# -- formats ---------------------------------------------------------------------------------------------------
FORMATS = {
    # format: (media type, file extension)
    "jsonl": ("application/x-ndjson", "jsonl"),
    "csv": ("text/csv; charset=utf-8; header=present", "csv"),
    "decision-log": ("application/x-ndjson", "decisions.jsonl"),
    "html": ("text/html; charset=utf-8", "html"),
}
CHUNK = 64 * 1024
WINDOW = 2000
# The report is a document: nothing in it may load or run anything, even if the ledger held markup.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
)


def jsonl(svc: Any, session: Session, flt: EventFilter, head: Head) -> Iterator[bytes]:
    """Every matching event as the ledger holds it, one per line, hashes included, between a header and a trailer
    the gateway signs. A complete export (no filter) also has the signed checkpoints after the events they sign."""
    rows = filters.iter_rows(session, flt, upto=head.seq, with_request=False, batch=WINDOW, raw_data=True)

    def events() -> Iterator[dict[str, Any]]:
        for row in rows:
            ev = row.event
            if ev["data"].__class__ is str:  # the stored JSON, written out as it is
                ev["data"] = orjson.Fragment(ev["data"])
            yield ev

    signing = ExportSigning(svc.signer, selection=flt.as_dict(), contiguous=flt.is_empty)
    signed = checkpoints(session, last_seq=head.seq) if flt.is_empty else {}
    yield from ledger_jsonl(events(), signed, signing, (head.seq, head.hash), chunk_size=CHUNK)


def export_chunks(svc: Any, fmt: str, flt: EventFilter, head: Head) -> Iterator[bytes]:
    """The export in `fmt`, streamed from one read session (one consistent view of the ledger on SQLite)."""
    with svc.db.read() as s:
        if fmt == "jsonl":
            yield from jsonl(svc, s, flt, head)
        elif fmt == "csv":
            yield from csv_export.chunks(
                filters.iter_rows(s, flt, upto=head.seq, raw_data=True), chunk_size=CHUNK
            )
        elif fmt == "decision-log":
            rows = filters.iter_rows(
                s, flt, upto=head.seq, with_request=False, types=decision_log.POLICY_EVENTS
            )
            yield from decision_log.lines(rows, chunk_size=CHUNK)
        else:
            yield from report_html.chunks(s, flt, head, generated_at=filters.ts_key(svc.clock.now()))


def _filename(fmt: str, flt: EventFilter) -> str:
    parts = ["audit"]
    if flt.since:
        parts.append("from-" + flt.since.strftime("%Y%m%dT%H%M%SZ"))
    if flt.until:
        parts.append("to-" + flt.until.strftime("%Y%m%dT%H%M%SZ"))
    parts += [v for v in (flt.team, flt.outcome, flt.request_id) if v]
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", "_".join(parts))[:150]
    return f"{name}.{FORMATS[fmt][1]}"


@router.get("/export")
def export(
    format: str = "jsonl",
    since: str | None = None,
    until: str | None = None,
    from_: str | None = Query(None, alias="from", description="the same as since (design.md's name)"),
    to: str | None = Query(None, description="the same as until (design.md's name)"),
    team: str | None = None,
    outcome: str | None = None,
    request_id: str | None = None,
    who: Principal = Depends(principal),
    svc: Services = Depends(services),
) -> StreamingResponse:
    """The ledger, or the part the filters select, streamed in `format`: `jsonl` (verifiable offline with
    `govgate audit verify --file`), `csv`, `decision-log` (OPA decision logs of policy events) or `html` (the
    auditor's report). `since` and `until` are RFC 3339 (the period is since <= ts < until); `team` and `outcome`
    (a request state) select by the events' request, `request_id` one request."""
    require(who, AUDITORS, "export the audit ledger")
    if format not in FORMATS:
        raise InvalidRequest(
            f"unknown export format {format!r}",
            errors=[{"pointer": "/query/format", "in": "query", "detail": f"one of: {', '.join(FORMATS)}"}],
        )
    flt = EventFilter.parse(since=since or from_, until=until or to, team=team, outcome=outcome,
                            request_id=request_id)  # fmt: skip
    with svc.db.read() as s:
        head = filters.head(s)
        types = decision_log.POLICY_EVENTS if format == "decision-log" else None
        expected = filters.count(s, flt, upto=head.seq, types=types)
    headers = {
        "Content-Disposition": f'attachment; filename="{_filename(format, flt)}"',
        "X-Ledger-Events": str(expected),
        "X-Ledger-Head-Seq": str(head.seq),
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
    }
    if format == "html":
        headers["Content-Security-Policy"] = REPORT_CSP
    return StreamingResponse(
        export_chunks(svc, format, flt, head), media_type=FORMATS[format][0], headers=headers
    )
