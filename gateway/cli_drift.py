"""`govgate drift`: compare the inventory with the cloud on a running gateway (admin or auditor).

Exit codes, for cron and CI: 0 everything matches, 1 drift found (a property differs or a resource is missing),
2 no drift found but some resources could not be read.
"""

from __future__ import annotations

import json
import os
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from gateway.client import ApiError, GatewayClient

console = Console()


def _show(value: Any) -> str:
    return escape(json.dumps(value, sort_keys=True) if not isinstance(value, str) else value)


def _table(report: dict[str, Any]) -> Table:
    table = Table(title="Drift: the inventory against the cloud", expand=True)
    for col in ("id", "address", "team", "property", "expected", "actual", "since"):
        table.add_column(col, overflow="fold")
    sandbox = " [bold](sandbox)[/]" if report.get("sandbox") else ""
    for r in report["drifted"]:
        since = "new" if r.get("new") else "before"
        for d in r["differences"]:
            table.add_row(r["resource_id"] + sandbox, r["address"], r["team"], d["property"],
                          _show(d["expected"]), _show(d["actual"]), since)  # fmt: skip
    for r in report["missing"]:
        table.add_row(r["resource_id"] + sandbox, r["address"], r["team"], "[red](resource)[/]", "exists",
                      "[red]missing[/]", "new" if r.get("new") else "before")  # fmt: skip
    return table


def drift(
    team: str | None = typer.Option(None, "--team", help="check only this team's resources"),
) -> None:
    """Compare the inventory with the cloud; record each difference on the ledger. Exit 1 when drift is found."""
    client = GatewayClient(
        os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080"), os.environ.get("GATEWAY_TOKEN")
    )
    try:
        report = client.call("POST", "/v1/inventory/drift", params={"team": team} if team else None)
    except ApiError as exc:
        console.print(f"[red]error[/]: {escape(exc.detail)}")
        for e in exc.errors:
            console.print(f"  {e.get('pointer') or '/'}: {e.get('detail')}")
        raise typer.Exit(1) from None
    finally:
        client.close()
    drifted, missing, errors = report["drifted"], report["missing"], report["errors"]
    if drifted or missing:
        console.print(_table(report))
    for r in report.get("resolved", []):
        console.print(f"[green]resolved[/]: {r['address']} ({r['resource_id']}) matches the inventory again")
    for e in errors:
        console.print(f"[yellow]could not read[/] {e['address']} ({e['resource_id']}): {escape(e['error'])}")
    cloud = "the sandbox cloud" if report.get("sandbox") else f"the {report['cloud']} cloud"
    summary = (
        f"{report['checked']} resource(s) checked in {cloud}: {len(drifted)} drifted, {len(missing)} missing, "
        f"{report['unchanged']} unchanged, {len(errors)} could not be read"
    )
    console.print(f"[bold {'red' if drifted or missing else 'green'}]{summary}[/]")
    if drifted or missing:
        raise typer.Exit(1)
    if errors:
        raise typer.Exit(2)
