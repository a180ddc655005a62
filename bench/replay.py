"""Policy replay throughput: `govgate policy replay`'s engine against a bare OPA batch query, same inputs.

Builds N stored requests (the mix bench/decision.py sends) as the gateway stores them: the input each was
decided on and OPA's answer per set with the bundle revisions. Then, in one run:
  replay, one set changed     a draft that adds a rule to security (the usual pull request): security is
                              evaluated on both sides, cost and compliance come from the stored answers
  replay, shared data changed a draft that edits policies/data: nothing can be reused, every set is evaluated
                              on both sides
  bare OPA batch              the same inputs POSTed to one OPA's data.gateway_entry.batch with every set,
                              answers discarded: what OPA alone costs to evaluate everything once
Each replay is the whole impact analysis (two real OPAs, answers folded into decisions, compared, aggregated).
Target: replay of the usual change >= 2,000 requests/s.

    .venv/bin/python bench/replay.py [-n 5000] [--batch 250]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.decision import bodies  # noqa: E402
from gateway.app import policy_engine  # noqa: E402
from gateway.domain.cost import default_catalog  # noqa: E402
from gateway.domain.entry import BATCH_PATH  # noqa: E402
from gateway.domain.identity import Principal, Role  # noqa: E402
from gateway.domain.plan import PlanContext, build_input  # noqa: E402
from gateway.domain.profiles import wrap  # noqa: E402
from gateway.pipeline.replay import Engine, StoredInput, replay  # noqa: E402

DRAFT_RULE = """package gateway.security

# METADATA
# title: Draft rule for the benchmark
# custom:
#   id: bench_no_m5
#   severity: low
#   remediation: use another family
deny contains {"rule": "bench_no_m5", "msg": "m5 retired", "address": rc.address} if {
	some rc in input.resource_changes
	startswith(object.get(rc.change.after, "instance_type", ""), "m5.")
}
"""


def stored(items: list[StoredInput], engine: Engine, batch: int) -> list[StoredInput]:
    """What the gateway keeps for each decided request: OPA's raw answer and the revisions that gave it."""
    every = [s.name for s in engine.source.sets]
    out = []
    for i in range(0, len(items), batch):
        chunk = items[i : i + batch]
        answers = engine.evaluator.evaluate_batch(
            engine.source, [it.input for it in chunk], [every] * len(chunk)
        )
        out += [
            StoredInput(it.request_id, it.input, a["sets"], a["revisions"])
            for it, a in zip(chunk, answers, strict=True)
        ]
    return out


def inputs(n: int) -> list[StoredInput]:
    who = Principal("bench", Role.REQUESTER, ("payments",))
    out = []
    for i, body in enumerate(bodies(n)):
        ctx = PlanContext(
            request_id=f"bench-{i}", requester=who, submitted_at="2026-11-27T00:00:00Z",
            now="2026-11-27T00:00:00Z", catalog=default_catalog(), budget_monthly=5000.0,
        )  # fmt: skip
        out.append(StoredInput(f"bench-{i}", build_input(body, ctx)))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=5000, help="stored requests to replay (default 5000)")
    ap.add_argument("--batch", type=int, default=250, help="inputs per OPA call (default 250)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="govgate-replay-bench-") as tmp_name:
        tmp = Path(tmp_name)
        rule_dir, data_dir = tmp / "draft-rule", tmp / "draft-data"
        shutil.copytree(ROOT / "policies", rule_dir)
        (rule_dir / "security" / "bench_draft.rego").write_text(DRAFT_RULE)
        shutil.copytree(ROOT / "policies", data_dir)
        budgets = data_dir / "data" / "teams.json"
        budgets.write_text(budgets.read_text().replace("5000", "4000"))
        before = policy_engine(ROOT / "policies", tmp / "baseline")
        engines = [before]
        try:
            items = stored(inputs(args.n), before, args.batch)
            results = []
            for label, draft_dir in (
                ("replay, one set changed", rule_dir),
                ("replay, shared data changed", data_dir),
            ):
                after = policy_engine(draft_dir, tmp / label.replace(" ", "-").replace(",", ""))
                engines.append(after)
                replay(items[: args.batch], before, after, batch=args.batch)  # warm-up
                t0 = time.perf_counter()
                report = replay(items, before, after, batch=args.batch)
                results.append((label, time.perf_counter() - t0, len(report.changes)))

            src = before.source
            url = before.evaluator.opa.url + "/v1/data/" + BATCH_PATH
            every = [s.name for s in src.sets]
            chunks = []
            for i in range(0, len(items), args.batch):
                part = [{**wrap(it.input, src.profiles), "only": every} for it in items[i : i + args.batch]]
                chunks.append(orjson.dumps({"input": {"batch": part}}))
            with httpx.Client(timeout=120) as http:
                http.post(url, content=chunks[0])
                t0 = time.perf_counter()
                for c in chunks:
                    http.post(url, content=c).raise_for_status()
                results.append(("bare OPA batch (one side)", time.perf_counter() - t0, 0))
        finally:
            for e in engines:
                e.close()

    print(f"N={args.n} stored requests, {args.batch} per OPA call")
    print(f"{'':30} {'requests/s':>11} {'seconds':>8} {'changed':>8}")
    for label, secs, changed in results:
        print(f"{label:30} {args.n / secs:11.0f} {secs:8.2f} {changed:8}")
    print(f"\nreplay of a one-set change: {args.n / results[0][1]:.0f} requests/s (target >= 2000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
