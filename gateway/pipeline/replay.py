"""Impact analysis: stored past requests evaluated against the current policies and a draft, side by side.

Both sides are real OPAs started for the replay and fed the same stored input documents (the exact input each
request was decided on, from the ledger), many per call. Exemptions are those in force now: an expired one never
applies, so a replay never credits a waiver that no longer exists.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlmodel import col, select

from gateway.adapters.policy_source import PolicySource
from gateway.adapters.store import repositories as repo
from gateway.adapters.store.db import Database
from gateway.adapters.store.models import LedgerEvent
from gateway.domain.decision import Decision
from gateway.domain.exemptions import in_force, relevant
from gateway.pipeline.evaluate import Evaluator, fold
from gateway.pipeline.exemptions import record_of

BATCH = 250


@dataclass(frozen=True)
class StoredInput:
    """A past request as it was decided: its input, and OPA's raw answer per set with the bundle revisions
    that gave it (None when unknown), so a set the draft does not change need not be evaluated again."""

    request_id: str
    input: dict[str, Any]
    result: dict[str, Any] | None = None
    revisions: dict[str, str] | None = None


def stored_inputs(db: Database, since: datetime | None = None) -> list[StoredInput]:
    """The latest input each request was evaluated on (policy.evaluated events), oldest request first."""
    latest: dict[str, StoredInput] = {}
    stamp = since.astimezone(UTC).isoformat().replace("+00:00", "Z") if since else ""
    last = 0
    with db.read() as s:
        while True:
            stmt = (
                select(LedgerEvent.seq, LedgerEvent.request_id, LedgerEvent.data)
                .where(LedgerEvent.type == "policy.evaluated", col(LedgerEvent.seq) > last)
                .order_by(col(LedgerEvent.seq))
                .limit(1000)
            )
            rows = s.exec(stmt).all()
            if not rows:
                break
            for seq, rid, data in rows:
                last = seq
                opa = data.get("opa") or {}
                doc = opa.get("input")
                if rid and doc and doc["request"].get("submitted_at", "") >= stamp:
                    latest.pop(rid, None)
                    revisions = {k: v.get("revision") for k, v in (opa.get("bundles") or {}).items()}
                    latest[rid] = StoredInput(rid, doc, opa.get("result"), revisions)
    return list(latest.values())


def write_inputs(items: Iterable[StoredInput], path: Path) -> int:
    """JSON lines a policy repository can keep and replay in its own CI (`policy replay --requests`)."""
    n = 0
    with path.open("w") as f:
        for it in items:
            row = {
                "request_id": it.request_id,
                "input": it.input,
                "result": it.result,
                "revisions": it.revisions,
            }
            f.write(json.dumps(row, sort_keys=True) + "\n")
            n += 1
    return n


def read_inputs(path: Path) -> list[StoredInput]:
    out = []
    with path.open() as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                out.append(
                    StoredInput(row["request_id"], row["input"], row.get("result"), row.get("revisions"))
                )
    return out


@dataclass
class Engine:
    """One side of a replay: a policy directory loaded into its own temporary OPA (built by gateway.app)."""

    source: PolicySource
    evaluator: Evaluator
    close: Callable[[], None]


@dataclass
class Change:
    request_id: str
    title: str
    team: str
    environment: str
    before: str
    after: str
    cost_monthly: float
    new_violations: list[str]
    vanished_violations: list[str]
    new_approvals: list[str]
    dropped_approvals: list[str]


@dataclass
class Report:
    baseline: dict[str, str]
    draft: dict[str, str]
    total: int = 0
    outcomes_before: Counter[str] = field(default_factory=Counter)
    outcomes_after: Counter[str] = field(default_factory=Counter)
    flips: Counter[str] = field(default_factory=Counter)
    rules_new: Counter[str] = field(default_factory=Counter)
    rules_vanished: Counter[str] = field(default_factory=Counter)
    approved_cost_before: float = 0.0
    approved_cost_after: float = 0.0
    changes: list[Change] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "baseline_revisions": self.baseline,
            "draft_revisions": self.draft,
            "total": self.total,
            "changed": len(self.changes),
            "outcomes": {"before": dict(self.outcomes_before), "after": dict(self.outcomes_after)},
            "flips": dict(self.flips),
            "violations_by_rule": {"new": dict(self.rules_new), "vanished": dict(self.rules_vanished)},
            "approved_cost_monthly": {
                "before": round(self.approved_cost_before, 2),
                "after": round(self.approved_cost_after, 2),
                "change": round(self.approved_cost_after - self.approved_cost_before, 2),
            },
            "requests": [c.__dict__ for c in self.changes],
        }


def _violations(d: Decision) -> set[str]:
    return {f"{v.set}/{v.rule} @ {v.address or 'request'}" for v in d.violations}


def _approvals(d: Decision) -> set[str]:
    return {f"{a.group} x{a.count}" for a in d.required_approvals}


def compare(report: Report, item: StoredInput, before: Decision, after: Decision) -> None:
    req = item.input["request"]
    cost = float(item.input["cost"]["monthly"])
    report.total += 1
    report.outcomes_before[before.outcome] += 1
    report.outcomes_after[after.outcome] += 1
    report.approved_cost_before += cost if before.outcome == "approved" else 0.0
    report.approved_cost_after += cost if after.outcome == "approved" else 0.0
    vb, va = _violations(before), _violations(after)
    for key in va - vb:
        report.rules_new[key.split(" @ ")[0]] += 1
    for key in vb - va:
        report.rules_vanished[key.split(" @ ")[0]] += 1
    ab, aa = _approvals(before), _approvals(after)
    if before.outcome == after.outcome and vb == va and ab == aa:
        return
    report.flips[f"{before.outcome} -> {after.outcome}"] += 1
    report.changes.append(
        Change(
            request_id=item.request_id, title=req.get("title", ""), team=req.get("team", ""),
            environment=req.get("environment", ""), before=before.outcome, after=after.outcome,
            cost_monthly=cost, new_violations=sorted(va - vb), vanished_violations=sorted(vb - va),
            new_approvals=sorted(aa - ab), dropped_approvals=sorted(ab - aa),
        )
    )  # fmt: skip


def _with_exemptions(item: StoredInput, exemptions: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    req = item.input["request"]
    mine = [e for e in exemptions if relevant(e, req["team"], req["environment"]) and in_force(e, now)]
    return {**item.input, "exemptions": mine}


def _batches(items: list[StoredInput], size: int) -> Iterator[list[StoredInput]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


@dataclass(frozen=True)
class Plan:
    """Which sets each side must evaluate. A set whose definition, bundle and shared bundles are the same on
    both sides gives the same answer to the same input, so it is evaluated once and its answer used twice."""

    shared: list[str]
    baseline_only: list[str]
    draft_only: list[str]


def plan(baseline: PolicySource, draft: PolicySource) -> Plan:
    def key(src: PolicySource, name: str) -> tuple[Any, ...]:
        ps = next(s for s in src.sets if s.name == name)
        shared = tuple(src.revisions.get(b) for b in ("lib", "data"))
        return (ps.model_dump(), src.revisions[ps.bundle], shared)

    names_b = [s.name for s in baseline.sets]
    names_d = [s.name for s in draft.sets]
    shared = [n for n in names_b if n in names_d and key(baseline, n) == key(draft, n)]
    return Plan(
        shared=shared,
        baseline_only=[n for n in names_b if n not in shared],
        draft_only=[n for n in names_d if n not in shared],
    )


def _stored_answers(
    it: StoredInput, doc: dict[str, Any], src: PolicySource, names: list[str]
) -> dict[str, Any]:
    """The shared sets whose stored answer still holds: same entry policy, lib, data and set bundle revisions as
    the current policies, and the same exemptions in the input."""
    if it.result is None or it.revisions is None or it.input.get("exemptions", []) != doc["exemptions"]:
        return {}
    if any(it.revisions.get(k) != src.revisions.get(k) for k in ("gateway-entry", "lib", "data")):
        return {}
    bundle = {s.name: s.bundle for s in src.sets}
    return {
        n: it.result[n]
        for n in names
        if n in it.result and it.revisions.get(bundle[n]) == src.revisions[bundle[n]]
    }


def replay(
    items: list[StoredInput],
    baseline: Engine,
    draft: Engine,
    *,
    exemptions: list[dict[str, Any]] | None = None,
    progress: Callable[[int], None] | None = None,
    batch: int = BATCH,
) -> Report:
    """Evaluates every item on both engines and compares the decisions.

    A stored answer is used wherever it still holds (the request was decided under the current revisions), so
    often only the draft's changed sets are evaluated; a set the draft does not change is evaluated at most
    once (on alternate sides, batch by batch). Batches go to both OPAs at once and
    the next is in flight while this one is folded, so both OPAs and the folding keep the cores busy.
    """
    now = datetime.now(UTC)
    report = Report(baseline=baseline.source.revisions, draft=draft.source.revisions)
    p = plan(baseline.source, draft.source)
    on_baseline = p.shared + p.baseline_only
    same_definitions = _same_definitions(baseline.source, draft.source)

    def evaluate(
        pool: ThreadPoolExecutor, engine: Engine, docs: list[dict[str, Any]], only: list[list[str]]
    ) -> Any:
        picked = [i for i, o in enumerate(only) if o]
        fut = pool.submit(engine.evaluator.evaluate_batch, engine.source, [docs[i] for i in picked],
                          [only[i] for i in picked])  # fmt: skip
        return picked, fut

    def submit(pool: ThreadPoolExecutor, n: int, chunk: list[StoredInput]) -> tuple[Any, ...]:
        docs = [_with_exemptions(it, exemptions or [], now) for it in chunk]
        stored = [
            _stored_answers(it, doc, baseline.source, on_baseline)
            for it, doc in zip(chunk, docs, strict=True)
        ]
        only_b, only_d = [], []
        for st in stored:
            shared = [s for s in p.shared if s not in st]
            only_b.append([s for s in p.baseline_only if s not in st] + (shared if n % 2 == 0 else []))
            only_d.append(p.draft_only + (shared if n % 2 == 1 else []))
        return (
            chunk,
            docs,
            stored,
            evaluate(pool, baseline, docs, only_b),
            evaluate(pool, draft, docs, only_d),
        )

    def answers(side: tuple[list[int], Any], n: int) -> list[dict[str, Any]]:
        picked, fut = side
        out: list[dict[str, Any]] = [{} for _ in range(n)]
        for i, a in zip(picked, fut.result(), strict=True):
            out[i] = a["sets"]
        return out

    def fold_round(chunk: list[StoredInput], docs: list[dict[str, Any]], stored: list[dict[str, Any]],
                   side_b: Any, side_d: Any) -> None:  # fmt: skip
        sets_b, sets_d = answers(side_b, len(chunk)), answers(side_d, len(chunk))
        for it, doc, st, sb, sd in zip(chunk, docs, stored, sets_b, sets_d, strict=True):
            known_b = {**st, **sb}
            shared = {n: known_b[n] if n in known_b else sd[n] for n in p.shared}
            full_b = {**shared, **{n: known_b.get(n) for n in p.baseline_only}}
            full_d = {**shared, **{n: sd.get(n) for n in p.draft_only}}
            before = fold(baseline.source, {"sets": full_b, "revisions": baseline.source.revisions}, doc, None,
                          doc["exemptions"])  # fmt: skip
            if same_definitions and full_b == full_d:
                after = before  # the same answers under the same set definitions: the same decision
            else:
                after = fold(draft.source, {"sets": full_d, "revisions": draft.source.revisions}, doc, None,
                             doc["exemptions"])  # fmt: skip
            compare(report, it, before, after)
        if progress:
            progress(len(chunk))

    with ThreadPoolExecutor(max_workers=4) as pool:
        pending: tuple[Any, ...] | None = None
        for n, chunk in enumerate(_batches(items, batch)):
            ahead = submit(pool, n, chunk)
            if pending:
                fold_round(*pending)
            pending = ahead
        if pending:
            fold_round(*pending)
    return report


def _same_definitions(a: PolicySource, b: PolicySource) -> bool:
    return [s.model_dump() for s in a.sets] == [s.model_dump() for s in b.sets]


def active_exemptions(db: Database) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    with db.read() as s:
        rows = repo.list_exemptions(s, status="active", limit=100_000)
    return [r for r in map(record_of, rows) if in_force(r, now)]
