"""The auditor's report: one streaming pass over the period's events aggregates what the report shows; only
bounded state is kept (counters, the requests still open, the most recent overrides and requests), so a period of
millions of events is reported in constant memory. report_html.py renders it as one self-contained HTML file.

What the figures mean:

- decisions by outcome: the policy decision at submission (and after each amendment), `policy.evaluated`;
- most violated rules: violations in those decisions and in re-checks that stopped a request (dry runs apart);
- approval lead time: from the request starting to wait for approval (`request.pending_approval`) to its
  approval (`request.approved`), once per approval round; rounds whose wait began before the period are counted
  but have no lead time; median and 90th percentile interpolate linearly (Excel's PERCENTILE.INC);
- cost approved: the monthly cost of the decision each request was approved on, once per request, by team;
- trails: the events of the most recent requests (by submission), each request's events within the filter.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import Counter, OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from gateway.ledger import filters
from gateway.ledger.filters import EventFilter, Head, Row, obj

OUTCOMES = ("approved", "pending_approval", "rejected")
CLOSED = frozenset({"request.rejected", "request.expired", "request.cancelled", "execution.succeeded",
                    "execution.failed", "request.retired"})  # fmt: skip
# Lead-time histogram bounds, in seconds.
LEAD_BUCKETS = ((15 * 60, "< 15 min"), (3600, "15\u201360 min"), (4 * 3600, "1\u20134 h"), (24 * 3600, "4\u201324 h"),
                (3 * 86400, "1\u20133 days"), (7 * 86400, "3\u20137 days"), (math.inf, "> 7 days"))  # fmt: skip


def parse_ts(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


class Quantiles:
    """Exact quantiles for up to `cap` values; past that, a log histogram with 1% relative error (constant
    memory whatever the count)."""

    RATIO = math.log(1.01)

    def __init__(self, cap: int = 200_000) -> None:
        self.cap = cap
        self.n = 0
        self.values: array[float] | None = array("d")
        self.hist: Counter[int] = Counter()

    def add(self, v: float) -> None:
        self.n += 1
        if self.values is not None:
            self.values.append(v)
            if len(self.values) > self.cap:
                for x in self.values:
                    self.hist[self._bucket(x)] += 1
                self.values = None
            return
        self.hist[self._bucket(v)] += 1

    @property
    def exact(self) -> bool:
        return self.values is not None

    def _bucket(self, v: float) -> int:
        return -1 if v <= 0.5 else int(math.log(v) / self.RATIO)

    def quantile(self, q: float) -> float | None:
        """Linear interpolation between closest ranks (Hyndman and Fan type 7, Excel's PERCENTILE.INC)."""
        if not self.n:
            return None
        if self.values is not None:
            xs = sorted(self.values)
            pos = (len(xs) - 1) * q
            lo = math.floor(pos)
            hi = min(lo + 1, len(xs) - 1)
            return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)
        rank = q * (self.n - 1)
        seen = 0
        for b in sorted(self.hist):
            seen += self.hist[b]
            if seen > rank:
                return 0.0 if b < 0 else math.exp((b + 0.5) * self.RATIO)
        return None


# Bucket widths for the timeline, finest first: the prefix of the ledger's ts that names a bucket.
LEVELS = (("minute", 16), ("hour", 13), ("day", 10), ("month", 7))
MAX_BUCKETS = 96


def _bucket_start(key: str, level: str) -> datetime:
    pad = {"minute": ":00", "hour": ":00:00", "day": "T00:00:00", "month": "-01T00:00:00"}[level]
    return datetime.fromisoformat(key + pad).replace(tzinfo=UTC)


def _next_bucket(t: datetime, level: str) -> datetime:
    if level == "month":
        return t.replace(year=t.year + (t.month == 12), month=t.month % 12 + 1)
    return t + {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}[level]


