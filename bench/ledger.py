"""The audit ledger's speed and memory, each beside a baseline measured in the same run.

    .venv/bin/python bench/ledger.py                    # SQLite; 1,000,000 events for verify and export
    .venv/bin/python bench/ledger.py --postgres         # also PostgreSQL (the throw-away server of scripts/postgres.sh)
    .venv/bin/python bench/ledger.py -n 200000          # a quicker run

Figures:
- durable appends: ledger.append, one event per committed transaction (and four, a typical unit of work), from
  one and four threads; baseline: bare durable commits of one row into a plain table on the same database;
- verify: `verify_database` over the whole chain; baseline: SHA-256 alone over the same canonical bytes;
- export: CSV and JSONL (signed, verifiable) streamed to /dev/null; baseline: reading the rows alone;
- peak resident memory of a process that exports every event (CSV), from /proc (VmHWM), against the same
  process before exporting.
Targets (issue 6): append >= 2,000 events/s, verify >= 200,000 events/s, CSV export >= 100,000 events/s, and
under 200 MB resident during a one-million-event export.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import orjson
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sqlalchemy import create_engine, insert, text
from sqlmodel import SQLModel

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.adapters.store.db import Database  # noqa: E402
from gateway.adapters.store.models import LedgerEvent  # noqa: E402
from gateway.ledger import ledger  # noqa: E402
from gateway.ledger.chain import GENESIS, HASHED_FIELDS  # noqa: E402

console = Console()
DATA = {"service": "ec2", "operation": "RunInstances", "region": "eu-west-1", "http_status": 200,
        "params": {"ImageId": "ami-0abcdef1234567890", "InstanceType": "t3.small", "MinCount": 1, "MaxCount": 1},
        "aws_request_id": "5e1c4a9e-0000-4000-8000-000000000000", "error": None, "duration_ms": 12.5}  # fmt: skip


def fresh(url: str) -> Database:
    if url.startswith("postgresql"):
        engine = create_engine(url)
        import gateway.adapters.store.models  # noqa: F401

        SQLModel.metadata.drop_all(engine)
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE IF EXISTS alembic_version")
            conn.exec_driver_sql("DROP TABLE IF EXISTS bench_plain")
        engine.dispose()
    db = Database(url)
    db.create_all()
    return db


def rate(n: int, seconds: float) -> float:
    return n / seconds if seconds else float("inf")


def appends(db: Database, *, threads: int, per_tx: int, total: int) -> float:
    each = total // threads

    def work() -> None:
        for _ in range(each // per_tx):
            with db.unit_of_work() as s:
                for _ in range(per_tx):
                    ledger.append(s, type="bench.append", actor="bench", data=DATA)

    t0 = time.perf_counter()
    workers = [threading.Thread(target=work) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return rate(threads * (each // per_tx) * per_tx, time.perf_counter() - t0)


def bare_commits(db: Database, total: int) -> float:
    body = orjson.dumps(DATA).decode()
    with db.engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS bench_plain (id BIGINT PRIMARY KEY, body TEXT)")
    t0 = time.perf_counter()
    for i in range(total):
        with db.unit_of_work() as s:
            s.connection().execute(
                text("INSERT INTO bench_plain (id, body) VALUES (:i, :b)"), {"i": i, "b": body}
            )
    seconds = time.perf_counter() - t0
    with db.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE bench_plain")
    return rate(total, seconds)


def load(db: Database, n: int) -> None:
    """A chain of n events written in bulk (the way a long-lived gateway accumulates them, only faster)."""
    events = LedgerEvent.__table__  # type: ignore[attr-defined]
    prev = GENESIS
    with db.read() as s:
        start = int(s.connection().execute(text("SELECT seq FROM ledger_head WHERE id = 1")).scalar_one())
        prev = str(s.connection().execute(text("SELECT hash FROM ledger_head WHERE id = 1")).scalar_one())
    rows = []
    with Progress(console=console, transient=True) as progress, db.engine.begin() as conn:
        task = progress.add_task(f"loading {n:,} events", total=n)
        for seq in range(start + 1, start + n + 1):
            ev = {"seq": seq, "id": str(uuid.uuid4()), "ts": ledger.now_rfc3339(), "type": "cloud.call",
                  "request_id": None, "actor": "gateway", "data": DATA, "prev_hash": prev}  # fmt: skip
            ev["hash"] = ledger.event_hash(ev)
            prev = ev["hash"]
            rows.append(ev)
            if len(rows) == 5000:
                conn.execute(insert(events), rows)
                rows.clear()
                progress.advance(task, 5000)
        if rows:
            conn.execute(insert(events), rows)
        conn.execute(
            text("UPDATE ledger_head SET seq = :s, hash = :h WHERE id = 1"), {"s": start + n, "h": prev}
        )
    if db.engine.dialect.name == "postgresql":  # fresh statistics after a bulk load, as autovacuum would give
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")


def verify(db: Database) -> tuple[float, int]:
    t0 = time.perf_counter()
    with db.read() as s:
        result = ledger.verify_database(s)
    assert result.ok, result
    return rate(result.events, time.perf_counter() - t0), result.events


def sha_only(db: Database) -> float:
    """SHA-256 over each event's canonical bytes, computed beforehand: the hashing a verifier cannot avoid."""
    with db.read() as s:
        sample = [e for _, e in zip(range(100_000), ledger.iter_events(s), strict=False)]
    blobs = [(e["prev_hash"].encode(), orjson.dumps({k: e[k] for k in HASHED_FIELDS}, option=orjson.OPT_SORT_KEYS))
             for e in sample]  # fmt: skip
    t0 = time.perf_counter()
    for prev, body in blobs:
        h = hashlib.sha256(prev)
        h.update(body)
        h.hexdigest()
    return rate(len(blobs), time.perf_counter() - t0)


