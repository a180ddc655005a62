"""`govgate demo`: the gateway on its embedded defaults, three requests, three outcomes, a verified ledger."""

from __future__ import annotations

import shutil
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import uvicorn
import yaml
from rich.console import Console
from rich.panel import Panel

from gateway import render
from gateway.adapters.opa_process import free_port
from gateway.app import create_app
from gateway.client import GatewayClient
from gateway.domain.clock import Clock, SystemClock, rfc3339
from gateway.domain.identity import Role
from gateway.pipeline import tokens
from gateway.settings import PROJECT_ROOT, Settings

EXAMPLES = PROJECT_ROOT / "examples"
# Approved and executed; rejected by a security rule; held for finance, then approved and executed.
DEMO_FILES = ("web-tier.json", "open-ssh.yaml", "analytics-prod.json")


def load_example(name: str) -> dict[str, Any]:
    return dict(yaml.safe_load((EXAMPLES / name).read_text()))


def with_open_window(doc: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The example's change window moved to start now, so the demo executes it instead of scheduling it."""
    change = doc.get("change") or {}
    if "window" in change:
        start = now.replace(microsecond=0) - timedelta(minutes=1)
        change["window"] = {"start": rfc3339(start), "end": rfc3339(start + timedelta(hours=2))}
    return doc


def run_demo(console: Console, data_dir: Path = Path("var/demo"), clock: Clock | None = None) -> int:
    clock = clock or SystemClock()
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(
        data_dir=data_dir, database_url=None, opa_url=None, cloud="sandbox", aws_endpoint_url=None
    )
    console.print(Panel.fit(
        "[bold]governance-gateway demo[/]\nSQLite under var/demo, a local OPA with ./policies, "
        "and the [bold yellow]sandbox[/] cloud (an in-process moto server: nothing real is created).",
    ))  # fmt: skip
    app = create_app(settings, clock=clock)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with console.status("starting the gateway, OPA and the sandbox cloud…"):
        while not server.started:
            if not thread.is_alive():
                console.print("[red]the gateway did not start[/]")
                return 1
            time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        db = app.state.services.db
        alice = GatewayClient(url, tokens.create(db, name="alice", role=Role.REQUESTER, groups=["payments"]))
        bob = GatewayClient(url, tokens.create(db, name="bob", role=Role.APPROVER, groups=["finance"]))
        audit = GatewayClient(url, tokens.create(db, name="carol", role=Role.AUDITOR, groups=[]))
        console.print(
            f"gateway at {url}; principals: alice (requester), bob (approver, finance), carol (auditor)\n"
        )

        results = []
        for doc in (with_open_window(load_example(name), clock.now()) for name in DEMO_FILES):
            with console.status(f"alice submits: {doc['title']}"):
                results.append(alice.submit(doc))
        console.print(render.requests_table(results, title="1. alice submits three requests"))

        held = results[2]
        console.print(
            f"\n2. bob (finance) approves [bold]{held['title']}[/]; the gateway re-checks policy and executes"
        )
        with console.status("bob approves…"):
            results[2] = bob.vote(held["id"], "approve", "Within the Q4 capacity plan")
        console.print(render.requests_table(results, title="Outcomes"))

        v = audit.verify()
        colour = "green" if v["ok"] else "red"
        console.print(f"\n3. carol verifies the ledger: [{colour}]{'intact' if v['ok'] else 'BROKEN'}[/] "
                      f"({v['events']} events, head {v['head'][:16]}…)")  # fmt: skip
        expected = ["succeeded", "rejected", "succeeded"]
        ok = [r["state"] for r in results] == expected and v["ok"]
        return 0 if ok else 1
    finally:
        server.should_exit = True
        thread.join(timeout=15)
