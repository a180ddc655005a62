"""Change windows, freezes and the policy re-check right before the cloud is called."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from gateway.app import create_app
from tests.conftest import POLICY_DIR, Gateway
from tests.factories import expensive, instance, request

TOMORROW = {"start": "2026-12-02T22:00:00Z", "end": "2026-12-03T02:00:00Z"}


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _prod(*resources: dict, window: dict = TOMORROW) -> dict:
    body = request(*(resources or [instance()]), env="prod")
    body["change"]["window"] = dict(window)
    return body


def _state(gw: Gateway, rid: str, headers: dict[str, str]) -> dict:
    return gw.client.get(f"/v1/requests/{rid}", headers=headers).json()


def _events(gw: Gateway, rid: str, auditor: dict[str, str]) -> list[dict]:
    return gw.client.get("/v1/audit/events", params={"request_id": rid}, headers=auditor).json()["items"]


def test_an_approved_request_waits_for_its_window_then_runs(gateway, clock, alice, auditor):
    body = gateway.submit(_prod(), alice).json()
    rid = body["id"]
    assert body["state"] == "scheduled" and body["outputs"] == {}
    assert body["window"] == TOMORROW

    clock.set(_at("2026-12-02T21:59:00Z"))
    gateway.services.scheduler.tick()
    assert _state(gateway, rid, alice)["state"] == "scheduled"

    clock.set(_at("2026-12-02T22:01:00Z"))
    gateway.services.scheduler.tick()
    done = _state(gateway, rid, alice)
    assert done["state"] == "succeeded" and len(done["outputs"]) == 1
    types = [e["type"] for e in _events(gateway, rid, auditor)]
    assert (
        types.index("request.scheduled") < types.index("policy.rechecked") < types.index("execution.started")
    )


def test_a_scheduled_request_whose_window_passes_unexecuted_expires(gateway, clock, alice, auditor):
    rid = gateway.submit(_prod(), alice).json()["id"]
    clock.set(_at("2026-12-03T02:00:00Z"))  # the gateway was down for the whole window
    gateway.services.scheduler.tick()
    view = _state(gateway, rid, alice)
    assert view["state"] == "expired" and view["outputs"] == {}
    expired = [e for e in _events(gateway, rid, auditor) if e["type"] == "request.expired"]
    assert "window ended" in expired[0]["data"]["reason"]
    assert "execution.started" not in [e["type"] for e in _events(gateway, rid, auditor)]


def test_a_request_still_waiting_for_approval_when_its_window_closes_expires(gateway, clock, alice, bob):
    body = expensive(env="prod")
    body["change"]["window"] = dict(TOMORROW)
    rid = gateway.submit(body, alice).json()["id"]
    clock.set(_at("2026-12-03T02:30:00Z"))
    gateway.services.scheduler.tick()
    assert _state(gateway, rid, alice)["state"] == "expired"
    r = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "late"},
                            headers=bob)  # fmt: skip
    assert r.status_code == 409


def test_a_window_that_is_already_over_is_refused_at_submission(gateway, alice):
    r = gateway.submit(_prod(window={"start": "2026-11-30T22:00:00Z", "end": "2026-12-01T02:00:00Z"}), alice)
    assert r.status_code == 422
    assert r.json()["errors"][0]["pointer"] == "/change/window/end"


REVIEW_SET = """
  - name: review
    bundle: review
    query: data.gateway.review
    enforcement: hard-mandatory
    profile: native
    rego_version: v1
    override_group: null
"""

REVIEW_POLICY = """package gateway.review