def exported(url: str, fmt: str) -> tuple[float, int, float, float]:
    """Runs the export in a child process, so its peak memory is the export's own: events/s, events, peak MB."""
    out = subprocess.run([sys.executable, __file__, "--export-child", fmt, "--url", url], capture_output=True,
                         text=True, check=True)  # fmt: skip
    events, seconds, peak_kb, base_kb = (float(x) for x in out.stdout.split())
    return rate(int(events), seconds), int(events), peak_kb / 1024, base_kb / 1024


def export_child(url: str, fmt: str) -> None:
    from gateway.ledger import csv_export
    from gateway.ledger.checkpoints import ExportSigning, checkpoints, jsonl
    from gateway.ledger.filters import EventFilter, head, iter_rows
    from gateway.ledger.signing import Signer

    db = Database(url)
    base = _hwm_kb()
    count = 0
    t0 = time.perf_counter()
    with db.read() as s, open(os.devnull, "wb") as sink:
        top = head(s)
        if fmt == "csv":
            chunks = csv_export.chunks(iter_rows(s, EventFilter(), upto=top.seq, raw_data=True))
        elif fmt == "jsonl":
            from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

            signing = ExportSigning(Signer(Ed25519PrivateKey.generate()), selection={}, contiguous=True)
            chunks = jsonl(ledger.iter_events(s), checkpoints(s), signing, (top.seq, top.hash))
        else:  # the rows alone: what any export has to read
            chunks = (
                b"" for _ in iter_rows(s, EventFilter(), upto=top.seq, with_request=False, raw_data=True)
            )
        for chunk in chunks:
            sink.write(chunk)
        count = top.seq
    print(count, time.perf_counter() - t0, _hwm_kb(), base)


def _hwm_kb() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run(name: str, url: str, n: int, n_append: int) -> list[tuple[str, str, str, str]]:
    rows: list[tuple[str, str, str, str]] = []
    db = fresh(url)
    base = bare_commits(db, n_append)
    for threads, per_tx in ((1, 1), (4, 1), (1, 4)):
        r = appends(db, threads=threads, per_tx=per_tx, total=n_append)
        rows.append((name, f"append: {threads} thread(s), {per_tx} event(s) per commit", f"{r:,.0f} events/s",
                     f"bare durable commits {base:,.0f}/s; target 2,000"))  # fmt: skip
    load(db, n)
    v, events = verify(db)
    rows.append((name, f"verify {events:,} events", f"{v:,.0f} events/s",
                 f"SHA-256 alone {sha_only(db):,.0f}/s; target 200,000"))  # fmt: skip
    read, _, _, _ = exported(url, "rows")
    for fmt in ("csv", "jsonl"):
        r, events, peak, before = exported(url, fmt)
        rows.append((name, f"export {fmt}, {events:,} events",
                     f"{r:,.0f} events/s, peak {peak:,.0f} MB ({before:,.0f} MB before)",
                     f"reading rows alone {read:,.0f}/s; targets 100,000/s (CSV), < 200 MB"))  # fmt: skip
    db.dispose()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", type=int, default=1_000_000, help="events for verify and export")
    ap.add_argument("--appends", type=int, default=4000, help="events appended per append measurement")
    ap.add_argument("--postgres", action="store_true", help="also on PostgreSQL (scripts/postgres.sh)")
    ap.add_argument("--postgres-only", action="store_true", help="PostgreSQL alone")
    ap.add_argument("--export-child", help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.export_child:
        export_child(args.url, args.export_child)
        return
    results = []
    if not args.postgres_only:
        with tempfile.TemporaryDirectory() as tmp:
            results += run("SQLite", f"sqlite:///{tmp}/bench.db", args.n, args.appends)
    if args.postgres or args.postgres_only:
        url = subprocess.run([str(ROOT / "scripts" / "postgres.sh")], capture_output=True, text=True,
                             check=True).stdout.strip()  # fmt: skip
        results += run("PostgreSQL", url, args.n, args.appends)
    table = Table(title="audit ledger")
    for col in ("database", "what", "measured", "baseline (same run) and target"):
        table.add_column(col)
    for row in results:
        table.add_row(*row)
    console.print(table)


if __name__ == "__main__":
    main()
