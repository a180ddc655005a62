"""ServiceNow end to end: change_request records in through the ITSM endpoint, gateway states written back onto
the record with the Table API (PATCH), in order, retried when ServiceNow is busy and not when it refuses us."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import respx
from sqlmodel import select

from gateway.adapters.store import messaging
from gateway.adapters.store.models import ItsmLink, OutboxMessage
from gateway.domain.identity import Role
from gateway.settings import Settings
from tests.factories import instance

SN = "https://acme.service-now.com"
SN_USER, SN_PASSWORD = "svc.governance", "n0t-a-real-password"
SYS_ID = "c286d61347c331005d2c8b5a3f9a9a41"
OTHER_SYS_ID = "e8caedcbc0a80164017df472f39eaed1"


def record(*resources: dict[str, Any], **fields: Any) -> dict[str, Any]:
    """A change_request as a ServiceNow business rule sends it (Table API field names, display values)."""
    rec: dict[str, Any] = {
        "sys_id": SYS_ID,
        "number": "CHG0030001",
        "short_description": "Payments web node for the December peak",
        "description": "One more t3.small web node in eu-west-1 behind the payments load balancer.",
        "justification": "Peak season capacity",
        "type": "normal",
        "state": "-4",
        "risk": "3",
        "impact": "2",
        "start_date": "2026-12-01 22:00:00",
        "end_date": "2026-12-02 02:00:00",
        "assignment_group": "Payments Engineering",
        "requested_by": "dana",
        "u_environment": "prod",
        "u_cloud_resources": json.dumps(list(resources) or [instance("web-1")]),
    }
    rec.update(fields)
    return rec


def workers(n: int = 4) -> list[dict[str, Any]]:
    """Four m5.xlarge: about 640 USD a month, above the finance threshold (500), within the payments budget."""
    return [instance(f"worker-{i}", "m5.xlarge") for i in range(n)]


@dataclass
class ServiceNow:
    """The mocked instance's Table API: records every PATCH and answers from a script of statuses."""

    statuses: list[int] = field(default_factory=list)
    patches: list[tuple[str, dict[str, Any], httpx.Request]] = field(default_factory=list)

    def __call__(self, req: httpx.Request, sys_id: str) -> httpx.Response:
        fields = json.loads(req.content)
        self.patches.append((sys_id, fields, req))
        status = self.statuses.pop(0) if self.statuses else 200
        body = {"result": {"sys_id": sys_id, **fields}} if status == 200 else {"error": {"message": "no"}}
        return httpx.Response(status, json=body)

    def states(self, sys_id: str = SYS_ID) -> list[tuple[str, str | None]]:
        return [(f["state"], f.get("approval")) for s, f, _ in self.patches if s == sys_id]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """The conftest settings plus a ServiceNow instance; the `gateway` fixture builds a fresh app from them."""
    return settings.model_copy(
        update={"servicenow_url": SN, "servicenow_user": SN_USER, "servicenow_password": SN_PASSWORD}
    )


@pytest.fixture
def snow() -> Iterator[ServiceNow]:
    """Mocks acme.service-now.com only; the real OPA on loopback stays real."""
    instance_ = ServiceNow()
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        mock.patch(url__regex=rf"^{SN}/api/now/table/change_request/(?P<sys_id>\w+)").mock(
            side_effect=instance_
        )
        yield instance_


@pytest.fixture
def integration(gateway) -> dict[str, str]:
    return gateway.token("servicenow", Role.INTEGRATION)


@pytest.fixture
def admin(gateway) -> dict[str, str]:
    return gateway.token("root", Role.ADMIN)


def post(gateway, rec: Any, headers: dict[str, str]) -> httpx.Response:
    return gateway.client.post("/v1/itsm/servicenow/change_request", json=rec, headers=headers)


def approve(gateway, rid: str, headers: dict[str, str], comment: str = "ok") -> httpx.Response:
    return gateway.client.post(
        f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": comment}, headers=headers
    )


