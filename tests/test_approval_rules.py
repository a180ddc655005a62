"""Approval rules: quorum per group, one vote per person, vote expiry, content binding, separation of duties."""

from __future__ import annotations

import json
import shutil

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from gateway.domain.identity import Role
from tests.conftest import POLICY_DIR, Gateway
from tests.factories import expensive, instance, request


def _big(n: int = 35) -> dict:
    """About 5,600 USD a month for platform: above the 5,000 escalation, so finance must approve twice."""
    return request(*[instance(f"w{i}", "m5.xlarge") for i in range(n)], team="platform")


def _vote(gw: Gateway, rid: str, headers: dict[str, str], verdict: str = "approve", **extra: object):
    return gw.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": verdict, "comment": "ok", **extra},
                          headers=headers)  # fmt: skip


@pytest.fixture
def platform(gateway):
    return gateway.token("pat", Role.REQUESTER, ["platform"])


@pytest.fixture
def finance(gateway):
    return [gateway.token(f"fin{i}", Role.APPROVER, ["finance"]) for i in range(3)]


def test_a_group_needs_its_quorum_of_different_people(gateway, platform, finance):
    r = gateway.submit(_big(), platform)
    body = r.json()
    assert r.status_code == 201, body
    assert body["decision"]["required_approvals"][0]["count"] == 2
    rid = body["id"]

    assert _vote(gateway, rid, finance[0]).json()["state"] == "pending_approval"
    again = _vote(gateway, rid, finance[0])
    assert again.status_code == 403 and "already voted" in again.json()["detail"]

    done = _vote(gateway, rid, finance[1]).json()
    assert done["state"] == "succeeded"
    assert [a["principal"] for a in done["approvals"]] == ["fin0", "fin1"]


def test_an_approval_older_than_the_expiry_does_not_count(gateway, clock, platform, finance):
    rid = gateway.submit(_big(), platform).json()["id"]
    _vote(gateway, rid, finance[0])
    clock.advance(hours=73)  # the default expiry is 72 hours

    view = _vote(gateway, rid, finance[1]).json()
    assert view["state"] == "pending_approval"  # fin0's vote has expired: one live vote of two
    assert [(a["principal"], a["counts"]) for a in view["approvals"]] == [("fin0", False), ("fin1", True)]

    # The expired voter may vote again, and then the quorum is there.
    assert _vote(gateway, rid, finance[0]).json()["state"] == "succeeded"


def test_amending_a_request_voids_its_votes_and_is_allowed_only_before_approval(
    gateway, platform, finance, auditor
):
    rid = gateway.submit(_big(35), platform).json()["id"]
    _vote(gateway, rid, finance[0])

    other = gateway.token("pia", Role.REQUESTER, ["platform"])
    assert gateway.client.put(f"/v1/requests/{rid}", json=_big(36), headers=other).status_code == 403
    # Not an admin either: it could then approve content it wrote itself.
    root = gateway.token("root", Role.ADMIN, ["finance"])
    assert gateway.client.put(f"/v1/requests/{rid}", json=_big(36), headers=root).status_code == 403

    amended = gateway.client.put(f"/v1/requests/{rid}", json=_big(36), headers=platform)
    assert amended.status_code == 200
    view = amended.json()
    assert view["state"] == "pending_approval" and view["approvals"] == []
    assert len(view["request"]["resources"]) == 36

    events = gateway.client.get("/v1/audit/events", params={"request_id": rid, "type": "request.amended"},
                                headers=auditor).json()["items"]  # fmt: skip
    assert events[0]["data"]["votes_voided"] == 1
    assert events[0]["data"]["previous_hash"] != view["content_hash"]

    # fin0's earlier vote was on other content: fin0 and fin1 are both needed again.
    assert _vote(gateway, rid, finance[0]).json()["state"] == "pending_approval"
    assert _vote(gateway, rid, finance[1]).json()["state"] == "succeeded"

    late = gateway.client.put(f"/v1/requests/{rid}", json=_big(34), headers=platform)
    assert late.status_code == 409 and "before it is approved" in late.json()["detail"]