require_approval contains {"group": "security", "count": 1, "reason": "every change is reviewed now"} if true
"""


@pytest.fixture
def own(settings, clock, tmp_path):
    """A gateway with its own OPA on a private copy of the policies, so tests can change them."""
    target = tmp_path / "policies"
    shutil.copytree(POLICY_DIR, target, ignore=shutil.ignore_patterns("*_test.rego"))
    app = create_app(settings.model_copy(update={"opa_url": None, "policy_dir": target}), clock=clock)
    with TestClient(app) as client:
        yield Gateway(client), target


def test_a_freeze_added_after_approval_blocks_execution(own, clock):
    gw, policies = own
    alice, auditor = gw.token("alice", groups=["payments"]), gw.token("carol", role="auditor")
    rid = gw.submit(_prod(), alice).json()["id"]
    assert _state(gw, rid, alice)["state"] == "scheduled"

    calendar = json.loads((policies / "data" / "calendar.json").read_text())
    calendar["calendar"]["freezes"].append(
        {"name": "incident freeze", "start": "2026-12-02T12:00:00Z", "end": "2026-12-04T00:00:00Z",
         "environments": ["prod"]}
    )  # fmt: skip
    (policies / "data" / "calendar.json").write_text(json.dumps(calendar))
    clock.set(_at("2026-12-02T22:01:00Z"))
    gw.services.scheduler.tick()

    view = _state(gw, rid, alice)
    assert view["state"] == "rejected" and view["outputs"] == {}
    stopped = next(e for e in _events(gw, rid, auditor) if e["type"] == "policy.rechecked")["data"]
    assert stopped["stopped"] is True
    assert [v["rule"] for v in stopped["decision"]["violations"]] == ["change_freeze_conflict"]
    assert stopped["revisions"]["before"]["data"] != stopped["revisions"]["now"]["data"]


def test_a_new_approval_requirement_at_recheck_sends_the_request_back_for_approval(own, clock):
    gw, policies = own
    alice, auditor = gw.token("alice", groups=["payments"]), gw.token("carol", role="auditor")
    rid = gw.submit(_prod(), alice).json()["id"]

    (policies / "review").mkdir()
    (policies / "review" / "review.rego").write_text(REVIEW_POLICY)
    with (policies / "policy-sets.yaml").open("a") as fh:
        fh.write(REVIEW_SET)
    clock.set(_at("2026-12-02T22:01:00Z"))
    gw.services.scheduler.tick()

    view = _state(gw, rid, alice)
    assert view["state"] == "pending_approval" and view["outputs"] == {}
    assert [a["group"] for a in view["decision"]["required_approvals"]] == ["security"]
    assert "execution.started" not in [e["type"] for e in _events(gw, rid, auditor)]

    sec = gw.token("sec", role="approver", groups=["security"])
    r = gw.client.post(
        f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "ok"}, headers=sec
    )
    assert r.json()["state"] == "succeeded"


def test_due_work_is_found_behind_many_requests_that_are_not_due(gateway, clock, alice):
    for _ in range(25):
        gateway.submit(expensive(), alice)  # older, waiting for finance, not due
    rid = gateway.submit(_prod(), alice).json()["id"]  # scheduled for tomorrow's window
    clock.set(_at("2026-12-02T22:01:00Z"))
    assert gateway.services.scheduler.tick(limit=5) == 1
    assert _state(gateway, rid, alice)["state"] == "succeeded"


def test_a_window_written_in_lower_case_rfc_3339_is_understood(gateway, alice):
    r = gateway.submit(_prod(window={"start": "2026-12-02t22:00:00z", "end": "2026-12-03t02:00:00z"}), alice)
    assert r.status_code == 201 and r.json()["state"] == "scheduled"
    assert r.json()["window"] == TOMORROW


def test_a_new_violation_for_the_same_approvers_still_stops_execution(gateway, clock, alice, bob):
    """Finance approved a 640 USD change; before its window opens another change uses up the team's budget.
    The re-check finds a budget violation that finance must override: the earlier approval does not cover it."""
    held = expensive(env="prod")
    held["team"] = "analytics"
    held["change"]["window"] = dict(TOMORROW)
    rid = gateway.submit(held, alice).json()["id"]
    vote = {"verdict": "approve", "comment": "Q4 plan"}
    assert (
        gateway.client.post(f"/v1/requests/{rid}/approvals", json=vote, headers=bob).json()["state"]
        == "scheduled"
    )

    big = request(*[instance(f"w{i}", "m5.xlarge") for i in range(10)], team="analytics")
    other = gateway.submit(big, alice).json()["id"]
    assert (
        gateway.client.post(f"/v1/requests/{other}/approvals", json=vote, headers=bob).json()["state"]
        == "succeeded"
    )

    clock.set(_at("2026-12-02T22:01:00Z"))
    gateway.services.scheduler.tick()
    view = _state(gateway, rid, alice)
    assert view["state"] == "pending_approval" and view["outputs"] == {}
    assert [v["rule"] for v in view["decision"]["violations"]] == ["team_budget_exceeded"]
    assert view["decision"]["required_approvals"][0]["override"] is True
    # bob's earlier vote did not cover the override: a new round, in which he (or another) decides again.
    assert view["approvals"] == []
    again = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve"}, headers=bob)
    assert again.status_code == 422  # an override needs its justification
    vote = {"verdict": "approve", "comment": "budget raise agreed with finance"}
    assert (
        gateway.client.post(f"/v1/requests/{rid}/approvals", json=vote, headers=bob).json()["state"]
        == "succeeded"
    )
