"""Emergency changes: one ECAB vote instead of the usual approvals, then a post-implementation review."""

from __future__ import annotations

from gateway.domain.identity import Role
from tests.factories import expensive


def _emergency() -> dict:
    body = expensive(env="prod")  # would need finance as a normal change
    body["change"] = {"type": "emergency", "ticket": "CHG0099001"}
    return body


def test_an_emergency_change_needs_one_ecab_vote_and_then_a_review(gateway, alice, bob, auditor):
    ecab = gateway.token("erin", Role.APPROVER, ["ecab"])
    reviewer = gateway.token("rui", Role.APPROVER, ["ecab"])
    body = gateway.submit(_emergency(), alice).json()
    rid = body["id"]
    required = body["decision"]["required_approvals"]
    assert [(a["group"], a["count"]) for a in required] == [("ecab", 1)]
    assert "in place of" in required[0]["reason"] and "approval threshold" in required[0]["reason"]
    assert body["review"] is None  # reviewed once carried out

    # Finance is not asked any more; a review before the change is made makes no sense.
    finance = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve"}, headers=bob)
    assert finance.status_code == 403
    early = gateway.client.post(f"/v1/requests/{rid}/review", json={"comment": "fine"}, headers=reviewer)
    assert early.status_code == 409

    done = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "outage"},
                               headers=ecab).json()  # fmt: skip
    assert done["state"] == "succeeded" and done["review"] == "pending"

    pending = gateway.client.get("/v1/requests", params={"review": "pending"}, headers=auditor).json()[
        "items"
    ]
    assert [r["id"] for r in pending] == [rid]
    assert (
        gateway.client.post(f"/v1/requests/{rid}/review", json={"comment": "ok"}, headers=alice).status_code
        == 403
    )
    assert (
        gateway.client.post(f"/v1/requests/{rid}/review", json={"comment": "ok"}, headers=auditor).status_code
        == 403
    )
    assert (
        gateway.client.post(f"/v1/requests/{rid}/review", json={"comment": " "}, headers=reviewer).status_code
        == 422
    )

    reviewed = gateway.client.post(
        f"/v1/requests/{rid}/review", json={"comment": "root cause fixed; capacity stays"}, headers=reviewer
    )
    assert reviewed.status_code == 200 and reviewed.json()["review"] == "done"
    events = gateway.client.get("/v1/audit/events", params={"request_id": rid, "type": "review.completed"},
                                headers=auditor).json()["items"]  # fmt: skip
    assert events[0]["actor"] == "rui" and "root cause" in events[0]["data"]["comment"]
    again = gateway.client.post(f"/v1/requests/{rid}/review", json={"comment": "twice"}, headers=reviewer)
    assert again.status_code == 409


def test_a_normal_change_has_no_review(gateway, alice, bob):
    rid = gateway.submit(expensive(), alice).json()["id"]
    view = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "ok"},
                               headers=bob).json()  # fmt: skip
    assert view["state"] == "succeeded" and view["review"] is None


def test_an_emergency_change_that_is_rejected_needs_no_review(gateway, alice):
    ecab = gateway.token("erin", Role.APPROVER, ["ecab"])
    rid = gateway.submit(_emergency(), alice).json()["id"]
    view = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "reject", "comment": "not urgent"},
                               headers=ecab).json()  # fmt: skip
    assert view["state"] == "rejected" and view["review"] is None