def deliver(gateway) -> int:
    """One run of the outbox dispatcher, as the background loop makes every tick."""
    return gateway.services.dispatcher.deliver_due()


def outbox_rows(gateway) -> list[OutboxMessage]:
    with gateway.services.db.read() as s:
        return list(s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def test_an_integration_posts_a_change_request_and_gets_a_gateway_request(gateway, integration, admin, snow):
    r = post(gateway, record(), integration)

    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/v1/requests/{body['id']}"
    assert (body["team"], body["environment"], body["requester"], body["on_behalf_of"]) == (
        "payments",
        "prod",
        "servicenow",
        "dana",
    )
    assert body["request"]["change"] == {
        "type": "normal",
        "ticket": "CHG0030001",
        "window": {"start": "2026-12-01T22:00:00Z", "end": "2026-12-02T02:00:00Z"},
    }
    assert body["title"] == "Payments web node for the December peak"
    assert body["request"]["resources"][0]["properties"]["instance_type"] == "t3.small"
    assert body["itsm"]["system"] == "servicenow"
    assert (body["itsm"]["sys_id"], body["itsm"]["number"], body["itsm"]["requested_by"]) == (
        SYS_ID,
        "CHG0030001",
        "dana",
    )
    assert (body["itsm"]["risk"], body["itsm"]["impact"]) == ("3", "2")
    # A cheap change in its window needs nobody's approval: it ran at once.
    assert body["state"] == "succeeded" and body["sandbox"] is True
    assert list(body["outputs"]) == ["aws_instance.web-1"]
    seen = gateway.client.get(f"/v1/requests/{body['id']}", headers=integration).json()
    assert seen["on_behalf_of"] == "dana"

    assert deliver(gateway) == 3
    assert snow.states() == [("-2", "approved"), ("-1", "approved"), ("3", "approved")]
    last = snow.patches[-1][1]
    assert (last["close_code"], body["id"] in last["close_notes"]) == ("successful", True)


def test_only_integrations_and_admins_may_post_records(gateway, alice, bob, admin, snow):
    for headers in (alice, bob):
        r = post(gateway, record(), headers)
        assert r.status_code == 403
        assert r.headers["content-type"].startswith("application/problem+json")
    assert post(gateway, record(), {}).status_code == 401
    assert gateway.client.get("/v1/requests", headers=admin).json()["items"] == []

    assert post(gateway, record(), admin).status_code == 201


@pytest.mark.parametrize(
    ("fields", "pointers"),
    [
        ({"u_cloud_resources": '[{"action": "create", "type": "aws_instance",'}, ["/u_cloud_resources"]),
        (
            {"u_cloud_resources": json.dumps([instance("web-1", instance_type=42)])},
            ["/u_cloud_resources/0/properties/instance_type"],
        ),
        (
            {"u_cloud_resources": json.dumps([instance("a"), instance("b", region=None)])},
            ["/u_cloud_resources/1/region"],
        ),
        ({"start_date": "next Tuesday", "type": "risky"}, ["/start_date", "/type"]),
        ({"sys_id": ""}, ["/sys_id"]),
        ({"u_environment": "moon"}, ["/u_environment"]),
    ],
)
def test_broken_records_are_422_with_pointers_into_the_record(
    gateway, integration, admin, snow, fields, pointers
):
    r = post(gateway, record(**fields), integration)

    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert sorted(e["pointer"] for e in r.json()["errors"]) == pointers
    assert gateway.client.get("/v1/requests", headers=admin).json()["items"] == []
    with gateway.services.db.read() as s:
        assert s.exec(select(ItsmLink)).all() == []
    assert outbox_rows(gateway) == []


def test_the_same_record_again_is_the_same_request(gateway, integration, snow):
    first = post(gateway, record(*workers()), integration)
    assert first.status_code == 201 and first.json()["state"] == "pending_approval"

    again = post(gateway, record(*workers()), integration)

    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["content_hash"] == first.json()["content_hash"]
    assert again.headers["location"] == f"/v1/requests/{first.json()['id']}"
    assert again.json()["itsm"]["sys_id"] == SYS_ID
    assert len(gateway.client.get("/v1/requests", headers=integration).json()["items"]) == 1

    # Another integration (a second ServiceNow instance, a Jira bridge) can neither see nor take it over.
    other = gateway.token("jira", Role.INTEGRATION)
    assert post(gateway, record(*workers()), other).status_code == 403
    assert post(gateway, record(*workers(5)), other).status_code == 403


def test_a_changed_record_amends_the_pending_request_and_voids_its_votes(gateway, integration, auditor, snow):
    # 35 m5.xlarge for platform: above the 5,000 escalation, so finance must approve twice.
    big = [instance(f"w{i}", "m5.xlarge") for i in range(35)]
    rec = record(*big, assignment_group="Cloud Platform")
    rid = post(gateway, rec, integration).json()["id"]
    fin = [gateway.token(f"fin{i}", Role.APPROVER, ["finance"]) for i in range(2)]
    r = approve(gateway, rid, fin[0])
    assert r.json()["state"] == "pending_approval" and len(r.json()["approvals"]) == 1

    amended = post(gateway, record(*big[:34], assignment_group="Cloud Platform"), integration)

    assert amended.status_code == 200 and amended.json()["id"] == rid
    view = amended.json()
    assert view["state"] == "pending_approval" and view["approvals"] == []
    assert len(view["request"]["resources"]) == 34
    events = gateway.client.get(
        "/v1/audit/events", params={"request_id": rid, "type": "request.amended"}, headers=auditor
    ).json()["items"]
    assert len(events) == 1 and events[0]["data"]["votes_voided"] == 1
    # Two fresh votes are needed again.
    assert approve(gateway, rid, fin[0]).json()["state"] == "pending_approval"
    assert approve(gateway, rid, fin[1]).json()["state"] == "succeeded"
    # The record followed every step: back to Assess while the amendment was evaluated.
    assert deliver(gateway) == 6
    assert snow.states() == [
        ("-3", "requested"),
        ("-4", "not requested"),
        ("-3", "requested"),
        ("-2", "approved"),
        ("-1", "approved"),
        ("3", "approved"),
    ]


def test_every_state_change_is_patched_onto_the_record_in_order(gateway, integration, bob, snow):
    rid = post(gateway, record(*workers()), integration).json()["id"]

    assert deliver(gateway) == 1
    [(sys_id, pending, req)] = snow.patches
    assert sys_id == SYS_ID and req.method == "PATCH"
    assert str(req.url) == f"{SN}/api/now/table/change_request/{SYS_ID}?sysparm_exclude_reference_link=true"
    basic = base64.b64encode(f"{SN_USER}:{SN_PASSWORD}".encode()).decode()
    assert req.headers["authorization"] == f"Basic {basic}"
    assert req.headers["content-type"] == "application/json"
    assert (pending["state"], pending["approval"]) == ("-3", "requested")
    notes = pending["work_notes"]
    assert f"request {rid} is now pending_approval" in notes
    assert "Outcome: pending_approval" in notes and "finance" in notes and "Monthly cost:" in notes

    assert approve(gateway, rid, bob, "Q4 plan").json()["state"] == "succeeded"

    assert deliver(gateway) == 3
    assert snow.states() == [("-3", "requested"), ("-2", "approved"), ("-1", "approved"), ("3", "approved")]
    approved = snow.patches[1][1]
    assert "approve by bob: Q4 plan" in approved["work_notes"]
    closed = snow.patches[3][1]
    assert closed["close_code"] == "successful" and "now succeeded" in closed["work_notes"]
    assert deliver(gateway) == 0


def test_violations_are_written_into_the_work_notes_of_a_rejected_change(gateway, integration, snow):
    leaky = instance("web-1", root_block_device=[{"volume_size": 20, "encrypted": False}])
    r = post(gateway, record(leaky), integration)
    assert r.status_code == 201 and r.json()["state"] == "rejected"
    violations = r.json()["decision"]["violations"]
    assert violations

    deliver(gateway)

    [(_, fields, _)] = snow.patches
    assert (fields["state"], fields["approval"]) == ("-5", "rejected")
    assert "Outcome: rejected" in fields["work_notes"] and "Violations:" in fields["work_notes"]
    for v in violations:
        assert f"- {v['set']}/{v['rule']}: {v['msg']} ({v['enforcement']})" in fields["work_notes"]


def test_the_person_who_raised_the_change_cannot_approve_it(gateway, integration, bob, snow):
    dana = gateway.token("dana", Role.APPROVER, ["finance"])
    # ServiceNow logins ignore case; so does separation of duties.
    rid = post(gateway, record(*workers(), requested_by="Dana"), integration).json()["id"]

    r = gateway.client.post(f"/v1/requests/{rid}/approvals", json={"verdict": "approve"}, headers=dana)

    assert r.status_code == 403
    assert gateway.client.get(f"/v1/requests/{rid}", headers=bob).json()["state"] == "pending_approval"
    ok = approve(gateway, rid, bob)
    assert ok.status_code == 201 and ok.json()["state"] == "succeeded"


def test_a_401_from_servicenow_is_recorded_once_and_not_retried(gateway, integration, auditor, clock, snow):
    snow.statuses = [401]
    rid = post(gateway, record(*workers()), integration).json()["id"]

    assert deliver(gateway) == 1
    for _ in range(3):
        clock.advance(hours=2)
        assert deliver(gateway) == 0

    assert len(snow.patches) == 1
    events = gateway.client.get(
        "/v1/audit/events", params={"type": "delivery.failed"}, headers=auditor
    ).json()["items"]
    assert len(events) == 1
    data = events[0]["data"]
    assert events[0]["request_id"] == rid
    assert (data["kind"], data["target"], data["status"], data["attempts"]) == ("servicenow", SYS_ID, 401, 1)
    assert data["event_type"] == "request.pending_approval"
    assert "refused the credentials" in data["error"]
    # The delivery log: one message, failed after one attempt.
    with gateway.services.db.read() as s:
        [msg] = messaging.messages_for(s, kind="servicenow", target=SYS_ID)
        attempts = messaging.attempts_for(s, message_ids=[msg.id])[msg.id]
    assert (msg.status, msg.attempts) == ("failed", 1)
    assert [(a.attempt, a.ok, a.status) for a in attempts] == [(1, False, 401)]


def test_a_503_is_retried_and_later_states_wait_for_it(gateway, integration, bob, clock, snow):
    snow.statuses = [503]
    rid = post(gateway, record(*workers()), integration).json()["id"]
    assert deliver(gateway) == 1  # pending_approval: 503
    assert approve(gateway, rid, bob).json()["state"] == "succeeded"
    # Another record is not held back by this one.
    other = post(gateway, record(sys_id=OTHER_SYS_ID, number="CHG0030002"), integration).json()
    assert other["state"] == "succeeded"

    assert deliver(gateway) == 3
    # approved, executing and succeeded wait behind the failed pending_approval update.
    assert snow.states() == [("-3", "requested")]
    assert snow.states(OTHER_SYS_ID) == [("-2", "approved"), ("-1", "approved"), ("3", "approved")]

    clock.advance(hours=2)
    assert deliver(gateway) == 4

    assert snow.states() == [
        ("-3", "requested"),
        ("-3", "requested"),
        ("-2", "approved"),
        ("-1", "approved"),
        ("3", "approved"),
    ]
    rows = [m for m in outbox_rows(gateway) if m.target == SYS_ID]
    assert [(m.event_type, m.status, m.attempts) for m in rows] == [
        ("request.pending_approval", "delivered", 2),
        ("request.approved", "delivered", 1),
        ("request.executing", "delivered", 1),
        ("request.succeeded", "delivered", 1),
    ]


def test_a_revised_record_after_a_rejection_is_a_new_request(gateway, integration, auditor, snow):
    leaky = instance("web-1", root_block_device=[{"volume_size": 20, "encrypted": False}])
    rejected = post(gateway, record(leaky), integration).json()
    assert rejected["state"] == "rejected"
    # ServiceNow puts the change back to New; the requester fixes it and the business rule sends it again.
    resent = post(gateway, record(leaky), integration)
    assert resent.status_code == 200 and resent.json()["id"] == rejected["id"]

    revised = post(gateway, record(instance("web-1"), requested_by="erin"), integration)

    assert revised.status_code == 201, revised.text
    body = revised.json()
    assert body["id"] != rejected["id"] and body["state"] == "succeeded" and body["on_behalf_of"] == "erin"
    assert (body["itsm"]["sys_id"], body["itsm"]["requested_by"]) == (SYS_ID, "erin")
    # The record now follows the new request; the rejected one is left as it was.
    again = post(gateway, record(instance("web-1"), requested_by="erin"), integration)
    assert again.status_code == 200 and again.json()["id"] == body["id"]
    old = gateway.client.get(f"/v1/requests/{rejected['id']}", headers=auditor).json()
    assert (old["state"], old["on_behalf_of"]) == ("rejected", "dana")
    assert deliver(gateway) == 4
    assert snow.states() == [("-5", "rejected"), ("-2", "approved"), ("-1", "approved"), ("3", "approved")]
    assert gateway.client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True


def test_racing_resubmissions_make_one_new_request(gateway, integration, admin, snow):
    leaky = instance("web-1", root_block_device=[{"volume_size": 20, "encrypted": False}])
    rejected = post(gateway, record(leaky), integration).json()["id"]
    revised = record(*workers())

    with ThreadPoolExecutor(4) as pool:
        codes = sorted(pool.map(lambda _: post(gateway, revised, integration).status_code, range(4)))

    assert codes.count(201) == 1 and set(codes) <= {200, 201, 409}
    items = gateway.client.get("/v1/requests", headers=admin).json()["items"]
    assert sorted(r["state"] for r in items) == ["pending_approval", "rejected"]
    assert {r["id"] for r in items} - {rejected} == {post(gateway, revised, integration).json()["id"]}


def test_a_record_cannot_change_who_requested_it(gateway, integration, snow):
    erin = gateway.token("erin", Role.APPROVER, ["finance"])
    rid = post(gateway, record(*workers()), integration).json()["id"]

    # Were erin to become the request's requested_by, she must not approve it; nor may dana, who raised it.
    r = post(gateway, record(*workers(5), requested_by="erin"), integration)

    assert r.status_code == 409, r.text
    assert r.json()["errors"][0]["pointer"] == "/requested_by" and r.json()["request_id"] == rid
    view = gateway.client.get(f"/v1/requests/{rid}", headers=erin).json()
    assert (view["on_behalf_of"], len(view["request"]["resources"])) == ("dana", 4)
    assert post(gateway, record(*workers(), requested_by="erin"), integration).status_code == 409
    assert post(gateway, record(*workers()), integration).status_code == 200


def test_a_retry_after_the_change_window_closed_is_still_the_same_request(
    gateway, integration, auditor, clock, snow
):
    rid = post(gateway, record(), integration).json()["id"]
    clock.advance(hours=5)  # the window ended at 02:00; a business rule retries the same record at 03:30

    again = post(gateway, record(), integration)

    assert again.status_code == 200, again.text
    assert again.json()["id"] == rid and again.json()["state"] == "succeeded"
    invalid = gateway.client.get("/v1/audit/events", params={"type": "request.invalid"}, headers=auditor)
    assert invalid.json()["items"] == []
    # A changed record is still checked: its window is over, so it could never run.
    late = post(gateway, record(instance("web-2")), integration)
    assert late.status_code == 422 and late.json()["errors"][0]["pointer"] == "/end_date"