def test_an_amendment_with_a_schema_error_changes_nothing(gateway, alice, bob):
    rid = gateway.submit(expensive(), alice).json()["id"]
    before = gateway.client.get(f"/v1/requests/{rid}", headers=alice).json()
    broken = expensive()
    broken["resources"][0]["properties"]["instance_type"] = 7
    r = gateway.client.put(f"/v1/requests/{rid}", json=broken, headers=alice)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/resources/0/properties/instance_type"
    after = gateway.client.get(f"/v1/requests/{rid}", headers=alice).json()
    assert after["content_hash"] == before["content_hash"] and after["state"] == "pending_approval"


def test_a_request_waiting_too_long_for_approval_expires(gateway, clock, alice, bob):
    rid = gateway.submit(expensive(), alice).json()["id"]
    clock.advance(hours=167)
    gateway.services.scheduler.tick()
    assert gateway.client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "pending_approval"

    clock.advance(hours=2)  # past the default 168 hours
    gateway.services.scheduler.tick()
    assert gateway.client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "expired"
    assert _vote(gateway, rid, bob).status_code == 409


CAB_SET = """
  - name: cab
    bundle: cab
    query: data.gateway.cab
    enforcement: hard-mandatory
    profile: native
    rego_version: v1
    override_group: null
"""

CAB_POLICY = """package gateway.cab

# Staging changes need the security team and the platform leads.
require_approval contains {"group": group, "count": 1, "reason": "staging CAB", "shared": data.data.cab.shared} if {
	input.request.environment == "staging"
	some group in ["security", "platform-leads"]
}
"""


@pytest.fixture(params=[False, True], ids=["separate", "shared"])
def cab(request, settings, clock, tmp_path):
    """A gateway whose policies ask two groups to approve staging changes; `shared` says whether one person in
    both groups may satisfy both."""
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("*_test.rego"))
    (target / "cab").mkdir()
    (target / "cab" / "cab.rego").write_text(CAB_POLICY)
    (target / "data" / "cab.json").write_text(json.dumps({"cab": {"shared": request.param}}))
    with (target / "policy-sets.yaml").open("a") as fh:
        fh.write(CAB_SET)
    app = create_app(settings.model_copy(update={"opa_url": None, "policy_dir": target}), clock=clock)
    with TestClient(app) as client:
        yield Gateway(client), request.param


def test_one_person_satisfies_two_groups_only_where_policy_allows(cab):
    gw, shared = cab
    alice = gw.token("alice", Role.REQUESTER, ["payments"])
    both = gw.token("sam", Role.APPROVER, ["security", "platform-leads"])
    lead = gw.token("lee", Role.APPROVER, ["platform-leads"])
    body = request(instance(), env="staging")
    body["change"] = {"type": "normal", "ticket": "CHG0031337"}
    rid = gw.submit(body, alice).json()["id"]

    view = _vote(gw, rid, both, group="security").json()
    if shared:
        assert view["state"] == "succeeded"
        assert sorted(a["group"] for a in view["approvals"]) == ["platform-leads", "security"]
        return
    assert view["state"] == "pending_approval"
    assert [a["group"] for a in view["approvals"]] == ["security"]
    assert _vote(gw, rid, both, group="platform-leads").status_code == 403  # one vote per person
    assert _vote(gw, rid, lead).json()["state"] == "succeeded"


@pytest.mark.parametrize("cab", [False], indirect=True, ids=["separate"])
def test_an_approver_in_several_groups_chooses_which_one_its_vote_is_for(cab):
    gw, _ = cab
    alice = gw.token("alice", Role.REQUESTER, ["payments"])
    both = gw.token("sam", Role.APPROVER, ["security", "platform-leads"])
    body = request(instance(), env="staging")
    body["change"] = {"type": "normal", "ticket": "CHG0031337"}
    rid = gw.submit(body, alice).json()["id"]
    view = _vote(gw, rid, both, group="platform-leads").json()
    assert [a["group"] for a in view["approvals"]] == ["platform-leads"]
    assert _vote(gw, rid, gw.token("ops", Role.APPROVER, ["finance"]), group="security").status_code == 403


