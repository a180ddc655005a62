"""Terminal rendering of requests and decisions (rich)."""

from __future__ import annotations

import json
from typing import Any

from rich.console import Console
from rich.syntax import Syntax
from rich.table import Table

STATE_STYLE = {
    "succeeded": "green", "approved": "green", "rejected": "red", "failed": "red",
    "pending_approval": "yellow", "received": "cyan", "executing": "cyan", "scheduled": "cyan", "cancelled": "dim",
    "expired": "dim",
}  # fmt: skip


def state(s: str) -> str:
    return f"[{STATE_STYLE.get(s, 'white')}]{s}[/]"


def what_happened(req: dict[str, Any]) -> str:
    d = req.get("decision") or {}
    lines = []
    for v in d.get("violations", []):
        lines.append(f"[red]{v['set']}/{v['rule']}[/] ({v['enforcement']}): {v['msg']}")
    if req["state"] == "pending_approval":
        for a in d.get("required_approvals", []):
            lines.append(f"[yellow]needs {a['count']} approval(s) from {a['group']}[/]: {a['reason']}")
    if req["state"] == "scheduled" and req.get("window"):
        lines.append(f"[cyan]runs in its window[/] {req['window']['start']} to {req['window']['end']}")
    for v in req.get("approvals", []):
        lines.append(
            f"{v['verdict']}d by {v['principal']} for {v['group']}"
            + (f": {v['comment']}" if v["comment"] else "")
            + ("" if v.get("counts", True) else " [dim](expired)[/]")
        )
    if req.get("review") == "pending":
        lines.append("[yellow]emergency change: post-implementation review pending[/]")
    for addr, out in (req.get("outputs") or {}).items():
        lines.append(
            f"[green]{out['action']}d[/] {addr} -> {out['id']}"
            + (" [bold](sandbox)[/]" if req.get("sandbox") else "")
        )
    if req.get("error"):
        lines.append(f"[red]error[/]: {req['error']}")
    return "\n".join(lines) or "-"


def requests_table(reqs: list[dict[str, Any]], title: str = "Requests") -> Table:
    table = Table(title=title, show_lines=True, expand=True)
    table.add_column("request", ratio=2, overflow="fold")
    table.add_column("state", no_wrap=True)
    table.add_column("cost/month", no_wrap=True, justify="right")
    table.add_column("cloud", no_wrap=True)
    table.add_column("what happened", ratio=5, overflow="fold")
    for r in reqs:
        d = r.get("decision") or {}
        cost = d.get("cost", {})
        table.add_row(
            f"{r['title']}\n[dim]{r['id']}[/]",
            state(r["state"]),
            f"{cost.get('monthly', 0):.2f} {cost.get('currency', '')}" if cost else "-",
            r["cloud"],
            what_happened(r),
        )
    return table


def show(console: Console, req: dict[str, Any], content: bool = False) -> None:
    """With content, also every resource change in full: what an approver is asked to approve."""
    console.print(requests_table([req], title=f"Request {req['id']}"))
    if content:
        for res in req["request"]["resources"]:
            address = f"{res['type']}.{res['name']}"
            console.print(
                f"[bold]{res['action']}[/] {address} {res.get('id') or ''} {res.get('region') or ''}"
            )
            console.print(Syntax(json.dumps(res.get("properties") or {}, indent=2), "json"))
    console.print(f"[dim]content {req['content_hash']}[/]", highlight=False)


def inventory_table(items: list[dict[str, Any]], total: float) -> Table:
    table = Table(title=f"Inventory: {len(items)} resource(s), {total:.2f} USD a month", expand=True)
    for col in ("id", "address", "team", "env", "region", "status", "USD/month"):
        table.add_column(col, overflow="fold", justify="right" if col == "USD/month" else "left")
    for r in items:
        cloud = " [bold](sandbox)[/]" if r.get("sandbox") else ""
        table.add_row(r["id"] + cloud, r["address"], r["team"], r["environment"], r["region"], r["status"],
                      f"{r['monthly_cost']:.2f}")  # fmt: skip
    return table
