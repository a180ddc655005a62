"""Every way an insider could tamper with the ledger, and the verifier naming the first bad event or the failed
checkpoint each time: in an export checked offline with nothing but the file and the public key, and in the
database, whose triggers refuse changes to begin with."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from typer.testing import CliRunner

from gateway.adapters.store.db import Database
from gateway.app import create_app
from gateway.cli import app as cli
from gateway.domain.identity import Role
from gateway.ledger import ledger
from gateway.ledger.chain import event_hash
from gateway.settings import Settings
from tests.clock import ManualClock
from tests.conftest import Gateway
from tests.factories import bucket, instance, request

Line = dict[str, Any]
INSERT = (
    "INSERT INTO ledger_events (seq, id, ts, type, request_id, actor, data, prev_hash, hash) "
    "VALUES (:seq, :id, :ts, :type, :request_id, :actor, '{}', :prev_hash, :hash)"
)


@pytest.fixture
def signed(settings: Settings, clock: ManualClock) -> Iterator[Gateway]:
    """A gateway that signs its head every 5 events."""
    with TestClient(
        create_app(settings.model_copy(update={"ledger_checkpoint_events": 5}), clock=clock)
    ) as c:
        yield Gateway(c)


@pytest.fixture
def export(signed: Gateway, tmp_path: Path) -> tuple[list[Line], Path]:
    """A few requests' worth of events, checkpointed as the gateway goes, exported; and the public key's file."""
    alice = signed.token("alice", groups=["payments"])
    auditor = signed.token("carol", Role.AUDITOR)
    for i in range(4):
        signed.submit(request(bucket(f"b{i}")), alice)
        signed.services.checkpointer.tick()
    signed.submit(request(bucket("tail")), alice)  # events after the last checkpoint
    r = signed.client.get("/v1/audit/export", params={"format": "jsonl"}, headers=auditor)
    assert r.status_code == 200
    lines = [orjson.loads(x) for x in r.content.splitlines()]
    key = signed.client.get("/v1/audit/public-key", headers=auditor).json()
    pem = tmp_path / "ledger.pub"
    pem.write_text(key["public_key_pem"])
    return lines, pem


def _events(lines: list[Line]) -> list[Line]:
    return [x for x in lines if not ({"header", "checkpoint", "trailer"} & set(x))]


def _checkpoint_seqs(lines: list[Line]) -> list[int]:
    return [x["checkpoint"]["seq"] for x in lines if "checkpoint" in x]


def _verify(lines: list[Line], key: Path, tmp_path: Path) -> Any:
    f = tmp_path / "export.jsonl"
    f.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    result = CliRunner().invoke(cli, ["audit", "verify", "--file", str(f), "--public-key", str(key)])
    result.said = " ".join(result.output.split())  # rich wraps long lines
    return result


def _index(lines: list[Line], seq: int) -> int:
    return next(i for i, x in enumerate(lines) if x.get("seq") == seq)


def test_an_untouched_export_verifies_offline_with_its_signatures(export, tmp_path):
    lines, key = export
    assert len(_checkpoint_seqs(lines)) >= 3
    result = _verify(lines, key, tmp_path)
    assert result.exit_code == 0, result.output
    assert "ledger intact" in result.said and f"signed through seq {_events(lines)[-1]['seq']}" in result.said


def test_changed_event_data_is_named(export, tmp_path):
    lines, key = export
    lines[_index(lines, 7)]["data"]["tampered"] = True
    result = _verify(lines, key, tmp_path)
    assert result.exit_code == 1 and "event seq 7" in result.said and "altered" in result.said


def test_a_deleted_event_is_named_by_the_one_after_it(export, tmp_path):
    lines, key = export
    del lines[_index(lines, 8)]
    result = _verify(lines, key, tmp_path)
    assert result.exit_code == 1 and "event seq 9" in result.said and "expected seq 8" in result.said


def test_an_inserted_event_is_named(export, tmp_path):
    lines, key = export
    at = _index(lines, 6)
    forged = {**lines[at], "id": "forged", "actor": "mallory"}
    forged["hash"] = event_hash(forged)
    lines.insert(at, forged)  # a second seq 6, linked to seq 5 and hashed correctly
    result = _verify(lines, key, tmp_path)
    assert result.exit_code == 1 and "event seq 6" in result.said


def test_two_reordered_events_are_named(export, tmp_path):
    lines, key = export
    a, b = _index(lines, 3), _index(lines, 4)
    lines[a], lines[b] = lines[b], lines[a]
    result = _verify(lines, key, tmp_path)
    assert result.exit_code == 1 and "event seq 4" in result.said and "expected seq 3" in result.said


def test_a_tail_cut_after_the_last_checkpoint_is_caught(export, tmp_path):
    lines, key = export
    last_cp = _checkpoint_seqs(lines)[-1]
    assert _events(lines)[-1]["seq"] > last_cp  # there is an unsigned-by-checkpoint tail to cut
    cut = [x for x in lines if x.get("seq", 0) <= last_cp or not x.get("seq")]
    result = _verify(cut, key, tmp_path)  # the trailer still says what the end was
    assert result.exit_code == 1 and "trailer" in result.said
    without_trailer = [x for x in cut if "trailer" not in x]
    result = _verify(without_trailer, key, tmp_path)
    assert result.exit_code == 1 and "no signed trailer" in result.said


def test_a_chain_recomputed_without_the_key_fails_at_the_first_checkpoint_after_the_change(export, tmp_path):
    lines, key = export
    changed = 3
    prev: str | None = None
    last: Line = {}
    for x in lines:
        if "header" in x or "trailer" in x:
            continue
        if "checkpoint" in x:
            # The forger updates what each checkpoint says it signed, but cannot sign it again.
            x["checkpoint"]["hash"] = last["hash"]
            continue
        if x["seq"] == changed:
            x["data"] = {"rewritten": "history"}
        if prev is not None:
            x["prev_hash"] = prev
        x["hash"] = event_hash(x)
        prev, last = x["hash"], x
    result = _verify(lines, key, tmp_path)
    first_cp_after = min(s for s in _checkpoint_seqs(lines) if s >= changed)
    assert result.exit_code == 1, result.output
    assert f"checkpoint at seq {first_cp_after}" in result.said and "signature does not verify" in result.said


def test_another_key_is_refused(export, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    lines, _ = export
    other = tmp_path / "other.pub"
    other.write_bytes(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))  # fmt: skip
    result = _verify(lines, other, tmp_path)
    assert result.exit_code == 1 and "signed by key" in result.said


# -- the database ------------------------------------------------------------------------------------------


def test_the_database_refuses_to_change_or_delete_events_and_checkpoints(signed):
    alice = signed.token("alice", groups=["payments"])
    signed.submit(request(instance()), alice)
    signed.services.checkpointer.tick(force=True)
    for statement in ("UPDATE ledger_events SET actor = 'mallory' WHERE seq = 2",
                      "DELETE FROM ledger_events WHERE seq = 2",
                      "UPDATE ledger_checkpoints SET hash = 'x'",
                      "DELETE FROM ledger_checkpoints"):  # fmt: skip
        with pytest.raises(DatabaseError, match="append-only"), signed.services.db.engine.begin() as conn:
            conn.execute(text(statement))
    auditor = signed.token("carol", Role.AUDITOR)
    assert signed.client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True


def test_a_second_event_after_the_same_one_is_refused(signed):
    """The chain cannot fork: whatever code runs, two events never share a predecessor."""
    db = signed.services.db
    with db.unit_of_work() as s:
        first = ledger.append(s, type="test.one", actor="t", data={})
    twin = {**first, "seq": first["seq"] + 100, "id": "twin"}
    twin["hash"] = event_hash(twin)
    with pytest.raises(DatabaseError), db.engine.begin() as conn:
        conn.execute(text(INSERT), twin)


def test_an_insider_who_drops_the_triggers_is_still_caught_by_verify(signed, settings, monkeypatch):
    alice = signed.token("alice", groups=["payments"])
    signed.submit(request(instance()), alice)
    db = signed.services.db
    with db.engine.begin() as conn:
        _drop_triggers(conn, db)
        conn.execute(text("UPDATE ledger_events SET actor = 'mallory' WHERE seq = 3"))
    auditor = signed.token("carol", Role.AUDITOR)
    v = signed.client.get("/v1/audit/verify", headers=auditor).json()
    assert v["ok"] is False and v["first_bad_seq"] == 3 and "altered" in v["reason"]
    monkeypatch.setenv("GATEWAY_DATABASE_URL", settings.effective_database_url)
    monkeypatch.setenv("GATEWAY_DATA_DIR", str(settings.data_dir))
    result = CliRunner().invoke(cli, ["audit", "verify"])
    assert result.exit_code == 1 and "seq 3" in result.output


def _drop_triggers(conn: Any, db: Database, all_of_them: bool = False) -> None:
    """What an insider with DDL rights can do: the checks after it are the verifier's."""
    if db.is_sqlite:
        names = [r[0] for r in conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))]
        for name in names if all_of_them else ("ledger_events_no_update", "ledger_events_no_delete"):
            conn.execute(text(f"DROP TRIGGER {name}"))
    else:
        tables = ("ledger_events", "ledger_checkpoints", "ledger_head") if all_of_them else ("ledger_events",)
        for table in tables:
            conn.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))