def test_an_expiry_found_due_does_not_undo_an_approval_given_meanwhile(gateway, clock, alice, bob):
    from gateway.adapters.store import repositories as repo
    from gateway.errors import Conflict

    rid = gateway.submit(expensive(), alice).json()["id"]
    clock.advance(hours=169)
    scheduler = gateway.services.scheduler
    with gateway.services.db.read() as s:
        rows = repo.due_requests(
            s, now=clock.now(), pending_before=clock.now() - scheduler.pending_expiry, limit=9
        )
    steps = [
        scheduler._due(r, clock.now()) for r in rows
    ]  # the scheduler has picked the request to expire...
    assert _vote(gateway, rid, bob).json()["state"] == "succeeded"  # ...when finance approves it
    for step in steps:
        assert step is not None
        with pytest.raises(Conflict):
            step()
    assert gateway.client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "succeeded"


def test_racing_votes_on_a_quorum_of_two_make_one_approval(gateway, platform, finance, auditor):
    from concurrent.futures import ThreadPoolExecutor

    rid = gateway.submit(_big(), platform).json()["id"]
    with ThreadPoolExecutor(3) as pool:
        codes = sorted(pool.map(lambda h: _vote(gateway, rid, h).status_code, finance))
    assert codes == [201, 201, 409]  # the third finds the request approved already
    events = gateway.client.get("/v1/audit/events", params={"request_id": rid}, headers=auditor).json()[
        "items"
    ]
    types = [e["type"] for e in events]
    assert types.count("approval.recorded") == 2
    assert types.count("request.approved") == 1 and types.count("execution.started") == 1


def test_a_vote_for_content_that_was_amended_since_is_refused(gateway, platform, finance):
    first = gateway.submit(_big(35), platform).json()
    gateway.client.put(f"/v1/requests/{first['id']}", json=_big(36), headers=platform)
    # fin0 reviewed the first version; the request now holds another.
    stale = _vote(gateway, first["id"], finance[0], content_hash=first["content_hash"])
    assert stale.status_code == 409 and stale.json()["errors"][0]["pointer"] == "/content_hash"
    current = gateway.client.get(f"/v1/requests/{first['id']}", headers=platform).json()["content_hash"]
    assert _vote(gateway, first["id"], finance[0], content_hash=current).status_code == 201


def test_amending_back_to_earlier_content_does_not_bring_its_votes_back(gateway, platform, finance):
    rid = gateway.submit(_big(35), platform).json()["id"]
    _vote(gateway, rid, finance[0])
    gateway.client.put(f"/v1/requests/{rid}", json=_big(36), headers=platform)
    view = gateway.client.put(f"/v1/requests/{rid}", json=_big(35), headers=platform).json()
    assert view["approvals"] == []  # fin0 voted on this content once, in an earlier round
    assert _vote(gateway, rid, finance[1]).json()["state"] == "pending_approval"  # one live vote of two


def test_a_vote_for_an_earlier_approval_round_is_refused(gateway, platform, finance):
    body = gateway.submit(_big(35), platform).json()
    gateway.client.put(f"/v1/requests/{body['id']}", json=_big(36), headers=platform)
    gateway.client.put(f"/v1/requests/{body['id']}", json=_big(35), headers=platform)
    # Same content as fin0 saw, but it has been back through policy since.
    stale = _vote(
        gateway,
        body["id"],
        finance[0],
        content_hash=body["content_hash"],
        approval_round=body["approval_round"],
    )
    assert stale.status_code == 409 and stale.json()["errors"][0]["pointer"] == "/approval_round"
