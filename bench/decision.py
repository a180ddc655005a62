"""Decision throughput and latency: the gateway's HTTP API against the same inputs sent straight to OPA.

Starts one real OPA (loopback) and a real gateway process (`govgate serve`) that uses it, then sends the same N
requests with C concurrent clients two ways:
  gateway  POST /v1/evaluate  (auth, schema validation, plan, one OPA query over all policy sets, one durable
           audit event, JSON reply)
  opa      POST /v1/data/gateway_entry/decision with the OPA input the gateway builds for each request
and prints throughput, p50/p99 latency and the gateway/OPA ratio. The load comes from bench/loadgen (a small Go
program, built into .cache/bin on first use) so that the client takes little of the two cores from what it
measures.

    .venv/bin/python bench/decision.py [-n 2000] [-c 16] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.adapters.bundle_server import BundleServer  # noqa: E402
from gateway.adapters.opa_process import LocalOpa, free_port  # noqa: E402
from gateway.adapters.policy_source import load_policy_source  # noqa: E402
from gateway.domain.clock import rfc3339  # noqa: E402
from gateway.domain.cost import default_catalog  # noqa: E402
from gateway.domain.entry import DECISION_PATH  # noqa: E402
from gateway.domain.identity import Principal, Role  # noqa: E402
from gateway.domain.plan import PlanContext, build_input  # noqa: E402
from gateway.domain.profiles import wrap  # noqa: E402
from tests.factories import bucket, expensive, instance, request, security_group  # noqa: E402

LOADGEN = ROOT / ".cache" / "bin" / "govgate-loadgen"


def bodies(n: int) -> list[dict[str, Any]]:
    """A mix a gateway sees: clean small changes, a rejected one, one for finance, multi-resource ones."""
    templates = [
        lambda i: request(instance(f"web-{i}")),
        lambda i: request(instance(f"app-{i}"), bucket(f"b{i}"), security_group(f"sg{i}")),
        lambda i: request(security_group(f"ssh{i}", port=22)),
        lambda i: expensive(3),
        lambda i: _tomorrow(request(instance(f"p{i}", region="eu-central-1"), env="prod")),
    ]
    return [templates[i % len(templates)](i) for i in range(n)]


def _tomorrow(body: dict[str, Any]) -> dict[str, Any]:
    """A production change window that is not over, whenever the benchmark runs."""
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    body["change"]["window"] = {"start": rfc3339(start), "end": rfc3339(start + timedelta(hours=4))}
    return body


def opa_inputs(docs: list[dict[str, Any]], policy_dir: Path) -> list[bytes]:
    src = load_policy_source(policy_dir)
    who = Principal("bench", Role.REQUESTER, ())
    out = []
    for i, d in enumerate(docs):
        ctx = PlanContext(
            request_id=f"bench-{i}", requester=who, submitted_at="2026-11-27T00:00:00Z",
            now="2026-11-27T00:00:00Z", catalog=default_catalog(), budget_monthly=src.budget_for(d["team"]),
        )  # fmt: skip
        out.append(orjson.dumps({"input": wrap(build_input(d, ctx), src.profiles)}))
    return out


def build_loadgen() -> None:
    src = ROOT / "bench" / "loadgen"
    if not LOADGEN.exists() or LOADGEN.stat().st_mtime < (src / "main.go").stat().st_mtime:
        print("building bench/loadgen…", flush=True)
        subprocess.run(["go", "build", "-o", str(LOADGEN), "."], cwd=src, check=True)


def load(url: str, docs: list[bytes], concurrency: int, headers: list[str], tmp: Path) -> dict[str, Any]:
    path = tmp / "bodies.jsonl"
    path.write_bytes(b"\n".join(docs) + b"\n")
    cmd = [str(LOADGEN), "-url", url, "-bodies", str(path), "-c", str(concurrency)]
    for h in headers:
        cmd += ["-H", h]
    result: dict[str, Any] = json.loads(
        subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    )
    if result["not_ok"]:
        raise SystemExit(f"{result['not_ok']} responses from {url} were not 200")
    return result


def wait_ready(url: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and server.poll() is None:
        try:
            if httpx.get(url + "/readyz").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit("the gateway did not become ready")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="requests per side (default 2000)")
    ap.add_argument("-c", type=int, default=16, help="concurrent clients (default 16)")
    ap.add_argument("--workers", type=int, default=1, help="gateway worker processes (default 1)")
    args = ap.parse_args()
    build_loadgen()

    policy_dir = ROOT / "policies"
    src = load_policy_source(policy_dir)
    docs = bodies(args.n)
    with tempfile.TemporaryDirectory(prefix="govgate-bench-") as tmp_name:
        tmp = Path(tmp_name)
        bundles = BundleServer()
        bundles.publish(src.bundles)
        opa = LocalOpa(bundles.url, tmp)
        opa.start(revisions=src.revisions)
        port = free_port()
        env = {**os.environ, "GATEWAY_DATA_DIR": tmp_name, "GATEWAY_OPA_URL": opa.url,
               "GATEWAY_POLICY_DIR": str(policy_dir)}  # fmt: skip
        env.pop("GATEWAY_DATABASE_URL", None)
        govgate = str(ROOT / ".venv" / "bin" / "govgate")
        created = subprocess.run([govgate, "tokens", "create", "bench", "--role", "requester", "--group", "payments"],
                                 env=env, capture_output=True, text=True, check=True)  # fmt: skip
        auth = [f"Authorization: Bearer {created.stdout.strip().splitlines()[-1]}"]
        server = subprocess.Popen(
            [govgate, "serve", "--port", str(port), "--workers", str(args.workers), "--log-level", "warning"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, server)
            print(
                f"N={args.n} requests per side, {args.c} concurrent clients, gateway workers={args.workers}"
            )
            gw_docs = [orjson.dumps(d) for d in docs]
            opa_docs = opa_inputs(docs, policy_dir)
            load(url + "/v1/evaluate", gw_docs[:200], args.c, auth, tmp)  # warm-up
            print("sending through the gateway (POST /v1/evaluate)…", flush=True)
            gw = load(url + "/v1/evaluate", gw_docs, args.c, auth, tmp)
            print("sending the same inputs straight to OPA (one query per decision)…", flush=True)
            load(f"{opa.url}/v1/data/{DECISION_PATH}", opa_docs[:200], args.c, [], tmp)
            op = load(f"{opa.url}/v1/data/{DECISION_PATH}", opa_docs, args.c, [], tmp)
        finally:
            server.terminate()
            server.wait(timeout=10)
            opa.stop()
            bundles.close()

    print()
    print(f"{'':10} {'decisions/s':>12} {'p50 ms':>8} {'p99 ms':>8}")
    for name, r in (("gateway", gw), ("opa", op)):
        print(f"{name:10} {r['rps']:12.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f}")
    print(f"\nratio gateway/OPA throughput: {gw['rps'] / op['rps']:.2f} (target >= 0.25); "
          f"gateway p99 {gw['p99_ms']:.1f} ms (target <= 50)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
