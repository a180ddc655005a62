"""/v1/audit/export: the ledger streamed as JSONL (complete, verifiable), CSV, OPA decision logs or an HTML report,
for a period, a team, an outcome or one request.

Every format is a generator of byte chunks reading the ledger in keyset batches, so a million events export in
constant memory; `X-Ledger-Events` says up front how many events the export covers (policy events for
`decision-log`), for progress bars.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from gateway.api.deps import principal, require, services
from gateway.domain.identity import AUDITORS, Principal
from gateway.errors import InvalidRequest
from gateway.ledger import csv_export, decision_log, filters, report_html
from gateway.ledger.filters import EventFilter, Head
from gateway.services import Services

router = APIRouter(prefix="/v1/audit", tags=["audit"])


# -- hooks for signed checkpoints and export signatures (gateway.ledger.checkpoints fills them in) -------------
def checkpoints_between(session: Session, first_seq: int, last_seq: int) -> Iterable[dict[str, Any]]:
    """The signed checkpoints whose `seq` lies in [first_seq, last_seq], in seq order. A complete export writes
    each as a `{"checkpoint": {...}}` line right after the event at its `seq` (after the last event before it
    when a checkpoint has no `seq`, at the end of the range). The JSONL writer asks for consecutive ranges that
    together cover the export; a filtered export, which is not contiguous, asks for none."""
    return []


def export_header(svc: Any, selection: dict[str, Any]) -> dict[str, Any] | None:
    """The `{"header": {...}}` first line of a JSONL export, or None for none. `selection`: `contiguous` (no filter:
    the events are a run of the chain), `first_seq` and `prev_hash` (of the first event, when contiguous),
    `filter` (the filter, normalised)."""
    return None


def export_trailer(svc: Any, head: dict[str, Any]) -> dict[str, Any] | None:
    """The signed `{"trailer": {...}}` last line of a JSONL export, or None to write none. `head`: the selection
    (as export_header got it), `events` (how many were written), `events_digest` (SHA-256 over their hashes in
    order, hex), `last_hash` (of the last one written) and `head_seq` / `head_hash` (the chain's head the export
    stopped at)."""
    return None


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
    """Every matching event as the ledger holds it, one per line, hashes included. A complete export (no filter)
    has the signed checkpoints between its events; any export may start with a header and end with a signed
    trailer (the hooks above)."""
    rows = filters.iter_rows(session, flt, upto=head.seq, with_request=False, batch=WINDOW, raw_data=True)
    first = next(rows, None)
    contiguous = flt.is_empty
    selection = {
        "contiguous": contiguous,
        "first_seq": first.event["seq"] if first is not None and contiguous else None,
        "prev_hash": first.event["prev_hash"] if first is not None and contiguous else None,
        "filter": flt.as_dict(),
    }
    out = _Lines()
    header = export_header(svc, selection)
    if header is not None:
        out.add({"header": header})
    digest = hashlib.sha256()
    count = 0
    last_hash: str | None = None
    next_seq = first.event["seq"] if first is not None else 1
    window: list[dict[str, Any]] = []

    def flush() -> Iterator[bytes]:
        nonlocal next_seq
        upto = int(window[-1]["seq"])
        signed = list(checkpoints_between(session, next_seq, upto)) if contiguous else []
        signed.sort(key=lambda cp: int(cp.get("seq", upto)))
        i = 0
        for ev in window:
            while i < len(signed) and int(signed[i].get("seq", upto)) < ev["seq"]:
                out.add({"checkpoint": signed[i]})
                i += 1
            out.add(ev)
        for cp in signed[i:]:
            out.add({"checkpoint": cp})
        window.clear()
        next_seq = upto + 1
        yield from out.ready()

    for row in itertools.chain([first] if first is not None else [], rows):
        ev = row.event
        digest.update(str(ev["hash"]).encode("ascii"))
        count += 1
        last_hash = ev["hash"]
        if ev["data"].__class__ is str:  # the stored JSON, written out as it is
            ev["data"] = orjson.Fragment(ev["data"])
        window.append(ev)
        if len(window) >= WINDOW:
            yield from flush()
    if window:
        yield from flush()
    trailer = export_trailer(svc, {**selection, "events": count, "events_digest": digest.hexdigest(),
                                   "last_hash": last_hash, "head_seq": head.seq, "head_hash": head.hash})  # fmt: skip
    if trailer is not None:
        out.add({"trailer": trailer})
    yield from out.ready(final=True)


class _Lines:
    """JSON lines gathered into chunks of about CHUNK bytes."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, doc: Any) -> None:
        line = orjson.dumps(doc) + b"\n"
        self.parts.append(line)
        self.size += len(line)

    def ready(self, final: bool = False) -> Iterator[bytes]:
        if self.parts and (final or self.size >= CHUNK):
            yield b"".join(self.parts)
            self.parts, self.size = [], 0


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
    flt = EventFilter.parse(since=since, until=until, team=team, outcome=outcome, request_id=request_id)
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
