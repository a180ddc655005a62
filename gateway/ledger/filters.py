"""Which ledger events an export or a report covers, and a streaming read of them.

A filter selects on the event and on the request it belongs to:

- `since` / `until`: RFC 3339 date-times (or plain dates, meaning midnight UTC) compared with the event's `ts`;
  the period is half-open, `since <= ts < until`.
- `team`: the team of the event's request (`change_requests.team`).
- `outcome`: the request's *current* state (`rejected` selects every event of the requests that ended rejected,
  from their submission on; `pending_approval` those still waiting). It is not the outcome of one policy
  decision: a request decided `pending_approval` and then approved is not `pending_approval` any more.
- `request_id`: one request's events.

Events that belong to no request (tokens, exemptions, webhooks, dry runs, drift checks) match only when neither
`team` nor `outcome` is given. Matching events are read in keyset batches by `seq`, never all at once, and only up
to the head as it was when the export began, so an export is one consistent cut of the chain.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, String, Text, and_, cast, func, select
from sqlmodel import Session

from gateway.adapters.store.models import ChangeRequest, LedgerEvent, LedgerHead
from gateway.domain.states import State
from gateway.errors import InvalidRequest

_EVENTS = LedgerEvent.__table__  # type: ignore[attr-defined]
_REQUESTS = ChangeRequest.__table__  # type: ignore[attr-defined]
_HEAD = LedgerHead.__table__  # type: ignore[attr-defined]

OUTCOMES = tuple(s.value for s in State)
_TEAM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
_EVENT_COLUMNS = ("seq", "id", "ts", "type", "request_id", "actor", "data", "prev_hash", "hash")


def obj(value: Any) -> dict[str, Any]:
    """A JSON object from event data, or an empty one: data is read defensively, whatever an event holds."""
    return value if isinstance(value, dict) else {}


def ts_key(t: datetime) -> str:
    """The ledger's own `ts` form (ledger.now_rfc3339): fixed width, so strings compare in time order."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> datetime:
    """An RFC 3339 date-time with its offset (`2026-12-01T22:00:00Z`, `...+01:00`) or a date (UTC midnight)."""
    text = value.strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        d = date.fromisoformat(text)
        return datetime(d.year, d.month, d.day, tzinfo=UTC)
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+\-]\d{2}:\d{2})", text):
        raise ValueError("not an RFC 3339 date-time with an offset (e.g. 2026-12-01T22:00:00Z) or a date")
    parsed = datetime.fromisoformat(text.upper().replace("Z", "+00:00"))
    return parsed.astimezone(UTC)


@dataclass(frozen=True)
class EventFilter:
    since: datetime | None = None
    until: datetime | None = None
    team: str | None = None
    outcome: str | None = None
    request_id: str | None = None

    @classmethod
    def parse(
        cls,
        *,
        since: str | None = None,
        until: str | None = None,
        team: str | None = None,
        outcome: str | None = None,
        request_id: str | None = None,
        prefix: str = "/query",
    ) -> EventFilter:
        """From query parameters or CLI options; every bad value is named at once, with its JSON pointer."""
        errors: list[dict[str, Any]] = []

        def bad(name: str, detail: str) -> None:
            errors.append({"pointer": f"{prefix}/{name}", "in": "query", "detail": detail})

        times: dict[str, datetime | None] = {"since": None, "until": None}
        for name, raw in (("since", since), ("until", until)):
            if raw:
                try:
                    times[name] = parse_time(raw)
                except (ValueError, OverflowError) as exc:  # OverflowError: a year 1 or 9999 offset
                    bad(name, f"{raw!r}: {exc}")
        if times["since"] and times["until"] and times["until"] <= times["since"]:
            bad("until", "until must be later than since (the period is since <= ts < until)")
        if team and not _TEAM.match(team):
            bad("team", f"{team!r} is not a team name")
        if outcome and outcome not in OUTCOMES:
            bad("outcome", f"{outcome!r} is not a request state; one of: {', '.join(OUTCOMES)}")
        if request_id is not None and (
            not request_id.strip() or len(request_id) > 200 or not request_id.isprintable()
        ):
            bad("request_id", "a request id is 1 to 200 printable characters")
        if errors:
            raise InvalidRequest(f"invalid export filter: {len(errors)} error(s)", errors=errors)
        return cls(times["since"], times["until"], team or None, outcome or None, request_id or None)

    @property
    def is_empty(self) -> bool:
        return not (self.since or self.until or self.team or self.outcome or self.request_id)

    @property
    def by_request(self) -> bool:
        """Only events of requests (and of some requests) can match."""
        return bool(self.team or self.outcome)

    def as_dict(self) -> dict[str, str]:
        """The filter as given, normalised (times in the ledger's form): what an export says it holds."""
        out: dict[str, str] = {}
        if self.since:
            out["since"] = ts_key(self.since)
        if self.until:
            out["until"] = ts_key(self.until)
        for name in ("team", "outcome", "request_id"):
            value = getattr(self, name)
            if value:
                out[name] = value
        return out

    def where(self, stmt: Select[Any], *, in_seq_order: bool = False) -> Select[Any]:
        """The filter's conditions. `in_seq_order`: for reading batches by seq, the team, outcome and type terms
        are written so that no index can serve them (coalesce), so the database walks the events in seq order
        and filters as it goes. Otherwise it starts from those indexes and sorts every match for each batch:
        quadratic in a large team's events."""
        team_col = func.coalesce(_REQUESTS.c.team, "") if in_seq_order else _REQUESTS.c.team
        state_col = func.coalesce(_REQUESTS.c.state, "") if in_seq_order else _REQUESTS.c.state
        conds = []
        if self.since:
            conds.append(_EVENTS.c.ts >= ts_key(self.since))
        if self.until:
            conds.append(_EVENTS.c.ts < ts_key(self.until))
        if self.request_id:
            conds.append(_EVENTS.c.request_id == self.request_id)
        if self.team:
            conds.append(team_col == self.team)
        if self.outcome:
            conds.append(state_col == self.outcome)
        return stmt.where(and_(*conds)) if conds else stmt


