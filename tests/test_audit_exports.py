"""Ledger exports: filters, each format's shape (JSONL, CSV, OPA decision logs), errors, roles and the CLI."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
from typing import Any

import orjson
import pytest

from gateway import cli_audit
from gateway.domain.identity import Role
from gateway.ledger import filters
from gateway.ledger import ledger as ledger_module
from gateway.ledger.chain import GENESIS, event_hash, verify
from gateway.ledger.csv_export import COLUMNS, safe
from tests.factories import expensive, instance, request, security_group


@pytest.fixture(autouse=True)
def ledger_time(monkeypatch, clock):
    """Ledger events take the test clock's time, so periods can be chosen exactly."""
    monkeypatch.setattr(ledger_module, "now_rfc3339", lambda: filters.ts_key(clock.now()))


def _export(gateway, headers, **params: str) -> Any:
    return gateway.client.get("/v1/audit/export", params=params, headers=headers)


def _all_lines(resp) -> list[dict]:
    assert resp.status_code == 200, resp.text
    return [orjson.loads(line) for line in resp.content.splitlines()]


def _lines(resp) -> list[dict]:
    """The lines that are not the export's header, checkpoints or trailer: events (or decision-log entries)."""
    return [x for x in _all_lines(resp) if not ({"header", "checkpoint", "trailer"} & set(x))]


@pytest.fixture
def scenario(gateway, alice, bob, clock):
    """Three requests an hour apart: payments succeeded, analytics rejected, payments approved by finance."""
    ok = gateway.submit(request(instance()), alice).json()["id"]
    clock.advance(hours=1)
    ssh = request(security_group(name="bastion", port=22), team="analytics")
    rejected = gateway.submit(ssh, alice).json()["id"]
    clock.advance(hours=1)
    held = gateway.submit(expensive(), alice).json()["id"]
    r = gateway.client.post(
        f"/v1/requests/{held}/approvals", json={"verdict": "approve", "comment": "=SUM(A1:A9)"}, headers=bob
    )
    assert r.status_code == 201, r.text
    return {"ok": ok, "rejected": rejected, "held": held}


