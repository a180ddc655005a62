"""`govgate`: run the gateway, talk to a running one, and administer the local database."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from gateway import cli_audit, cli_drift, render
from gateway.cli_exemptions import exemptions_app
from gateway.cli_policy import policy_app
from gateway.client import ApiError, GatewayClient
from gateway.domain.identity import Role
from gateway.errors import GatewayError
from gateway.settings import Settings

if TYPE_CHECKING:
    from gateway.adapters.store.db import Database

app = typer.Typer(help="governance-gateway: policy-governed cloud change", no_args_is_help=True)
tokens_app = typer.Typer(help="bearer tokens (admin, on the local database)", no_args_is_help=True)
requests_app = typer.Typer(help="read requests on a running gateway", no_args_is_help=True)
audit_app = typer.Typer(help="the audit ledger", no_args_is_help=True)
inventory_app = typer.Typer(help="what the gateway manages in the cloud", no_args_is_help=True)
app.add_typer(tokens_app, name="tokens")
app.add_typer(requests_app, name="requests")
app.add_typer(audit_app, name="audit")
app.add_typer(inventory_app, name="inventory")
app.add_typer(policy_app, name="policy")
app.add_typer(exemptions_app, name="exemptions")
console = Console()


def _client() -> GatewayClient:
    return GatewayClient(
        os.environ.get("GATEWAY_URL", "http://127.0.0.1:8080"), os.environ.get("GATEWAY_TOKEN")
    )


def _fail(exc: GatewayError) -> None:
    console.print(f"[red]error[/]: {exc.detail}")
    for e in exc.errors:
        console.print(f"  {e.get('pointer') or '/'}: {e.get('detail')}")
    raise typer.Exit(1)


def _local_db() -> Database:
    from gateway.adapters.store.db import Database

    db = Database(Settings().effective_database_url)
    db.create_all()
    return db


@app.command()
def serve(host: str = "127.0.0.1", port: int = 8080, workers: int = 1, log_level: str = "info") -> None:
    """Run the gateway (starts a local OPA unless GATEWAY_OPA_URL is set; sandbox cloud unless GATEWAY_CLOUD=aws).

    With --workers N each worker process is a stateless replica on the same database; give them one OPA with
    GATEWAY_OPA_URL.
    """
    import uvicorn

    if workers > 1:
        uvicorn.run(
            "gateway.app:create_app", factory=True, host=host, port=port, workers=workers, log_level=log_level
        )
        return
    from gateway.app import create_app

    uvicorn.run(create_app(), host=host, port=port, log_level=log_level)


@app.command()
def worker(
    until_idle: Annotated[bool, typer.Option(help="exit once no execution is queued or running")] = False,
    poll: Annotated[float, typer.Option(help="seconds between looks at the queue when it is empty")] = 1.0,
) -> None:
    """Run an execution worker: claims approved requests from the database's queue and carries them out.

    Any number may run beside `govgate serve` on one PostgreSQL (FOR UPDATE SKIP LOCKED); on SQLite, one. A
    worker that dies mid-request is replaced by the next to claim it once its lease runs out.
    """
    import time

    from gateway.app import build_services

    svc = build_services(Settings())
    try:
        console.print(f"worker {svc.worker.id} (cloud={svc.settings.cloud})", style="dim")
        while True:
            ran = svc.worker.drain()
            if until_idle and svc.worker.idle():
                break
            if not ran:
                time.sleep(poll)
    except KeyboardInterrupt:
        pass
    finally:
        svc.close()


app.command("drift")(cli_drift.drift)


@inventory_app.command("list")
def inventory_list(
    team: str | None = None,
    type: Annotated[str | None, typer.Option("--type", help="resource type, e.g. aws_instance")] = None,
    status: Annotated[str, typer.Option(help="active | retired | missing | all")] = "active",
) -> None:
    """The resources the gateway manages that you may see, with their monthly cost."""
    try:
        inv = _client().call("GET", "/v1/inventory", params={k: v for k, v in
                             {"team": team, "type": type, "status": status}.items() if v})  # fmt: skip
    except ApiError as exc:
        _fail(exc)
    console.print(render.inventory_table(inv["items"], inv["monthly_cost"]))


@app.command("iam-policy")
def iam_policy() -> None:
    """Print the least-privilege IAM policy document for the gateway's role (every call the drivers make)."""
    from gateway.adapters.cloud.iam import policy_document

    print(json.dumps(policy_document(), indent=2))


