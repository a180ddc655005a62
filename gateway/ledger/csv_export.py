"""The ledger as a flat CSV a spreadsheet opens cleanly.

RFC 4180: CRLF line endings, fields quoted when they hold a comma, a quote or a line break. UTF-8 with a byte order
mark, which is how Excel recognises UTF-8 in a .csv it opens by double-click (LibreOffice, pandas with
`encoding="utf-8-sig"` and Python's csv module read it as well). Text cells that a spreadsheet would take as a
formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) get a leading `'`, as OWASP's CSV injection
guidance advises: event data is user input. Numbers stay numbers.

Columns: the event's own fields, its request's team and current state, a few well-known data fields flattened,
then the whole `data` as compact JSON and the hashes. Excel holds at most 32,767 characters in a cell: a longer
`data` (a policy event's full input, say) is cut there and `data_truncated` says so; the JSONL export has it whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import orjson

from gateway.ledger.filters import Row, obj

BOM = "\ufeff"
CELL_LIMIT = 32_767
_DATA_LIMIT = CELL_LIMIT - 64
_FORMULA_START = frozenset("=+-@\t\r")
COLUMNS = (
    "seq", "ts", "type", "request_id", "actor", "team", "request_state",
    "outcome", "cost_monthly", "violations", "rules", "decision_id",
    "verdict", "override", "comment", "exemption_id",
    "cloud_operation", "http_status", "error",
    "id", "data", "data_truncated", "prev_hash", "hash",
)  # fmt: skip


def safe(value: Any) -> Any:
    """A cell: None empty, text defused against formula injection, other values as they are."""
    if value.__class__ is str:
        if len(value) > CELL_LIMIT:
            value = value[: CELL_LIMIT - 1] + "…"
        return "'" + value if value[:1] in _FORMULA_START else value
    if value is None:
        return ""
    if value is True or value is False:
        return "true" if value else "false"
    if isinstance(value, str):  # a str subclass
        return safe(str(value))
    return value


# Event types whose data has flattened fields; any other event's data is read only for an `error` or a `reason`.
_READ_TYPES = ("policy.", "approval.", "review.", "exemption.", "cloud.call")
_NO_FIELDS = ("",) * 12


def cell(value: Any) -> str:
    """One field of a CSV line: defused as `safe` does, then quoted as RFC 4180 says when it holds a comma, a quote
    or a line break. Written by hand: the csv module's writer goes character by character, and a JSON `data` cell
    is full of quotes."""
    if value is None:
        return ""
    if value.__class__ is not str:
        v = safe(value)
        if v.__class__ is not str:
            return str(v)
        value = v
    if len(value) > CELL_LIMIT:
        value = value[: CELL_LIMIT - 1] + "…"
    if value[:1] in _FORMULA_START:
        value = "'" + value
    if '"' in value:
        return '"' + value.replace('"', '""') + '"'
    if "," in value or "\n" in value or "\r" in value:
        return '"' + value + '"'
    return value


def flatten(typ: str, data: dict[str, Any]) -> tuple[Any, ...]:
    """The well-known fields of an event's data as cells: outcome, cost_monthly, violations, rules, decision_id,
    verdict, override, comment, exemption_id, cloud_operation, http_status, error."""
    decision = obj(data.get("decision"))
    outcome = cost = violations = rules = verdict = override = comment = exemption = operation = status = None
    if decision:
        found = decision.get("violations") or []
        outcome = decision.get("outcome")
        cost = obj(decision.get("cost")).get("monthly")
        violations = len(found)
        rules = "; ".join(f"{v.get('set')}/{v.get('rule')}" for v in found if isinstance(v, dict))
    elif typ == "policy.rechecked":
        outcome = data.get("outcome")
    decision_id = (
        decision.get("decision_id") or obj(data.get("opa")).get("decision_id") or data.get("decision_id")
    )
    if typ == "approval.recorded":
        verdict, override = data.get("verdict"), bool(data.get("override"))
    if typ in ("approval.recorded", "review.completed") or typ.startswith("exemption."):
        comment = data.get("comment")
    if typ == "exemption.used":
        exemption = data.get("exemption_id")
    elif typ.startswith("exemption."):
        exemption = data.get("id")
    if typ == "cloud.call":
        operation, status = f"{data.get('service')}:{data.get('operation')}", data.get("http_status")
    error = data.get("error")
    if error is not None and not isinstance(error, str):
        error = orjson.dumps(error).decode()
    elif error is None and data.get("reason") is not None and typ.startswith(("request.", "execution.")):
        error = str(data["reason"])
    return (outcome, cost, violations, rules, decision_id, verdict, override, comment, exemption, operation, status,
            error)  # fmt: skip


def record(row: Row) -> str:
    """One event's CSV line. Its data may come as the JSON text the database holds (filters.iter_rows with
    raw_data): it is then the `data` cell as it is, and parsed only when a flattened field needs it."""
    ev = row.event
    typ = str(ev["type"])
    raw = ev["data"]
    if raw.__class__ is str:
        text = raw
        wanted = typ.startswith(_READ_TYPES) or '"error":' in raw or '"reason":' in raw
        data = obj(orjson.loads(raw)) if wanted else None
    else:
        data = obj(raw)
        text = orjson.dumps(raw).decode()
    truncated = len(text) > _DATA_LIMIT
    if truncated:
        text = text[:_DATA_LIMIT] + "…"
    fields = _NO_FIELDS if not data else [cell(v) for v in flatten(typ, data)]
    req = row.request
    # seq, id, prev_hash and hash are the ledger's own (an integer, a UUID, hex digests): nothing to defuse.
    return ",".join([str(ev["seq"]), cell(ev["ts"]), cell(typ), cell(ev["request_id"]), cell(ev["actor"]),
                     cell(req.team) if req else "", cell(req.state) if req else "", *fields, ev["id"],
                     '"' + text.replace('"', '""') + '"', "true" if truncated else "false", ev["prev_hash"],
                     ev["hash"]]) + "\r\n"  # fmt: skip


def chunks(rows: Iterable[Row], *, chunk_size: int = 64 * 1024) -> Iterator[bytes]:
    """The CSV, byte order mark and header first, in chunks of about `chunk_size` bytes."""
    lines = [BOM + ",".join(COLUMNS) + "\r\n"]
    size = 0
    for row in rows:
        line = record(row)
        lines.append(line)
        size += len(line)
        if size >= chunk_size:
            yield "".join(lines).encode("utf-8")
            lines, size = [], 0
    if lines:
        yield "".join(lines).encode("utf-8")