class RequestInfo(NamedTuple):
    team: str
    state: str
    title: str
    created_at: str | None  # as the database writes it: for ordering requests only
    cost_monthly: float


class Row(NamedTuple):
    """One event as the ledger holds it (`event`, hashes included) and its request as it is now, if any."""

    event: dict[str, Any]
    request: RequestInfo | None


@dataclass(frozen=True)
class Head:
    seq: int
    hash: str


def head(session: Session) -> Head:
    """The chain's head now: an export reads up to it and no further."""
    row = session.connection().execute(select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).first()
    return Head(int(row.seq), str(row.hash)) if row is not None else Head(0, "0" * 64)


def _joined() -> Any:
    return _EVENTS.outerjoin(_REQUESTS, _REQUESTS.c.id == _EVENTS.c.request_id)


def count(session: Session, flt: EventFilter, *, upto: int, types: tuple[str, ...] | None = None) -> int:
    stmt = select(func.count()).select_from(_joined() if flt.by_request else _EVENTS)
    stmt = flt.where(stmt.where(_EVENTS.c.seq <= upto))
    if types is not None:
        stmt = stmt.where(_EVENTS.c.type.in_(types))
    return int(session.connection().execute(stmt).scalar_one())


def count_requests(session: Session, flt: EventFilter, *, upto: int) -> int:
    """How many requests have matching events."""
    stmt = select(func.count(func.distinct(_EVENTS.c.request_id))).select_from(_joined())
    stmt = flt.where(stmt.where(_EVENTS.c.seq <= upto, _EVENTS.c.request_id.is_not(None)))
    return int(session.connection().execute(stmt).scalar_one())


def iter_rows(
    session: Session,
    flt: EventFilter,
    *,
    upto: int,
    with_request: bool = True,
    batch: int = 2000,
    request_id: str | None = None,
    types: tuple[str, ...] | None = None,
    raw_data: bool = False,
) -> Iterator[Row]:
    """Matching events in `seq` order up to `upto`, read `batch` at a time by keyset (constant memory).
    `with_request` joins each event's request (team, state, title); `request_id` narrows to one request and
    `types` to some event types, on top of the filter. With `raw_data`, an event's `data` is the JSON text the
    database holds, not parsed (what an export that only copies it wants)."""
    join = with_request or flt.by_request
    cols = [_EVENTS.c[name] for name in _EVENT_COLUMNS]
    if raw_data:
        cols[_EVENT_COLUMNS.index("data")] = cast(_EVENTS.c.data, Text).label("data")
    if join:
        # created_at as text: it only orders requests, and parsing a datetime per event costs more than the rest.
        cols += [_REQUESTS.c.id, _REQUESTS.c.team, _REQUESTS.c.state, _REQUESTS.c.title,
                 cast(_REQUESTS.c.created_at, String), _REQUESTS.c.cost_monthly]  # fmt: skip
    base = select(*cols).select_from(_joined() if join else _EVENTS)
    base = flt.where(base, in_seq_order=request_id is None and not flt.request_id)
    if request_id is not None:
        base = base.where(_EVENTS.c.request_id == request_id)
    if types is not None:
        base = base.where(func.coalesce(_EVENTS.c.type, "").in_(types))
    conn = session.connection()
    last = 0
    n = len(_EVENT_COLUMNS)
    while True:
        stmt = base.where(_EVENTS.c.seq > last, _EVENTS.c.seq <= upto).order_by(_EVENTS.c.seq).limit(batch)
        rows = conn.execute(stmt).all()
        if not rows:
            return
        for r in rows:
            info = None
            if join and r[n] is not None:
                info = RequestInfo(r[n + 1], r[n + 2], r[n + 3], r[n + 4], r[n + 5] or 0.0)
            yield Row(dict(zip(_EVENT_COLUMNS, r, strict=False)), info)
        last = int(rows[-1][0])
        if len(rows) < batch:
            return