@app.command()
def demo() -> None:
    """A guided run of three example requests on the embedded defaults (SQLite, local OPA, sandbox cloud)."""
    from gateway.demo import run_demo

    raise typer.Exit(run_demo(console))


@tokens_app.command("create")
def tokens_create(
    name: str,
    role: Annotated[Role, typer.Option(help="requester | approver | auditor | admin | integration")],
    group: Annotated[list[str] | None, typer.Option(help="team or approver group (repeatable)")] = None,
    subject: Annotated[
        str | None,
        typer.Option(
            help="who it belongs to (default NAME); give one person's tokens the same subject, and their "
            "IdP `sub` for OIDC, so they can never approve their own requests"
        ),
    ] = None,
) -> None:
    """Create a token and print it once; only its SHA-256 is stored."""
    from gateway.pipeline import tokens

    try:
        token = tokens.create(_local_db(), name=name, role=role, groups=group or [], subject=subject)
    except GatewayError as exc:
        _fail(exc)
    console.print(f"[dim]token for {name} ({role}); shown once:[/]", highlight=False)
    print(token)


@tokens_app.command("list")
def tokens_list() -> None:
    from gateway.adapters.store import repositories as repo

    with _local_db().read() as s:
        for t in repo.list_tokens(s):
            status = f"revoked {t.revoked_at:%Y-%m-%d}" if t.revoked_at else "active"
            console.print(
                f"{t.name:20} {t.subject or t.name:16} {t.role:12} {','.join(t.groups) or '-':20} {status}"
            )


@tokens_app.command("revoke")
def tokens_revoke(name: str) -> None:
    from gateway.pipeline import tokens

    try:
        tokens.revoke(_local_db(), name=name)
    except GatewayError as exc:
        _fail(exc)
    console.print(f"revoked {name}")


@app.command()
def submit(file: Path, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Submit a request (JSON or YAML file) and print its decision."""
    try:
        req = _client().submit_file(file)
    except ApiError as exc:
        _fail(exc)
    if as_json:
        print(json.dumps(req, indent=2))
    else:
        render.show(console, req)


@requests_app.command("list")
def requests_list(
    state: str | None = None,
    team: str | None = None,
    review: Annotated[str | None, typer.Option(help="pending | done: emergency changes' reviews")] = None,
) -> None:
    """The requests you may see, newest first."""
    try:
        items = _client().list(state=state, team=team, review=review)["items"]
    except ApiError as exc:
        _fail(exc)
    console.print(render.requests_table(items))


@requests_app.command("show")
def requests_show(request_id: str) -> None:
    try:
        render.show(console, _client().get(request_id))
    except ApiError as exc:
        _fail(exc)


@requests_app.command("amend")
def requests_amend(request_id: str, file: Path) -> None:
    """Replace a request's content before it is approved (earlier votes stop counting)."""
    try:
        render.show(console, _client().amend_file(request_id, file))
    except ApiError as exc:
        _fail(exc)


@requests_app.command("cancel")
def requests_cancel(request_id: str) -> None:
    try:
        render.show(console, _client().cancel(request_id))
    except ApiError as exc:
        _fail(exc)


@requests_app.command("review")
def requests_review(
    request_id: str, comment: Annotated[str, typer.Option(help="what the review found")]
) -> None:
    """Complete the post-implementation review of an emergency change."""
    try:
        render.show(console, _client().review(request_id, comment))
    except ApiError as exc:
        _fail(exc)


@app.command()
def approve(
    request_id: str,
    comment: str = "",
    group: Annotated[str | None, typer.Option(help="the required group you approve for")] = None,
    content_hash: Annotated[
        str | None, typer.Option(help="the content you reviewed (`requests show` prints it)")
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="approve what is shown without asking")] = False,
) -> None:
    """Approve a request for a group you belong to (a justification in --comment when it overrides a rule).

    The vote is bound to the content you approve: the one named by --content-hash, or else the one shown here
    before you confirm. If the request is amended after that, the gateway refuses the vote."""
    try:
        client = _client()
        approval_round = None
        if content_hash is None:
            shown = client.get(request_id)
            render.show(console, shown, content=True)
            if not yes and not typer.confirm("Approve this content?"):
                raise typer.Exit(1)
            content_hash, approval_round = shown["content_hash"], shown.get("approval_round")
        render.show(console, client.vote(request_id, "approve", comment, group, content_hash, approval_round))
    except ApiError as exc:
        _fail(exc)


