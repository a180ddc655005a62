"""`govgate audit export`: the ledger from the running gateway, streamed to a file."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from gateway.client import ApiError

console = Console(stderr=True)


def _fail(exc: ApiError) -> NoReturn:
    console.print(f"[red]error[/]: {exc.detail}")
    raise typer.Exit(1)


def audit_export(
    format: Annotated[str, typer.Option("--format", help="jsonl | csv")] = "jsonl",
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Export the ledger from the running gateway (needs an auditor token)."""
    import httpx

    url = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")
    headers = {"Authorization": f"Bearer {os.environ.get('GATEWAY_TOKEN', '')}"}
    out = output.open("wb") if output else sys.stdout.buffer
    with httpx.stream(
        "GET", f"{url}/v1/audit/export", params={"format": format}, headers=headers, timeout=None
    ) as r:
        if r.status_code != 200:
            r.read()
            _fail(ApiError(r.status_code, r.json()))
        for chunk in r.iter_bytes():
            out.write(chunk)
    if output:
        out.close()
        console.print(f"wrote {output}")