def _spanned(first: str, last: str, level: str) -> int:
    a, b = parse_ts(first), parse_ts(last)
    if level == "month":
        return (b.year - a.year) * 12 + b.month - a.month + 1
    step = {"minute": 60, "hour": 3600, "day": 86400}[level]
    return int((b - a).total_seconds() // step) + 2


class Timeline:
    """Counts by outcome per time bucket. The bucket width grows with the span seen (minutes, hours, days,
    months), so there are never more than about MAX_BUCKETS of them."""

    def __init__(self) -> None:
        self.level = 0
        self.counts: dict[str, Counter[str]] = {}
        self.first: str | None = None
        self.last: str | None = None

    def add(self, ts: str, outcome: str) -> None:
        if self.first is None or ts < self.first:
            self.first = ts
        if self.last is None or ts > self.last:
            self.last = ts
        key = ts[: LEVELS[self.level][1]]
        bucket = self.counts.get(key)
        if bucket is None:
            bucket = self.counts[key] = Counter()
            self._coarsen()
            bucket = self.counts[ts[: LEVELS[self.level][1]]]
        bucket[outcome] += 1

    def _coarsen(self) -> None:
        assert self.first is not None and self.last is not None
        level = self.level
        while level < len(LEVELS) - 1 and _spanned(self.first, self.last, LEVELS[level][0]) > MAX_BUCKETS:
            level += 1
        if level == self.level:
            return
        width = LEVELS[level][1]
        merged: dict[str, Counter[str]] = {}
        for key, c in self.counts.items():
            merged.setdefault(key[:width], Counter()).update(c)
        self.counts, self.level = merged, level

    def series(self) -> tuple[str, list[tuple[datetime, Counter[str]]]]:
        """Every bucket from the first to the last, empty ones included, in order."""
        level = LEVELS[self.level][0]
        if not self.counts:
            return level, []
        keys = sorted(self.counts)
        t, end = _bucket_start(keys[0], level), _bucket_start(keys[-1], level)
        out = []
        width = LEVELS[self.level][1]
        while t <= end:
            key = t.strftime("%Y-%m-%dT%H:%M")[:width]
            out.append((t, self.counts.get(key, Counter())))
            t = _next_bucket(t, level)
        return level, out


@dataclass
class OpenRequest:
    """What the pass remembers about a request until it ends: for lead times, costs and overrides."""

    pending_since: str | None = None
    last_outcome: str | None = None
    cost: float | None = None
    rules: tuple[str, ...] = ()
    cost_counted: bool = False
    exemptions: tuple[str, ...] = ()


@dataclass
class ExemptionUse:
    uses: int = 0  # decisions it waived something in (the evaluation, the re-check before execution)
    requests: int = 0
    rules: set[str] = field(default_factory=set)
    teams: set[str] = field(default_factory=set)
    first_ts: str = ""
    last_ts: str = ""
    last_request: str | None = None


@dataclass
class Revision:
    first_ts: str
    last_ts: str
    decisions: int = 0


@dataclass
class Report:
    """Everything the HTML shows, aggregated in one pass. Lists are bounded; `*_total` counts what was cut."""

    flt: EventFilter
    head: Head
    generated_at: str
    max_open: int = 100_000
    max_listed: int = 200
    max_trails: int = 50
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    first_ts: str | None = None
    last_ts: str | None = None
    last_hash: str | None = None
    types: Counter[str] = field(default_factory=Counter)
    decisions: Counter[str] = field(default_factory=Counter)
    timeline: Timeline = field(default_factory=Timeline)
    rules: Counter[tuple[str, str, str]] = field(default_factory=Counter)
    votes: Counter[str] = field(default_factory=Counter)
    overrides: deque[dict[str, Any]] = field(default_factory=deque)
    overrides_total: int = 0
    exemptions: dict[str, ExemptionUse] = field(default_factory=dict)
    exemption_events: deque[dict[str, Any]] = field(default_factory=deque)
    exemption_events_total: int = 0
    exemption_requests: int = 0
    exemption_scope: dict[str, dict[str, Any]] = field(default_factory=dict)
    lead: Quantiles = field(default_factory=Quantiles)
    lead_by_team: dict[str, Quantiles] = field(default_factory=dict)
    lead_hist: Counter[str] = field(default_factory=Counter)
    approvals: Counter[str] = field(default_factory=Counter)  # by_people, automatic, wait_before_period
    cost_by_team: dict[str, float] = field(default_factory=dict)
    approved_by_team: Counter[str] = field(default_factory=Counter)
    currency: str = "USD"
    cloud_errors: int = 0
    revisions: dict[tuple[str, str], Revision] = field(default_factory=dict)
    open: OrderedDict[str, OpenRequest] = field(default_factory=OrderedDict)
    open_evicted: int = 0
    _recent: dict[str, tuple[str, str]] = field(default_factory=dict)
    _recent_heap: list[tuple[tuple[str, str], str]] = field(default_factory=list)

    # -- the pass ------------------------------------------------------------------------------------------
    def add(self, row: Row) -> None:
        ev = row.event
        typ, ts, rid = str(ev["type"]), str(ev["ts"]), ev["request_id"]
        data = obj(ev["data"])
        self.events += 1
        if self.first_seq is None:
            self.first_seq = ev["seq"]
        self.last_seq, self.last_hash = ev["seq"], ev["hash"]
        if self.first_ts is None or ts < self.first_ts:
            self.first_ts = ts
        if self.last_ts is None or ts > self.last_ts:
            self.last_ts = ts
        self.types[typ] += 1
        team = row.request.team if row.request else "—"
        if rid and row.request is not None:
            self._remember(rid, row.request.created_at, ts)
        handler = getattr(self, "_on_" + typ.replace(".", "_"), None)
        if handler is not None:
            handler(ev, data, rid, team, ts, row)
        if rid and typ in CLOSED:
            self.open.pop(rid, None)

    def _state(self, rid: str) -> OpenRequest:
        st = self.open.get(rid)
        if st is None:
            st = self.open[rid] = OpenRequest()
            if len(self.open) > self.max_open:
                self.open.popitem(last=False)
                self.open_evicted += 1
        return st

    def _remember(self, rid: str, created: str | None, ts: str) -> None:
        """Keeps the `max_trails` most recent requests by submission time (a bounded heap)."""
        if rid in self._recent:
            return
        key = (created or ts, rid)
        if len(self._recent_heap) < self.max_trails:
            heapq.heappush(self._recent_heap, (key, rid))
            self._recent[rid] = key
        elif key > self._recent_heap[0][0]:
            _, gone = heapq.heapreplace(self._recent_heap, (key, rid))
            del self._recent[gone]
            self._recent[rid] = key

    def recent_requests(self) -> list[str]:
        """The kept requests, the most recent first."""
        return [rid for _, rid in sorted(self._recent_heap, reverse=True)]

    def _keep(self, items: deque[dict[str, Any]], item: dict[str, Any]) -> None:
        items.append(item)
        if len(items) > self.max_listed:
            items.popleft()

    def _count_violations(self, decision: dict[str, Any]) -> tuple[str, ...]:
        keys = []
        for v in decision.get("violations") or []:
            if isinstance(v, dict):
                self.rules[(str(v.get("set")), str(v.get("rule")), str(v.get("enforcement")))] += 1
                keys.append(f"{v.get('set')}/{v.get('rule')}")
        return tuple(keys[:20])

    def _on_policy_evaluated(self, ev: dict[str, Any], data: dict[str, Any], rid: str | None, team: str,
                             ts: str, row: Row) -> None:  # fmt: skip
        decision = obj(data.get("decision"))
        outcome = str(decision.get("outcome"))
        self.decisions[outcome] += 1
        self.timeline.add(ts, outcome)
        rules = self._count_violations(decision)
        cost = obj(decision.get("cost"))
        if cost.get("currency"):
            self.currency = str(cost["currency"])
        opa = obj(data.get("opa"))
        for name, b in (opa.get("bundles") or {}).items():
            rev = str((b or {}).get("revision"))
            r = self.revisions.get((name, rev))
            if r is None and len(self.revisions) < 4 * self.max_listed:
                r = self.revisions[(name, rev)] = Revision(ts, ts)
            if r is not None:
                r.last_ts, r.decisions = max(r.last_ts, ts), r.decisions + 1
        if rid:
            st = self._state(rid)
            st.last_outcome, st.rules = outcome, rules
            if isinstance(cost.get("monthly"), int | float):
                st.cost = float(cost["monthly"])

    def _on_policy_rechecked(self, ev: dict[str, Any], data: dict[str, Any], rid: str | None, team: str,
                             ts: str, row: Row) -> None:  # fmt: skip
        decision = obj(data.get("decision"))
        if data.get("stopped") and decision:
            self.types["policy.rechecked (stopped)"] += 1
            rules = self._count_violations(decision)
            if rid:
                st = self._state(rid)
                st.rules = rules
                cost = obj(decision.get("cost"))
                if isinstance(cost.get("monthly"), int | float):
                    st.cost = float(cost["monthly"])

    def _on_request_pending_approval(self, ev: dict[str, Any], data: dict[str, Any], rid: str | None, team: str,
                                     ts: str, row: Row) -> None:  # fmt: skip
        if rid:
            st = self._state(rid)
            if st.pending_since is None:
                st.pending_since = ts

    def _on_request_approved(self, ev: dict[str, Any], data: dict[str, Any], rid: str | None, team: str,
                             ts: str, row: Row) -> None:  # fmt: skip
        if not rid:
            return
        st = self._state(rid)
        if st.pending_since is not None:
            secs = max(0.0, (parse_ts(ts) - parse_ts(st.pending_since)).total_seconds())
            self.approvals["by_people"] += 1
            self.lead.add(secs)
            self.lead_by_team.setdefault(team, Quantiles(cap=self.lead.cap)).add(secs)
            self.lead_hist[next(label for bound, label in LEAD_BUCKETS if secs < bound)] += 1
            st.pending_since = None
        elif st.last_outcome == "approved":
            self.approvals["automatic"] += 1
        else:
            self.approvals["wait_before_period"] += 1
        if not st.cost_counted:
            st.cost_counted = True
            cost = st.cost if st.cost is not None else (row.request.cost_monthly if row.request else 0.0)
            self.cost_by_team[team] = self.cost_by_team.get(team, 0.0) + cost
            self.approved_by_team[team] += 1

    def _on_approval_recorded(self, ev: dict[str, Any], data: dict[str, Any], rid: str | None, team: str,
                              ts: str, row: Row) -> None:  # fmt: skip
        self.votes[str(data.get("verdict"))] += 1
        if data.get("override") and data.get("verdict") == "approve":
            self.overrides_total += 1
            st = self.open.get(rid) if rid else None
            self._keep(self.overrides, {
                "ts": ts, "request_id": rid, "team": team, "approver": ev["actor"],
                "groups": data.get("groups") or [], "verdict": data.get("verdict"),
                "justification": data.get("comment") or "", "rules": list(st.rules) if st else [],
                "title": row.request.title if row.request else "",
            })  # fmt: skip

    def _on_exemption_used(self, ev: dict[str, Any], data: dict[str, Any], rid: str | None, team: str,
                           ts: str, row: Row) -> None:  # fmt: skip
        eid = str(data.get("exemption_id") or "?")
        use = self.exemptions.get(eid)
        if use is None:
            if len(self.exemptions) >= self.max_listed:
                use = self.exemptions.setdefault("(others)", ExemptionUse(first_ts=ts))
            else:
                use = self.exemptions[eid] = ExemptionUse(first_ts=ts)
        use.uses += 1
        use.last_ts, use.last_request = ts, rid
        st = self._state(rid) if rid else None
        if st is None or eid not in st.exemptions:
            use.requests += 1
            self.exemption_requests += 1
            if st is not None:
                st.exemptions += (eid,)
        if len(use.teams) < 20:
            use.teams.add(team)
        for w in data.get("waived") or []:
            if isinstance(w, dict) and len(use.rules) < 20:
                use.rules.add(f"{w.get('set')}/{w.get('rule')}")

    def _exemption_event(self, ev: dict[str, Any], data: dict[str, Any], ts: str) -> None:
        self.exemption_events_total += 1
        eid = str(data.get("id"))
        scope = self.exemption_scope.get(eid, {})
        if ev["type"] == "exemption.requested" and len(self.exemption_scope) < self.max_listed:
            scope = self.exemption_scope[eid] = {"rule": data.get("rule"), "team": data.get("team")}
        self._keep(self.exemption_events, {
            "ts": ts, "type": ev["type"].split(".", 1)[1], "actor": ev["actor"],
            "id": data.get("id"), "rule": data.get("rule") or scope.get("rule"),
            "team": data.get("team") or scope.get("team"),
            "reason": data.get("reason") or data.get("comment") or "", "ticket": data.get("ticket"),
            "expires_at": data.get("expires_at"),
        })  # fmt: skip

    def _on_exemption_requested(self, ev: dict[str, Any], data: dict[str, Any], rid: str | None, team: str,
                                ts: str, row: Row) -> None:  # fmt: skip
        self._exemption_event(ev, data, ts)

    _on_exemption_approved = _on_exemption_requested
    _on_exemption_rejected = _on_exemption_requested
    _on_exemption_revoked = _on_exemption_requested

    def _on_cloud_call(self, ev: dict[str, Any], data: dict[str, Any], rid: str | None, team: str,
                       ts: str, row: Row) -> None:  # fmt: skip
        status = data.get("http_status")
        if data.get("error") or (isinstance(status, int) and status >= 400):
            self.cloud_errors += 1

    # -- figures -------------------------------------------------------------------------------------------
    @property
    def cost_total(self) -> float:
        return float(sum(self.cost_by_team.values()))

    def period(self) -> tuple[str | None, str | None]:
        since = filters.ts_key(self.flt.since) if self.flt.since else self.first_ts
        until = filters.ts_key(self.flt.until) if self.flt.until else self.last_ts
        return since, until

    def top_rules(self, n: int = 10) -> list[tuple[tuple[str, str, str], int]]:
        return sorted(self.rules.items(), key=lambda kv: (-kv[1], kv[0]))[:n]

    def lead_hist_series(self) -> list[tuple[str, int]]:
        return [(label, self.lead_hist.get(label, 0)) for _, label in LEAD_BUCKETS]


def build(
    session: Session, flt: EventFilter, head: Head, *, generated_at: str, max_trails: int = 50
) -> Report:
    report = Report(flt=flt, head=head, generated_at=generated_at, max_trails=max_trails)
    for row in filters.iter_rows(session, flt, upto=head.seq, with_request=True):
        report.add(row)
    return report


def trails(
    session: Session, report: Report, *, max_events: int = 100
) -> Iterator[tuple[str, list[Row], int]]:
    """For each kept request, the most recent first: its events within the filter (at most `max_events`, the
    first ones) and how many it has in all."""
    for rid in report.recent_requests():
        rows: list[Row] = []
        total = 0
        for row in filters.iter_rows(session, report.flt, upto=report.head.seq, request_id=rid, batch=500):
            total += 1
            if len(rows) < max_events:
                rows.append(row)
        yield rid, rows, total