@app.command()
def reject(request_id: str, comment: Annotated[str, typer.Option(help="why (required)")]) -> None:
    """Reject a request; one rejection ends it."""
    try:
        render.show(console, _client().vote(request_id, "reject", comment))
    except ApiError as exc:
        _fail(exc)


@audit_app.command("verify")
def audit_verify(
    file: Annotated[Path | None, typer.Option(help="a JSONL export to verify offline")] = None,
    public_key: Annotated[
        str | None, typer.Option("--public-key", help="the ledger's public key: a PEM file, or its base64")
    ] = None,
) -> None:
    """Verify the hash chain and its signed checkpoints: of the local database, or, offline, of an export (with
    nothing but the file and the public key). Names the first broken event or the failed checkpoint."""
    from gateway.ledger.chain import verify_items
    from gateway.ledger.checkpoints import parse_line
    from gateway.ledger.signing import load_public_key

    key = None
    if public_key:
        path = Path(public_key)
        key = load_public_key(path.read_text() if path.is_file() else public_key)
    if file:
        if key is None:
            console.print("[red]--public-key is required with --file[/]: anyone can rebuild a chain of hashes; only "
                          "the signatures tie an export to the gateway")  # fmt: skip
            raise typer.Exit(2)
        with file.open("rb") as fh:
            result = verify_items((parse_line(line) for line in fh if line.strip()), public_key=key,
                                  need_trailer=True)  # fmt: skip
    else:
        from datetime import UTC, datetime

        from gateway.ledger.archive import archived_count
        from gateway.ledger.checkpoints import coverage
        from gateway.ledger.ledger import verify_database
        from gateway.ledger.signing import local_public_key

        settings = Settings()
        key = key or local_public_key(settings.ledger_signing_key, settings.data_dir)
        dense = coverage(settings.ledger_checkpoint_events, settings.ledger_checkpoint_seconds,
                         settings.tick_seconds, datetime.now(UTC))  # fmt: skip
        with _local_db().read() as s:
            result = verify_database(s, key, coverage=dense if key else None)
            archived = archived_count(s)
        if archived:
            console.print(f"[yellow]{archived} archived events[/] are checked from their segments by "
                          "GET /v1/audit/verify, or offline with --file SEGMENT --public-key KEY")  # fmt: skip
    signed = (
        f", signed through seq {result.signed_through} ({result.checkpoints} checkpoints)"
        if result.signatures_checked and result.signed_through
        else ""
    )
    if result.ok:
        console.print(f"[green]ledger intact[/]: {result.events} events, head {result.head[:16]}…{signed}")
        if not result.signatures_checked:
            console.print("[yellow]signatures not checked[/]: give --public-key to check them")
        return
    if result.bad_checkpoint_seq is not None:  # the reason names the checkpoint
        console.print(f"[red]ledger broken[/]: {result.reason}")
    else:
        console.print(
            f"[red]ledger broken[/] at event seq {result.first_bad_seq} (id {result.first_bad_id}): {result.reason}"
        )
    raise typer.Exit(1)


@audit_app.command("archive")
def audit_archive(
    before: Annotated[str, typer.Option(help="RFC 3339: events older than this move to the archive")],
) -> None:
    """Move old events to object storage as a signed JSONL segment (admin token; through the running gateway).
    The chain, and `GET /v1/audit/verify`, span the archive and the database."""
    try:
        out = _client().call("POST", "/v1/audit/archive", params={"before": before})
    except ApiError as exc:
        _fail(exc)
    seg = out.get("segment")
    if not seg:
        console.print("nothing to archive")
        return
    console.print(
        f"archived {out['archived']} events (seq {seg['first_seq']} to {seg['last_seq']}) to {seg['url']}"
    )


audit_app.command("export")(cli_audit.audit_export)
