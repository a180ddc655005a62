"""Decision throughput and latency: the gateway's HTTP API against the same inputs sent straight to OPA.

Starts one real OPA (loopback), a real gateway process (`govgate serve`) that uses it, then sends the same N
requests with C concurrent clients two ways:
  gateway  POST /v1/evaluate  (schema validation, plan, three policy-set queries, one audit event, JSON reply)
  opa      the three policy-set queries per request, with the OPA input the gateway builds for it
and prints throughput, p50/p99 latency and the gateway/OPA ratio.

    .venv/bin/python bench/decision.py [-n 2000] [-c 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.adapters.opa_process import LocalOpa, free_port  # noqa: E402
from gateway.adapters.policy_source import load_policy_source  # noqa: E402
from gateway.domain.cost import default_catalog  # noqa: E402
from gateway.domain.identity import Principal, Role  # noqa: E402
from gateway.domain.plan import PlanContext, build_input  # noqa: E402
from tests.factories import bucket, expensive, instance, request, security_group  # noqa: E402


def bodies(n: int) -> list[dict[str, Any]]:
    """A mix a gateway sees: clean small changes, a rejected one, one for finance, multi-resource ones."""
    templates = [
        lambda i: request(instance(f"web-{i}")),
        lambda i: request(instance(f"app-{i}"), bucket(f"b{i}"), security_group(f"sg{i}")),
        lambda i: request(security_group(f"ssh{i}", port=22)),
        lambda i: expensive(3),
        lambda i: request(instance(f"p{i}", region="eu-central-1"), env="prod"),
    ]
    return [templates[i % len(templates)](i) for i in range(n)]


def pct(values: list[float], p: float) -> float:
    return statistics.quantiles(values, n=1000)[int(p * 10) - 1] if len(values) > 1 else values[0]


async def drive(n: int, concurrency: int, send: Any) -> tuple[float, list[float]]:
    latencies: list[float] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while not queue.empty():
            i = queue.get_nowait()
            t0 = time.perf_counter()
            await send(i)
            latencies.append((time.perf_counter() - t0) * 1000)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - t0, latencies


async def bench_gateway(url: str, token: str, docs: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, headers=headers, timeout=30) as client:

        async def send(i: int) -> None:
            r = await client.post("/v1/evaluate", content=docs[i])
            if r.status_code != 200:
                raise SystemExit(f"gateway answered {r.status_code}: {r.text[:300]}")

        for i in range(min(50, len(docs))):  # warm-up
            await send(i)
        return await drive(len(docs), concurrency, send)


async def bench_opa(url: str, paths: list[str], inputs: list[bytes], concurrency: int) -> tuple[float, list[float]]:
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Content-Type": "application/json"}
    async with httpx.AsyncClient(base_url=url, limits=limits, headers=headers, timeout=30) as client:

        async def send(i: int) -> None:
            for p in paths:
                r = await client.post(f"/v1/data/{p}", content=inputs[i])
                if r.status_code != 200:
                    raise SystemExit(f"OPA answered {r.status_code}")

        for i in range(min(50, len(inputs))):
            await send(i)
        return await drive(len(inputs), concurrency, send)


def opa_inputs(docs: list[dict[str, Any]], policy_dir: Path) -> list[bytes]:
    src = load_policy_source(policy_dir)
    alice = Principal("bench", Role.REQUESTER, ())
    out = []
    for i, d in enumerate(docs):
        ctx = PlanContext(
            request_id=f"bench-{i}", requester=alice, submitted_at="2026-11-27T00:00:00Z",
            now="2026-11-27T00:00:00Z", catalog=default_catalog(), budget_monthly=src.budget_for(d["team"]),
        )  # fmt: skip
        out.append(orjson.dumps({"input": build_input(d, ctx)}))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=2000, help="requests per side (default 2000)")
    ap.add_argument("-c", type=int, default=16, help="concurrent clients (default 16)")
    args = ap.parse_args()

    policy_dir = ROOT / "policies"
    src = load_policy_source(policy_dir)
    paths = [s.data_path for s in src.sets]
    docs = bodies(args.n)
    with tempfile.TemporaryDirectory(prefix="govgate-bench-") as tmp:
        opa = LocalOpa(policy_dir, Path(tmp))
        opa.start(wait_paths=paths)
        port = free_port()
        env = {**os.environ, "GATEWAY_DATA_DIR": tmp, "GATEWAY_OPA_URL": opa.url, "GATEWAY_POLICY_DIR": str(policy_dir)}
        env.pop("GATEWAY_DATABASE_URL", None)
        govgate = str(ROOT / ".venv" / "bin" / "govgate")
        token = subprocess.run([govgate, "tokens", "create", "bench", "--role", "requester"], env=env,
                               capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]  # fmt: skip
        server = subprocess.Popen(
            [govgate, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(url + "/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("the gateway did not become ready")
                time.sleep(0.2)
            print(f"N={args.n} requests per side, {args.c} concurrent clients, OPA {opa.url}, gateway {url}")
            print("sending through the gateway (POST /v1/evaluate)…", flush=True)
            gw_time, gw_lat = asyncio.run(bench_gateway(url, token, [orjson.dumps(d) for d in docs], args.c))
            print(f"sending the same inputs straight to OPA ({len(paths)} policy-set queries each)…", flush=True)
            opa_time, opa_lat = asyncio.run(bench_opa(opa.url, paths, opa_inputs(docs, policy_dir), args.c))
        finally:
            server.terminate()
            server.wait(timeout=10)
            opa.stop()

    gw_rps, opa_rps = args.n / gw_time, args.n / opa_time
    print()
    print(f"{'':10} {'decisions/s':>12} {'p50 ms':>8} {'p99 ms':>8}")
    for name, rps, lat in (("gateway", gw_rps, gw_lat), ("opa", opa_rps, opa_lat)):
        print(f"{name:10} {rps:12.0f} {statistics.median(lat):8.2f} {pct(lat, 99):8.2f}")
    ratio = gw_rps / opa_rps
    p99 = pct(gw_lat, 99)
    print(f"\nratio gateway/OPA throughput: {ratio:.2f} (target >= 0.25); gateway p99 {p99:.1f} ms (target <= 50)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
