"""`govgate policy ...`: tests for a policy repository, and the impact of a draft on past requests."""

from __future__ import annotations

import json
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from gateway.errors import GatewayError
from gateway.settings import Settings

policy_app = typer.Typer(help="policy-as-code tools", no_args_is_help=True)
console = Console(stderr=True)
out = Console()


def _groups(root: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Per Rego version: the directories to format-check, and the `--ignore` flags that leave OPA loading only
    that version's sets (plus data/, and lib/ for v1) from the root, so data keeps its data.data.* paths."""
    from gateway.adapters.policy_source import load_policy_source

    src = load_policy_source(root)
    by_version: dict[str, set[str]] = {}
    for s in src.sets:
        by_version.setdefault(s.rego_version, set()).add(s.bundle.split("/")[0])
    top = {p.name for p in root.iterdir()}
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for version, dirs in sorted(by_version.items(), key=lambda kv: kv[0] != "v1"):
        keep = dirs | {"data"} | ({"lib"} if version == "v1" else set())
        ignore = [flag for name in sorted(top - keep) for flag in ("--ignore", name)]
        groups[version] = (
            [str(root / d) for d in sorted(dirs | (keep & {"lib"})) if (root / d).is_dir()],
            ignore,
        )
    return groups


def _coverage(opa: str, flags: list[str], root: str) -> float:
    res = subprocess.run([opa, "test", *flags, "--coverage", root], capture_output=True, text=True)
    try:
        return float(json.loads(res.stdout).get("coverage", 0.0))
    except ValueError:
        return 0.0


@policy_app.command("test")
def policy_test(
    policies: Annotated[
        Path | None, typer.Option(help="policy directory (default GATEWAY_POLICY_DIR)")
    ] = None,
    threshold: Annotated[float, typer.Option(help="minimum coverage in percent")] = 95.0,
    verbose: bool = False,
) -> None:
    """Lint and test a policy directory the way CI does: `opa check --strict`, `opa fmt`, `opa test` with
    coverage, each set with its own Rego version."""
    from gateway.adapters.opa_process import find_opa

    settings = Settings()
    root = (policies or settings.policy_dir).resolve()
    opa = find_opa(settings.opa_binary)
    try:
        groups = _groups(root)
    except GatewayError as exc:
        console.print(f"[red]error[/]: {exc.detail}")
        raise typer.Exit(2) from None
    failed = False
    for version, (dirs, ignore) in groups.items():
        flags = (["--v0-compatible"] if version == "v0" else []) + ignore
        names = ", ".join(Path(d).name for d in dirs)
        console.print(f"[bold]Rego {version}[/]: {names}")
        steps = [
            ("check --strict", [opa, "check", "--strict", *flags, str(root)]),
            ("fmt", [opa, "fmt", "--fail", "-l", *(["--v0-compatible"] if version == "v0" else []), *dirs]),
            ("test", [opa, "test", *flags, *(["-v"] if verbose else []), str(root)]),
        ]
        for label, cmd in steps:
            res = subprocess.run(cmd, capture_output=True, text=True)
            ok = res.returncode == 0
            failed |= not ok
            console.print(f"  {'[green]ok[/]' if ok else '[red]FAIL[/]'}  opa {label}")
            if not ok or (verbose and label == "test"):
                console.print((res.stdout + res.stderr).rstrip(), markup=False, highlight=False)
        pct = _coverage(opa, flags, str(root))
        ok = pct >= threshold
        failed |= not ok
        console.print(
            f"  {'[green]ok[/]' if ok else '[red]FAIL[/]'}  coverage {pct:.1f}% (threshold {threshold:g}%)"
        )
    raise typer.Exit(1 if failed else 0)


@policy_app.command("serve")
def policy_serve(
    addr: Annotated[str, typer.Option(help="host:port to serve bundles on")] = "127.0.0.1:8282",
    policies: Annotated[
        Path | None, typer.Option(help="policy directory (default GATEWAY_POLICY_DIR)")
    ] = None,
    interval: Annotated[float, typer.Option(help="seconds between checks for edits")] = 0.5,
) -> None:
    """Serve the policy directory as OPA bundles (with discovery and long polling) for OPAs that several gateway
    replicas share; point each OPA's config at it (see README, "An external OPA")."""
    import time

    from gateway.app import bundle_publisher

    watcher, close = bundle_publisher(policies or Settings().policy_dir, addr)
    console.print(f"serving {watcher.root} at http://{addr} (revisions: {watcher.current().revisions})")
    try:
        while True:
            time.sleep(interval)
            watcher.current()
    except KeyboardInterrupt:
        pass
    finally:
        close()


def _since(value: str | None) -> datetime | None:
    if not value:
        return None
    dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


@policy_app.command("export-requests")
def export_requests(
    output: Annotated[Path, typer.Option("-o", "--output", help="JSON lines file to write")],
    since: Annotated[
        str | None, typer.Option(help="only requests submitted since (RFC 3339 or date)")
    ] = None,
) -> None:
    """Write the input document every past request was decided on, for `policy replay --requests` in a policy
    repository's CI (local database)."""
    from gateway.adapters.store.db import Database
    from gateway.pipeline.replay import stored_inputs, write_inputs

    db = Database(Settings().effective_database_url)
    n = write_inputs(stored_inputs(db, _since(since)), output)
    console.print(f"wrote {n} request inputs to {output}")


@policy_app.command("replay")
def policy_replay(
    policies: Annotated[Path, typer.Option(help="the draft policy directory")],
    since: Annotated[
        str | None, typer.Option(help="only requests submitted since (RFC 3339 or date)")
    ] = None,
    baseline: Annotated[
        Path | None, typer.Option(help="current policies (default GATEWAY_POLICY_DIR)")
    ] = None,
    requests: Annotated[
        Path | None, typer.Option(help="inputs from `policy export-requests` instead of the local database")
    ] = None,
    format: Annotated[str, typer.Option("--format", help="table | json | markdown")] = "table",
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
    fail_on_change: Annotated[bool, typer.Option(help="exit 3 when any outcome changes")] = False,
) -> None:
    """Evaluate stored past requests against the current policies and a draft, each in its own temporary OPA,
    and report what changes: outcomes, required approvals, violations per rule, approved cost."""
    from gateway import replay_report
    from gateway.adapters.store.db import Database
    from gateway.app import policy_engine
    from gateway.pipeline import replay

    if format not in ("table", "json", "markdown"):
        raise typer.BadParameter("table, json or markdown", param_hint="--format")
    settings = Settings()
    exemptions: list[dict[str, object]] = []
    if requests:
        items = replay.read_inputs(requests)
        cutoff = _since(since)
        if cutoff:
            stamp = cutoff.astimezone(UTC).isoformat().replace("+00:00", "Z")
            items = [i for i in items if i.input["request"].get("submitted_at", "") >= stamp]
    else:
        db = Database(settings.effective_database_url)
        items = replay.stored_inputs(db, _since(since))
        exemptions = replay.active_exemptions(db)
    with tempfile.TemporaryDirectory(prefix="govgate-replay-") as tmp:
        try:
            before = policy_engine(
                baseline or settings.policy_dir, Path(tmp) / "baseline", settings.opa_binary
            )
        except GatewayError as exc:
            console.print(f"[red]current policies[/]: {exc.detail}")
            raise typer.Exit(2) from None
        try:
            after = policy_engine(policies, Path(tmp) / "draft", settings.opa_binary)
        except GatewayError as exc:
            before.close()
            console.print(f"[red]draft policies[/]: {exc.detail}")
            raise typer.Exit(2) from None
        try:
            with Progress(
                TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                console=console, transient=True,
            ) as bar:  # fmt: skip
                task = bar.add_task("replay", total=len(items))
                report = replay.replay(
                    items, before, after, exemptions=exemptions, progress=lambda n: bar.advance(task, n)
                )
        finally:
            before.close()
            after.close()
    if format == "table":
        target = Console(file=output.open("w"), width=160) if output else out
        replay_report.show(target, report)
    else:
        text = replay_report.to_json(report) if format == "json" else replay_report.to_markdown(report)
        if output:
            output.write_text(text)
        else:
            out.print(text, markup=False, highlight=False, soft_wrap=True)
    if fail_on_change and report.changes:
        raise typer.Exit(3)
