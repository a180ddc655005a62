"""`govgate exemptions ...`: ask for, approve, list and revoke exemptions on a running gateway."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from gateway.client import ApiError, GatewayClient

exemptions_app = typer.Typer(help="exemptions: expiring, approved waivers of one rule", no_args_is_help=True)
console = Console()


def _call(method: str, path: str, **kw: Any) -> Any:
    client = GatewayClient(
        os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080"), os.environ.get("GATEWAY_TOKEN")
    )
    try:
        return client.call(method, path, **kw)
    except ApiError as exc:
        console.print(f"[red]error[/]: {exc.detail}")
        for e in exc.errors:
            console.print(f"  {e.get('pointer') or '/'}: {e.get('detail')}")
        raise typer.Exit(1) from None
    finally:
        client.close()


def _table(items: list[dict[str, Any]]) -> Table:
    t = Table(title="Exemptions")
    for col in ("id", "status", "rule", "team/env", "address", "expires", "granted by", "approved by"):
        t.add_column(col, overflow="fold")
    colour = {"active": "green", "pending": "yellow", "expired": "dim", "revoked": "dim", "rejected": "red"}
    for e in items:
        t.add_row(
            e["id"], f"[{colour.get(e['status'], 'white')}]{e['status']}[/]", e["rule"],
            f"{e['team']}/{e['environment']}", e["address"], e["expires_at"], e["granted_by"], e["approved_by"] or "",
        )  # fmt: skip
    return t


@exemptions_app.command("create")
def create(
    rule: Annotated[str, typer.Option(help="<set>/<rule id>, e.g. security/s3_public_acl")],
    team: Annotated[str, typer.Option()],
    reason: Annotated[str, typer.Option()],
    ticket: Annotated[str, typer.Option()],
    expires: Annotated[str, typer.Option(help="RFC 3339, e.g. 2026-12-31T00:00:00Z")],
    environment: Annotated[str, typer.Option(help="dev | staging | prod | *")] = "*",
    address: Annotated[str, typer.Option(help="resource address pattern, e.g. aws_s3_bucket.public-*")] = "*",
) -> None:
    """Ask for an exemption (admin); it applies once a second person approves it."""
    body = {"rule": rule, "team": team, "environment": environment, "address": address, "reason": reason,
            "ticket": ticket, "expires_at": expires}  # fmt: skip
    created = _call("POST", "/v1/exemptions", json=body)
    console.print(_table([created]))
    console.print(f"exemption {created['id']} is pending: another approver must approve it before it applies")


@exemptions_app.command("list")
def list_(team: str | None = None, status: str | None = None) -> None:
    params = {k: v for k, v in {"team": team, "status": status}.items() if v}
    console.print(_table(_call("GET", "/v1/exemptions", params=params)["items"]))


@exemptions_app.command("approve")
def approve(exemption_id: str, comment: str = "") -> None:
    """Approve an exemption another admin asked for."""
    body = {"verdict": "approve", "comment": comment}
    console.print(_table([_call("POST", f"/v1/exemptions/{exemption_id}/approvals", json=body)]))


@exemptions_app.command("reject")
def reject(exemption_id: str, comment: Annotated[str, typer.Option(help="why (required)")]) -> None:
    body = {"verdict": "reject", "comment": comment}
    console.print(_table([_call("POST", f"/v1/exemptions/{exemption_id}/approvals", json=body)]))


@exemptions_app.command("revoke")
def revoke(exemption_id: str, comment: str = "") -> None:
    console.print(_table([_call("POST", f"/v1/exemptions/{exemption_id}/revoke", json={"comment": comment})]))