def _append_many(url: str, worker: int, n: int) -> None:
    db = Database(url)
    for i in range(n):
        with db.unit_of_work() as s:
            ledger.append(s, type="test.concurrent", actor=f"w{worker}", data={"i": i})
    db.dispose()


def test_several_processes_appending_at_once_make_one_chain(signed):
    url = signed.services.db.url
    procs = [
        multiprocessing.get_context("spawn").Process(target=_append_many, args=(url, w, 60)) for w in range(3)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    with signed.services.db.read() as s:
        result = ledger.verify_database(s, signed.services.signer.public)
        mine = [e for e in ledger.iter_events(s) if e["type"] == "test.concurrent"]
    assert result.ok, result
    assert len(mine) == 180 and {e["actor"] for e in mine} == {"w0", "w1", "w2"}


def test_outside_the_sandbox_a_signing_key_is_required(tmp_path):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="GATEWAY_LEDGER_SIGNING_KEY"):
        Settings(cloud="aws", database_url="postgresql+psycopg://db.example/gateway", data_dir=tmp_path)
    from gateway.ledger.signing import load_signer

    made = load_signer(None, tmp_path, sandbox=True)
    assert load_signer(None, tmp_path, sandbox=True).key_id == made.key_id  # kept, not made anew
    assert (tmp_path / "ledger-signing-key.pem").stat().st_mode & 0o777 == 0o600


