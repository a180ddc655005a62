"""`govgate audit export`: the ledger (or the part the filters select) from the running gateway, streamed to a
file with a progress bar, or to stdout."""

from __future__ import annotations

import os
import sys
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Annotated, Any, BinaryIO, NoReturn

import httpx
import typer
from rich.console import Console
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

from gateway.client import ApiError

console = Console(stderr=True)
FORMATS = ("jsonl", "csv", "decision-log", "html")
# Formats with one line per event (a CSV's header and a JSONL's header, checkpoints and trailer are a few more).
LINE_FORMATS = ("jsonl", "csv", "decision-log")


def _fail(exc: ApiError) -> NoReturn:
    console.print(f"[red]error[/]: {exc.detail}")
    for e in exc.errors or []:
        where = str(e.get("pointer", "")).removeprefix("/query/")
        console.print(f"  {where}: {e.get('detail')}", markup=False, highlight=False)
    raise typer.Exit(1)


def _client(url: str) -> AbstractContextManager[httpx.Client]:
    """The HTTP client for one export (tests put the app's own client here). No read timeout: a report sends
    its sections only once it has read the whole period."""
    return httpx.Client(base_url=url.rstrip("/"), timeout=httpx.Timeout(30.0, read=None))


class _Bytes(ProgressColumn):
    def render(self, task: Task) -> Text:
        return Text(decimal(int(task.fields.get("bytes", 0))), style="progress.download")


def _problem(r: httpx.Response) -> ApiError:
    r.read()
    try:
        return ApiError(r.status_code, r.json())
    except ValueError:
        return ApiError(r.status_code, {"detail": r.text or f"HTTP {r.status_code}"})


def _copy(r: httpx.Response, out: BinaryIO, fmt: str, progress: Progress | None) -> tuple[int, int]:
    """Streams the body to `out`; returns (bytes, lines)."""
    header = r.headers.get("x-ledger-events")
    total = int(header) if header and header.isdigit() else None
    task = None
    if progress is not None:
        task = progress.add_task(f"export {fmt}", total=total if fmt in LINE_FORMATS else None, bytes=0)
    size = lines = 0
    for chunk in r.iter_bytes():
        out.write(chunk)
        size += len(chunk)
        lines += chunk.count(b"\n")
        if progress is not None and task is not None:
            done = max(0, lines - (1 if fmt == "csv" else 0))
            progress.update(task, completed=min(done, total) if total is not None else done, bytes=size)
    if progress is not None and task is not None and total is not None:
        progress.update(task, total=total, completed=total, bytes=size)
    return size, lines


def audit_export(
    format: Annotated[str, typer.Option("--format", help="jsonl | csv | decision-log | html")] = "jsonl",
    since: Annotated[
        str | None, typer.Option(help="from this RFC 3339 time or date on (e.g. 2026-12-01T00:00:00Z)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="up to this time or date, excluded")] = None,
    team: Annotated[str | None, typer.Option(help="events of this team's requests")] = None,
    outcome: Annotated[
        str | None, typer.Option(help="events of requests now in this state (rejected, succeeded, ...)")
    ] = None,
    request: Annotated[str | None, typer.Option("--request", help="one request's events")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="the file (default: stdout)")] = None,
) -> None:
    """Export the ledger from the running gateway (needs an auditor token): JSONL (verifiable with `govgate audit
    verify --file`), CSV, OPA decision logs or the HTML report for auditors. Streams; with -o, shows progress."""
    if format not in FORMATS:
        console.print(f"[red]error[/]: --format must be one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    url = os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080")
    headers = {"Authorization": f"Bearer {os.environ.get('GATEWAY_TOKEN', '')}"}
    params: dict[str, Any] = {"format": format}
    for name, value in (("since", since), ("until", until), ("team", team), ("outcome", outcome),
                        ("request_id", request)):  # fmt: skip
        if value:
            params[name] = value
    part = output.with_name(output.name + ".part") if output else None
    try:
        with (
            _client(url) as http,
            http.stream("GET", "/v1/audit/export", params=params, headers=headers) as r,
        ):
            if r.status_code != 200:
                _fail(_problem(r))
            if part is None:
                _copy(r, sys.stdout.buffer, format, None)
                sys.stdout.buffer.flush()
                return
            counted: tuple[ProgressColumn, ...] = (MofNCompleteColumn(), TextColumn("events"))
            columns = (SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                       *(counted if format in LINE_FORMATS else ()), _Bytes(), TimeElapsedColumn())  # fmt: skip
            with part.open("wb") as fh, Progress(*columns, console=console, transient=False) as progress:
                size, _ = _copy(r, fh, format, progress)
            events = r.headers.get("x-ledger-events", "?")
    except httpx.HTTPError as exc:
        if part is not None:
            part.unlink(missing_ok=True)
        console.print(f"[red]error[/]: the export from {url} failed: {exc}")
        raise typer.Exit(1) from exc
    assert output is not None and part is not None
    part.replace(output)  # only a complete export takes the name
    console.print(f"wrote {output}: {events} events, {decimal(size)}")
