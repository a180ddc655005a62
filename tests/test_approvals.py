"""Stage 3: who may approve, and what happens when they do."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import text

from gateway.domain.identity import Role
from tests.factories import expensive, instance, request


def test_requester_cannot_approve_their_own_request(gateway):
    # alice may submit and approve, and is in finance: still not her own request.
    alice = gateway.token("alice", Role.ADMIN, ["finance"])
    rid = gateway.submit(expensive(), alice).json()["id"]

    r = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve"}, headers=alice)

    assert r.status_code == 403
    assert "own request" in r.json()["detail"]
    assert gateway.client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "pending_approval"


def test_only_members_of_a_required_group_can_vote(gateway, alice):
    outsider = gateway.token("dave", Role.APPROVER, ["security"])
    requester_role = gateway.token("erin", Role.REQUESTER, ["finance"])
    rid = gateway.submit(expensive(), alice).json()["id"]

    # An approver outside the needed groups is refused; a requester of another team does not even see it.
    for headers, status in ((outsider, 403), (requester_role, 404)):
        r = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve"}, headers=headers)
        assert r.status_code == status


def test_finance_approval_executes_the_request(gateway, alice, bob):
    rid = gateway.submit(expensive(n=4), alice).json()["id"]

    r = gateway.client.post(
        f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "Q4 plan"}, headers=bob
    )

    assert r.status_code == 201
    body = r.json()
    assert body["state"] == "succeeded"
    assert [(v["principal"], v["group"], v["verdict"]) for v in body["approvals"]] == [
        ("bob", "finance", "approve")
    ]
    assert len(body["outputs"]) == 4
    assert all(o["id"].startswith("i-") for o in body["outputs"].values())


def test_a_rejection_needs_a_comment_and_ends_the_request(gateway, alice, bob):
    rid = gateway.submit(expensive(), alice).json()["id"]

    r = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "reject"}, headers=bob)
    assert r.status_code == 422 and r.json()["errors"][0]["pointer"] == "/comment"

    r = gateway.client.post(
        f"/v1/requests/{rid}/approvals",
        json={"verdict": "reject", "comment": "not this quarter"},
        headers=bob,
    )
    assert r.json()["state"] == "rejected" and r.json()["outputs"] == {}


def test_overriding_a_budget_violation_needs_a_justification(gateway, alice, bob):
    body = request(*[instance(f"w{i}", "m5.xlarge") for i in range(14)], team="analytics")
    rid = gateway.submit(body, alice).json()["id"]

    r = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve"}, headers=bob)
    assert r.status_code == 422 and "justification" in r.json()["detail"]

    r = gateway.client.post(
        f"/v1/requests/{rid}/approvals",
        json={"verdict": "approve", "comment": "budget raise agreed"},
        headers=bob,
    )
    assert r.json()["state"] == "succeeded"


def test_votes_on_a_closed_request_conflict(gateway, alice, bob):
    rid = gateway.submit(request(instance()), alice).json()["id"]  # approved and executed at once
    r = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve"}, headers=bob)
    assert r.status_code == 409


def test_two_racing_approvals_make_one_transition(gateway, alice, auditor):
    approvers = [gateway.token(f"fin{i}", Role.APPROVER, ["finance"]) for i in range(4)]
    rid = gateway.submit(expensive(), alice).json()["id"]

    def vote(h):
        return gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "ok"},
                                   headers=h).status_code  # fmt: skip

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(vote, approvers))

    assert codes.count(201) == 1 and set(codes[1:]) <= {403, 409}
    events = gateway.client.get("/v1/audit/events", params={"request_id": rid}, headers=auditor).json()[
        "items"
    ]
    types = [e["type"] for e in events]
    assert types.count("request.approved") == 1 and types.count("execution.started") == 1


def test_requester_can_cancel_an_open_request_and_others_cannot(gateway, alice, bob):
    rid = gateway.submit(expensive(), alice).json()["id"]
    assert gateway.client.post(f"/v1/requests/{rid}/cancel", headers=bob).status_code == 403
    r = gateway.client.post(f"/v1/requests/{rid}/cancel", headers=alice)
    assert r.json()["state"] == "cancelled"
    assert gateway.client.post(f"/v1/requests/{rid}/cancel", headers=alice).status_code == 409


def test_approved_request_whose_target_was_retired_is_rejected_at_recheck(gateway, alice, bob, auditor):
    iid = gateway.submit(request(instance("app")), alice).json()["outputs"]["aws_instance.app"]["id"]
    upd = {
        "action": "update",
        "type": "aws_instance",
        "name": "app",
        "id": iid,
        "properties": {"instance_type": "m5.xlarge"},
    }
    body = request(upd, *[instance(f"w{i}", "m5.xlarge") for i in range(3)])
    rid = gateway.submit(body, alice).json()["id"]
    # Another change retires the instance while this one waits for finance.
    with gateway.services.db.engine.begin() as conn:
        conn.execute(text("UPDATE inventory SET status = 'retired' WHERE id = :id"), {"id": iid})

    r = gateway.client.post(
        f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "ok"}, headers=bob
    )

    assert r.status_code == 201
    assert r.json()["state"] == "rejected" and r.json()["outputs"] == {}
    events = gateway.client.get("/v1/audit/events", params={"request_id": rid}, headers=auditor).json()[
        "items"
    ]
    stopped = [e for e in events if e["type"] == "policy.rechecked"]
    assert stopped and "not in the gateway's inventory" in stopped[0]["data"]["errors"][0]["detail"]
