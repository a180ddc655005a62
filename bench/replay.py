"""Policy replay throughput: `govgate policy replay`'s engine against a bare OPA batch query, same inputs.

Builds N stored-request inputs (the mix bench/decision.py sends), then measures in one run:
  replay   the whole impact analysis: every input evaluated on the current policies and on a draft (two real
           OPAs, batched), each answer folded into a decision, the two compared and aggregated
  bare     the same batches POSTed to one OPA's data.gateway_entry.batch with every set, answers discarded
           (what OPA alone costs to evaluate everything once, on one side)
and prints requests per second for each (target: replay >= 2,000 requests/s).

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
from gateway.pipeline.replay import StoredInput, replay  # noqa: E402

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
    items = inputs(args.n)
    with tempfile.TemporaryDirectory(prefix="govgate-replay-bench-") as tmp_name:
        tmp = Path(tmp_name)
        draft_dir = tmp / "draft"
        shutil.copytree(ROOT / "policies", draft_dir)
        (draft_dir / "security" / "bench_draft.rego").write_text(DRAFT_RULE)
        before = policy_engine(ROOT / "policies", tmp / "baseline")
        after = policy_engine(draft_dir, tmp / "draft-opa")
        try:
            replay(items[: args.batch], before, after, batch=args.batch)  # warm-up
            t0 = time.perf_counter()
            report = replay(items, before, after, batch=args.batch)
            replay_s = time.perf_counter() - t0

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
                bare_s = time.perf_counter() - t0
        finally:
            before.close()
            after.close()

    print(
        f"N={args.n} stored requests, {args.batch} per OPA call; {len(report.changes)} change under the draft"
    )
    print(f"{'':28} {'requests/s':>12} {'seconds':>9}")
    print(f"{'replay (two OPAs, compared)':28} {args.n / replay_s:12.0f} {replay_s:9.2f}")
    print(f"{'bare OPA batch (one side)':28} {args.n / bare_s:12.0f} {bare_s:9.2f}")
    print(f"\nreplay: {args.n / replay_s:.0f} requests/s (target >= 2000)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
