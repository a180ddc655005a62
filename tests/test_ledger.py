"""The audit ledger: every stage appends, the chain verifies, and tampering is named."""

from __future__ import annotations

import itertools

import orjson

from gateway.ledger.chain import GENESIS, verify
from tests.factories import expensive, instance, request


def _export(gateway, auditor) -> list[dict]:
    r = gateway.client.get("/v1/audit/export", params={"format": "jsonl"}, headers=auditor)
    assert r.status_code == 200
    lines = [orjson.loads(line) for line in r.content.splitlines()]
    return [x for x in lines if not ({"header", "checkpoint", "trailer"} & set(x))]


def test_chain_links_every_event_and_verifies(gateway, alice, bob, auditor):
    rid = gateway.submit(expensive(), alice).json()["id"]
    gateway.client.post(
        f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "ok"}, headers=bob
    )

    events = _export(gateway, auditor)
    assert events[0]["prev_hash"] == GENESIS
    assert all(b["prev_hash"] == a["hash"] for a, b in itertools.pairwise(events))
    trail = [e["type"] for e in events if e["request_id"] == rid]
    for expected in ("request.submitted", "policy.evaluated", "request.pending_approval", "approval.recorded",
                     "request.approved", "policy.rechecked", "execution.started", "cloud.call",
                     "execution.succeeded"):  # fmt: skip
        assert expected in trail
    assert gateway.client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True


def test_policy_events_carry_decision_log_fields(gateway, alice, auditor):
    gateway.submit(request(instance()), alice)
    ev = next(e for e in _export(gateway, auditor) if e["type"] == "policy.evaluated")
    opa = ev["data"]["opa"]
    assert opa["decision_id"] == ev["data"]["decision"]["decision_id"]
    assert opa["path"] == "gateway_entry/decision"
    assert set(opa["bundles"]) == {"security", "cost", "compliance", "lib", "data", "gateway-entry"}
    assert all(b["revision"].startswith("sha256:") for b in opa["bundles"].values())
    assert set(opa["result"]) == {"security", "cost", "compliance"} and "deny" in opa["result"]["security"]
    assert opa["input"]["resource_changes"][0]["address"] == "aws_instance.web-1"


def test_verify_names_a_recomputed_forgery_by_its_link():
    events = []
    prev = GENESIS
    from gateway.ledger.chain import event_hash

    for seq in (1, 2, 3):
        ev = {"seq": seq, "id": f"e{seq}", "ts": "t", "type": "x", "request_id": None, "actor": "a",
              "data": {"n": seq}, "prev_hash": prev}  # fmt: skip
        ev["hash"] = event_hash(ev)
        prev = ev["hash"]
        events.append(ev)
    forged = dict(events[1], data={"n": 99})
    forged["hash"] = event_hash(forged)  # recomputed, but event 3 still links to the original
    result = verify([events[0], forged, events[2]])
    assert not result.ok and result.first_bad_seq == 3