def _recompute_from(db: Database, seq: int) -> None:
    """The insider's rewrite: event `seq` changed, every hash after it recomputed, the head moved to match."""
    with db.read() as s:
        events = list(ledger.iter_events(s))
    prev = None
    with db.engine.begin() as conn:
        for ev in events:
            if ev["seq"] < seq:
                prev = ev["hash"]
                continue
            if ev["seq"] == seq:
                ev["data"] = {"rewritten": True}
            ev["prev_hash"] = prev
            ev["hash"] = event_hash(ev)
            prev = ev["hash"]
            conn.execute(text("UPDATE ledger_events SET data = :d, prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"d": orjson.dumps(ev["data"]).decode(), "p": f"tmp-{ev['seq']}", "h": ev["hash"],
                          "s": ev["seq"]})  # fmt: skip
        for ev in events:
            if ev["seq"] >= seq:
                conn.execute(text("UPDATE ledger_events SET prev_hash = :p WHERE seq = :s"),
                             {"p": ev["prev_hash"], "s": ev["seq"]})  # fmt: skip
        conn.execute(text("UPDATE ledger_head SET hash = :h WHERE id = 1"), {"h": prev})


def _insider(db: Database) -> None:
    with db.engine.begin() as conn:
        _drop_triggers(conn, db, all_of_them=True)


def test_removing_every_checkpoint_and_recomputing_the_chain_is_caught(export, signed):
    db = signed.services.db
    _insider(db)
    with db.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_checkpoints"))
    _recompute_from(db, 3)
    auditor = signed.token("erin", Role.AUDITOR)
    v = signed.client.get("/v1/audit/verify", headers=auditor).json()
    assert v["ok"] is False and "carry no signed checkpoint" in v["reason"], v


def test_a_tail_cut_with_its_checkpoints_still_there_is_caught(export, signed):
    lines, _ = export
    db = signed.services.db
    last_cp = _checkpoint_seqs(lines)[-1]
    _insider(db)
    with db.engine.begin() as conn:
        keep = conn.execute(
            text("SELECT seq, hash FROM ledger_events WHERE seq = :s"), {"s": last_cp - 3}
        ).one()
        conn.execute(text("DELETE FROM ledger_events WHERE seq > :s"), {"s": keep.seq})
        conn.execute(
            text("UPDATE ledger_head SET seq = :s, hash = :h WHERE id = 1"), {"s": keep.seq, "h": keep.hash}
        )
    auditor = signed.token("erin", Role.AUDITOR)
    v = signed.client.get("/v1/audit/verify", headers=auditor).json()
    assert v["ok"] is False and "signs an event that is gone" in v["reason"], v


def test_the_head_only_moves_forward_and_truncate_is_refused(signed):
    alice = signed.token("alice", groups=["payments"])
    signed.submit(request(instance()), alice)
    db = signed.services.db
    with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_head SET seq = 1 WHERE id = 1"))
    if not db.is_sqlite:  # SQLite has no TRUNCATE
        for table in ("ledger_events", "ledger_checkpoints", "ledger_segments", "ledger_head"):
            with pytest.raises(DatabaseError, match="append-only"), db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {table}"))


def test_an_export_is_not_verified_without_the_key(export, tmp_path):
    lines, _ = export
    f = tmp_path / "export.jsonl"
    f.write_bytes(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    result = CliRunner().invoke(cli, ["audit", "verify", "--file", str(f)])
    assert result.exit_code == 2 and "--public-key is required" in result.output
