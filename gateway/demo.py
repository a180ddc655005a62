"""`govgate demo`: the gateway on its embedded defaults, three requests, three outcomes, a verified ledger."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path
from typing import Any

import uvicorn
from rich.console import Console
from rich.panel import Panel

from gateway import render
from gateway.adapters.opa_process import free_port
from gateway.app import create_app
from gateway.client import GatewayClient
from gateway.domain.identity import Role
from gateway.pipeline import tokens
from gateway.settings import Settings

TAGS = {"cost-center": "cc-42", "owner": "payments"}

WEB_TIER: dict[str, Any] = {
    "title": "Payments web tier (dev)",
    "team": "payments",
    "environment": "dev",
    "justification": "New service for the checkout team",
    "change": {"type": "standard"},
    "resources": [
        {"action": "create", "type": "aws_instance", "name": "web-1", "region": "eu-west-1",
         "properties": {"instance_type": "t3.small", "ami": "ami-0abcdef1234567890", "tags": TAGS,
                        "metadata_options": [{"http_tokens": "required"}],
                        "root_block_device": [{"volume_size": 20, "encrypted": True}]}},
        {"action": "create", "type": "aws_s3_bucket", "name": "assets", "region": "eu-west-1",
         "properties": {"tags": TAGS, "server_side_encryption_configuration": [
             {"rule": [{"apply_server_side_encryption_by_default": [{"sse_algorithm": "AES256"}]}]}]}},
        {"action": "create", "type": "aws_security_group", "name": "web-https", "region": "eu-west-1",
         "properties": {"description": "HTTPS in", "tags": TAGS, "ingress": [
             {"from_port": 443, "to_port": 443, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"],
              "description": "HTTPS from anywhere"}]}},
    ],
}  # fmt: skip

OPEN_SSH: dict[str, Any] = {
    "title": "Debug access to the batch hosts",
    "team": "payments",
    "environment": "dev",
    "change": {"type": "standard"},
    "resources": [
        {"action": "create", "type": "aws_security_group", "name": "debug-ssh", "region": "eu-west-1",
         "properties": {"description": "SSH for debugging", "tags": TAGS, "ingress": [
             {"from_port": 22, "to_port": 22, "protocol": "tcp", "cidr_blocks": ["0.0.0.0/0"],
              "description": "SSH from anywhere"}]}},
    ],
}  # fmt: skip

ANALYTICS: dict[str, Any] = {
    "title": "Checkout analytics workers (prod)",
    "team": "payments",
    "environment": "prod",
    "justification": "Black Friday capacity",
    "change": {"type": "normal", "ticket": "CHG0031337"},
    "resources": [
        {"action": "create", "type": "aws_instance", "name": f"worker-{i}", "region": "eu-west-1",
         "properties": {"instance_type": "m5.xlarge", "ami": "ami-0abcdef1234567890", "tags": TAGS,
                        "metadata_options": [{"http_tokens": "required"}],
                        "root_block_device": [{"volume_size": 50, "encrypted": True}]}}
        for i in range(1, 5)
    ],
}  # fmt: skip


def run_demo(console: Console, data_dir: Path = Path("var/demo")) -> int:
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir, database_url=None, opa_url=None, cloud="sandbox", aws_endpoint_url=None)
    console.print(Panel.fit(
        "[bold]governance-gateway demo[/]\nSQLite under var/demo, a local OPA with ./policies, "
        "and the [bold yellow]sandbox[/] cloud (an in-process moto server: nothing real is created).",
    ))  # fmt: skip
    app = create_app(settings)
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
        console.print(f"gateway at {url}; principals: alice (requester), bob (approver, finance), carol (auditor)\n")

        results = []
        for doc in (WEB_TIER, OPEN_SSH, ANALYTICS):
            with console.status(f"alice submits: {doc['title']}"):
                results.append(alice.submit(doc))
        console.print(render.requests_table(results, title="1. alice submits three requests"))

        held = results[2]
        console.print(f"\n2. bob (finance) approves [bold]{held['title']}[/]; the gateway re-checks policy and executes")
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
