"""Retention: old events move to S3 (the sandbox) as signed segments; the chain and verification span the archive
and the database, and only archived events may leave the database."""

from __future__ import annotations

from typing import Any

import boto3
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError

from gateway.domain.identity import Role
from gateway.ledger import ledger
from tests.factories import bucket, request

FUTURE = "2999-01-01T00:00:00Z"


def _s3(sandbox_url: str) -> Any:
    return boto3.client("s3", region_name="eu-west-1", endpoint_url=sandbox_url,
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # fmt: skip


def test_archived_events_leave_the_database_and_the_chain_verifies_across_the_move(
    gateway, alice, sandbox_url
):
    admin = gateway.token("root", Role.ADMIN)
    auditor = gateway.token("carol", Role.AUDITOR)
    gateway.submit(request(bucket("a")), alice)
    with gateway.services.db.read() as s:
        before = [e["seq"] for e in ledger.iter_events(s)]

    r = gateway.client.post("/v1/audit/archive", params={"before": FUTURE}, headers=admin)

    assert r.status_code == 200, r.text
    seg = r.json()["segment"]
    assert (seg["first_seq"], seg["last_seq"]) == (1, before[-1]) and r.json()["archived"] == len(before)
    with gateway.services.db.read() as s:
        left = list(ledger.iter_events(s))
    assert [e["type"] for e in left] == ["ledger.archived"]  # the move itself is the first event after it
    assert left[0]["seq"] == before[-1] + 1
    key = seg["url"].split("/", 3)[3]
    body = _s3(sandbox_url).get_object(Bucket="govgate-ledger-archive", Key=key)["Body"].read()
    assert body.count(b"\n") == len(before) + 2 + body.count(b'{"checkpoint"')  # header, events, trailer

    gateway.submit(request(bucket("b")), alice)
    v = gateway.client.get("/v1/audit/verify", headers=auditor).json()
    assert v["ok"] is True and v["archived_events"] == len(before), v
    again = gateway.client.post("/v1/audit/archive", params={"before": "2000-01-01T00:00:00Z"}, headers=admin)
    assert again.json() == {"archived": 0, "segment": None}


def test_a_changed_segment_in_storage_is_named(gateway, alice, sandbox_url):
    admin = gateway.token("root", Role.ADMIN)
    auditor = gateway.token("carol", Role.AUDITOR)
    gateway.submit(request(bucket("a")), alice)
    seg = gateway.client.post("/v1/audit/archive", params={"before": FUTURE}, headers=admin).json()["segment"]
    key = seg["url"].split("/", 3)[3]
    s3 = _s3(sandbox_url)
    body = s3.get_object(Bucket="govgate-ledger-archive", Key=key)["Body"].read()
    s3.put_object(
        Bucket="govgate-ledger-archive", Key=key, Body=body.replace(b'"actor":"alice"', b'"actor":"eve"')
    )

    v = gateway.client.get("/v1/audit/verify", headers=auditor).json()
    assert v["ok"] is False and seg["url"] in v["reason"] and "digest" in v["reason"]


def test_only_archived_events_may_be_deleted_and_only_admins_archive(gateway, alice):
    gateway.submit(request(bucket("a")), alice)
    with pytest.raises(DatabaseError, match="append-only"), gateway.services.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_events WHERE seq = 1"))
    auditor = gateway.token("carol", Role.AUDITOR)
    assert (
        gateway.client.post("/v1/audit/archive", params={"before": FUTURE}, headers=auditor).status_code
        == 403
    )
    admin = gateway.token("root", Role.ADMIN)
    bad = gateway.client.post("/v1/audit/archive", params={"before": "last tuesday"}, headers=admin)
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/query/before"


def test_a_forged_segment_record_lets_events_go_but_verify_names_it(gateway, alice):
    """An insider inserts a segment record (allowed: the table is append-only, not closed) that reuses the genuine
    segment's file and claims the events still in the database, then deletes them."""
    admin = gateway.token("root", Role.ADMIN)
    auditor = gateway.token("carol", Role.AUDITOR)
    gateway.submit(request(bucket("a")), alice)
    seg = gateway.client.post("/v1/audit/archive", params={"before": FUTURE}, headers=admin).json()["segment"]
    gateway.submit(request(bucket("b")), alice)
    db = gateway.services.db
    with db.engine.begin() as conn:
        real = conn.execute(text("SELECT * FROM ledger_segments")).mappings().one()
        head = conn.execute(text("SELECT seq, hash FROM ledger_head WHERE id = 1")).one()
        conn.execute(text(
            "INSERT INTO ledger_segments (first_seq, last_seq, prev_hash, last_hash, url, sha256, events, created_at) "
            "VALUES (:f, :l, :p, :h, :u, :d, :n, 'now')"
        ), {"f": seg["last_seq"] + 1, "l": head.seq, "p": real["last_hash"], "h": head.hash, "u": real["url"],
            "d": real["sha256"], "n": head.seq - seg["last_seq"]})  # fmt: skip
        conn.execute(text("DELETE FROM ledger_events"))
    v = gateway.client.get("/v1/audit/verify", headers=auditor).json()
    assert v["ok"] is False and "signed trailer is not the range its record claims" in v["reason"], v


def test_bad_dates_are_422_not_500(gateway):
    admin = gateway.token("root", Role.ADMIN)
    auditor = gateway.token("carol", Role.AUDITOR)
    r = gateway.client.post(
        "/v1/audit/archive", params={"before": "9999-12-31T23:59:59-01:00"}, headers=admin
    )
    assert r.status_code == 422
    r = gateway.client.get("/v1/audit/export", params={"since": "0001-01-01T00:00:00+01:00"}, headers=auditor)
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/query/since"
    r = gateway.client.get("/v1/audit/export", params={"request_id": "a\x00b"}, headers=auditor)
    assert r.status_code == 422