def test_full_jsonl_export_is_the_whole_chain(gateway, auditor, scenario):
    resp = _export(gateway, auditor)
    events = _lines(resp)
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    assert 'filename="audit.jsonl"' in resp.headers["content-disposition"]
    assert int(resp.headers["x-ledger-events"]) == len(events)
    assert events[0]["prev_hash"] == GENESIS and [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert verify(events).ok
    # The same without giving a format: backward compatible.
    assert _lines(gateway.client.get("/v1/audit/export", headers=auditor)) == events


def test_filters_select_by_team_outcome_request_and_period(gateway, auditor, scenario, clock):
    everything = _lines(_export(gateway, auditor))

    analytics = _lines(_export(gateway, auditor, team="analytics"))
    assert analytics and {e["request_id"] for e in analytics} == {scenario["rejected"]}

    rejected = _lines(_export(gateway, auditor, outcome="rejected"))
    assert [e["seq"] for e in rejected] == [e["seq"] for e in analytics]
    assert {e["type"] for e in rejected} >= {"request.submitted", "policy.evaluated", "request.rejected"}

    one = _lines(_export(gateway, auditor, request_id=scenario["held"]))
    assert one == [e for e in everything if e["request_id"] == scenario["held"]]
    assert all(event_hash(e) == e["hash"] for e in one)  # every event still verifies on its own

    # The second hour (the clock began at 22:30): since is included, until is not.
    since, until = "2026-12-01T23:30:00Z", "2026-12-02T00:30:00Z"
    hour = _lines(_export(gateway, auditor, since=since, until=until))
    assert hour == [
        e for e in everything if "2026-12-01T23:30:00.000000Z" <= e["ts"] < "2026-12-02T00:30:00.000000Z"
    ]
    assert hour and {e["request_id"] for e in hour} == {scenario["rejected"]}
    # Offsets and plain dates are understood.
    assert _lines(_export(gateway, auditor, since="2026-12-02T00:30:00+00:00")) == [
        e for e in everything if e["ts"] >= "2026-12-02T00:30"
    ]
    assert _lines(_export(gateway, auditor, until="2026-12-01")) == []


def test_events_without_a_request_match_only_without_team_or_outcome(gateway, auditor, alice, scenario):
    gateway.client.post("/v1/evaluate", json=request(instance()), headers=alice)  # a dry run: no request
    everything = _lines(_export(gateway, auditor))
    assert any(e["request_id"] is None for e in everything)  # tokens, the dry run
    assert all(e["request_id"] for e in _lines(_export(gateway, auditor, team="payments")))
    assert all(e["request_id"] for e in _lines(_export(gateway, auditor, outcome="succeeded")))


@pytest.mark.parametrize(
    ("params", "pointer"),
    [
        ({"since": "yesterday"}, "/query/since"),
        ({"since": "2026-12-01T10:00:00"}, "/query/since"),  # no offset
        ({"until": "2026-13-01T00:00:00Z"}, "/query/until"),
        ({"since": "2026-12-02", "until": "2026-12-01"}, "/query/until"),
        ({"outcome": "maybe"}, "/query/outcome"),
        ({"team": "pay ments"}, "/query/team"),
        ({"format": "xml"}, "/query/format"),
    ],
)
def test_a_bad_filter_is_a_422_naming_the_parameter(gateway, auditor, params, pointer):
    r = _export(gateway, auditor, **params)
    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert [e["pointer"] for e in r.json()["errors"]] == [pointer]


def test_only_auditors_export(gateway, alice, bob):
    for who in (alice, bob):
        for fmt in ("jsonl", "csv", "decision-log", "html"):
            assert _export(gateway, who, format=fmt).status_code == 403
    admin = gateway.token("root", Role.ADMIN)
    assert _export(gateway, admin, format="csv").status_code == 200
    assert gateway.client.get("/v1/audit/export").status_code == 401


def test_jsonl_interleaves_checkpoints_and_ends_with_the_trailer(gateway, auditor, scenario):
    gateway.services.checkpointer.tick(force=True)
    lines = _all_lines(_export(gateway, auditor))

    assert "header" in lines[0] and "trailer" in lines[-1]
    events = [x for x in lines if "seq" in x]
    header, trailer = lines[0]["header"], lines[-1]["trailer"]
    assert header["contiguous"] is True and header["first_seq"] == 1 and header["prev_hash"] == GENESIS
    cps = [(i, x["checkpoint"]) for i, x in enumerate(lines) if "checkpoint" in x]
    assert cps and all(lines[i - 1]["seq"] == cp["seq"] for i, cp in cps)  # right after the event it signs
    assert trailer["events"] == len(events) and trailer["last_hash"] == events[-1]["hash"]
    assert trailer["events_digest"] == hashlib.sha256("".join(e["hash"] for e in events).encode()).hexdigest()
    assert trailer["key_id"] == gateway.services.signer.key_id and trailer["signature"]

    # A filtered export is not contiguous: no checkpoints, and the trailer signs what it selected.
    lines = _all_lines(_export(gateway, auditor, team="payments"))
    assert not any("checkpoint" in x for x in lines)
    assert lines[-1]["trailer"]["contiguous"] is False and lines[-1]["trailer"]["filter"] == {
        "team": "payments"
    }


def _csv(resp) -> list[dict[str, str]]:
    assert resp.status_code == 200, resp.text
    assert resp.content.startswith(b"\xef\xbb\xbf")  # the BOM Excel looks for
    text = resp.content.decode("utf-8-sig")
    assert "\r\n" in text and "\n" not in text.replace("\r\n", "")  # CRLF only
    return list(csv.DictReader(io.StringIO(text, newline="")))


def test_csv_is_flat_and_opens_cleanly(gateway, auditor, scenario):
    resp = _export(gateway, auditor, format="csv")
    assert resp.headers["content-type"].startswith("text/csv")
    assert 'filename="audit.csv"' in resp.headers["content-disposition"]
    rows = _csv(resp)
    assert len(rows) == int(resp.headers["x-ledger-events"])
    assert list(rows[0]) == list(COLUMNS)
    by_type = {(r["type"], r["request_id"]): r for r in rows}

    held = by_type[("policy.evaluated", scenario["held"])]
    assert held["team"] == "payments" and held["request_state"] == "succeeded"
    assert held["outcome"] == "pending_approval" and float(held["cost_monthly"]) > 500
    assert held["violations"] == "0" and held["decision_id"]
    assert orjson.loads(held["data"])["decision"]["outcome"] == "pending_approval"

    rejected = by_type[("policy.evaluated", scenario["rejected"])]
    assert rejected["outcome"] == "rejected" and "security/sg_admin_port_open_to_world" in rejected["rules"]

    vote = by_type[("approval.recorded", scenario["held"])]
    assert vote["verdict"] == "approve" and vote["override"] == "false"
    assert vote["comment"] == "'=SUM(A1:A9)"  # defused: a spreadsheet shows it as text
    call = next(r for r in rows if r["type"] == "cloud.call")
    assert call["cloud_operation"].startswith("ec2:") and call["http_status"] == "200"
    ev = rows[3]
    assert ev["hash"] == event_hash({**ev, "seq": int(ev["seq"]), "data": orjson.loads(ev["data"]),
                                     "request_id": ev["request_id"] or None})  # fmt: skip


def test_no_cell_can_start_a_formula():
    for bad in ("=1+1", "+1", "-1+2", "@SUM(A1)", "\tx", "\rx"):
        assert safe(bad) == "'" + bad
    assert safe("plain") == "plain" and safe(-3.5) == -3.5 and safe(None) == "" and safe(True) == "true"


def test_csv_filtered_by_outcome(gateway, auditor, scenario):
    rows = _csv(_export(gateway, auditor, format="csv", outcome="rejected"))
    assert rows and {r["request_id"] for r in rows} == {scenario["rejected"]}
    assert {r["team"] for r in rows} == {"analytics"}


def test_decision_log_lines_are_opa_decision_logs(gateway, auditor, alice, scenario):
    gateway.client.post("/v1/evaluate", json=request(instance()), headers=alice)
    everything = _lines(_export(gateway, auditor))
    policy = [
        e for e in everything if e["type"] in ("policy.evaluated", "policy.rechecked", "policy.dry_run")
    ]

    resp = _export(gateway, auditor, format="decision-log")
    logs = _lines(resp)

    assert resp.headers["content-type"].startswith("application/x-ndjson")
    assert resp.headers["content-disposition"].endswith('.decisions.jsonl"')
    assert int(resp.headers["x-ledger-events"]) == len(logs) == len(policy)
    for log, ev in zip(logs, policy, strict=True):
        assert log["timestamp"] == ev["ts"] and log["labels"] == {"app": "governance-gateway"}
        assert log["gateway"]["request_id"] == ev["request_id"]
        assert log["gateway"]["event"] == {
            "seq": ev["seq"],
            "id": ev["id"],
            "type": ev["type"],
            "hash": ev["hash"],
        }
        assert log["path"] == "gateway_entry/decision" and log["decision_id"]
        assert log["bundles"] and all(b["revision"].startswith("sha256:") for b in log["bundles"].values())
        opa = ev["data"].get("opa", {})
        for field in ("input", "result"):
            # A re-check that let a request go on keeps no OPA record, a dry run no input: erased, as OPA says.
            assert log.get(field) == opa.get(field) and (field in log) != (
                f"/{field}" in log.get("erased", [])
            )
        if opa:
            assert log["decision_id"] == opa["decision_id"] and log["bundles"] == opa["bundles"]
    evaluated = [x for x in logs if x["gateway"]["event"]["type"] == "policy.evaluated"]
    assert evaluated and all("input" in x and "result" in x and "erased" not in x for x in evaluated)
    assert {x["gateway"]["event"]["type"] for x in logs} == {
        "policy.evaluated",
        "policy.rechecked",
        "policy.dry_run",
    }
    one = _lines(_export(gateway, auditor, format="decision-log", request_id=scenario["rejected"]))
    assert [x["gateway"]["outcome"] for x in one] == ["rejected"]


def test_cli_exports_to_a_file_with_progress_and_to_stdout(
    gateway, auditor, cli, scenario, monkeypatch, tmp_path
):
    monkeypatch.setattr(cli_audit, "_client", lambda url: contextlib.nullcontext(gateway.client))
    out = tmp_path / "payments.csv"

    result = cli("audit", "export", "--format", "csv", "--team", "payments", "-o", str(out), token=auditor)

    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and not (tmp_path / "payments.csv.part").exists()
    api = _export(gateway, auditor, format="csv", team="payments").content
    assert out.read_bytes() == api

    result = cli("audit", "export", "--request", scenario["held"], token=auditor)
    assert result.exit_code == 0
    assert [orjson.loads(x)["request_id"] for x in result.stdout.splitlines()[1:-1]] == [
        scenario["held"]
    ] * len(result.stdout.splitlines()[1:-1])

    result = cli("audit", "export", "--since", "last week", "-o", str(tmp_path / "x.jsonl"), token=auditor)
    assert result.exit_code == 1 and "since:" in result.output and not (tmp_path / "x.jsonl").exists()


def test_from_and_to_are_since_and_until(gateway, auditor, scenario):
    since, until = "2026-12-01T23:00:00Z", "2026-12-02T00:00:00Z"
    assert _lines(_export(gateway, auditor, **{"from": since, "to": until})) == _lines(
        _export(gateway, auditor, since=since, until=until)
    )
