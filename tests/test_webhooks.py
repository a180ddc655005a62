"""Webhooks: admin-managed subscriptions, signed deliveries from the transactional outbox, retries with backoff
(also across a restart), permanent failures recorded in the ledger, and nothing sent for a rolled-back change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from fastapi.testclient import TestClient
from sqlmodel import select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from gateway.adapters.store.models import OutboxMessage
from gateway.app import create_app
from gateway.domain.identity import Role
from gateway.domain.states import State
from gateway.pipeline import outbox, tokens
from tests.factories import expensive, instance, request

HOOKS = "https://hooks.example.test"


@dataclass
class Receiver:
    """A webhook endpoint on a mocked host: checks every signature and answers from a script of statuses."""

    secret: str
    statuses: list[int] = field(default_factory=list)
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)

    def __call__(self, req: httpx.Request) -> httpx.Response:
        headers = dict(req.headers)
        # Raises on a bad signature or a stale timestamp: the gateway then sees an error, and the test fails.
        payload = Webhook(self.secret).verify(req.content, headers)
        self.received.append((headers, payload))
        return httpx.Response(self.statuses.pop(0) if self.statuses else 204)

    @property
    def types(self) -> list[str]:
        return [p["type"] for _, p in self.received]

    @property
    def ids(self) -> list[str]:
        return [h["webhook-id"] for h, _ in self.received]


@pytest.fixture
def hooks() -> Iterator[respx.MockRouter]:
    """Mocks the receivers' host only; the real OPA on loopback stays real."""
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()
        yield mock


@pytest.fixture
def admin(gateway) -> dict[str, str]:
    return gateway.token("root", Role.ADMIN)


def subscribe(client: TestClient, admin: dict[str, str], path: str, events: list[str]) -> dict[str, Any]:
    r = client.post("/v1/webhooks", json={"url": f"{HOOKS}{path}", "events": events}, headers=admin)
    assert r.status_code == 201, r.text
    return r.json()


def listen(hooks: respx.MockRouter, sub: dict[str, Any], *statuses: int) -> Receiver:
    receiver = Receiver(sub["secret"], list(statuses))
    hooks.post(sub["url"]).mock(side_effect=receiver)
    return receiver


def delivery_log(client: TestClient, admin: dict[str, str], sub_id: str) -> list[dict[str, Any]]:
    r = client.get(f"/v1/webhooks/{sub_id}/deliveries", headers=admin)
    assert r.status_code == 200, r.text
    return r.json()["items"]


def test_an_admin_subscribes_and_sees_the_secret_once(gateway, admin, alice, bob, auditor):
    r = gateway.client.post(
        "/v1/webhooks",
        json={"url": f"{HOOKS}/cab", "events": ["request.*"], "description": "CAB board"},
        headers=admin,
    )

    assert r.status_code == 201
    sub = r.json()
    assert sub["secret"].startswith("whsec_") and sub["id"].startswith("whk_")
    assert (sub["events"], sub["active"], sub["created_by"]) == (["request.*"], True, "root")
    listed = gateway.client.get("/v1/webhooks", headers=admin).json()["items"]
    assert [x["id"] for x in listed] == [sub["id"]]
    assert "secret" not in listed[0]
    assert sub["secret"] not in gateway.client.get("/v1/webhooks", headers=admin).text

    integration = gateway.token("snow", Role.INTEGRATION)
    for headers in (alice, bob, auditor, integration):
        calls = [
            gateway.client.post("/v1/webhooks", json={"url": f"{HOOKS}/x", "events": ["*"]}, headers=headers),
            gateway.client.get("/v1/webhooks", headers=headers),
            gateway.client.get(f"/v1/webhooks/{sub['id']}/deliveries", headers=headers),
            gateway.client.delete(f"/v1/webhooks/{sub['id']}", headers=headers),
        ]
        assert [c.status_code for c in calls] == [403, 403, 403, 403]
    assert gateway.client.get("/v1/webhooks").status_code == 401
    assert len(gateway.client.get("/v1/webhooks", headers=admin).json()["items"]) == 1


@pytest.mark.parametrize(
    ("spec", "pointer"),
    [
        ({"url": "ftp://hooks.example.test/x", "events": ["*"]}, "/url"),
        ({"url": "not a url", "events": ["*"]}, "/url"),
        ({"url": f"{HOOKS}/x", "events": ["request.submitted", "request.exploded"]}, "/events/1"),
        ({"url": f"{HOOKS}/x", "events": ["deploy.*"]}, "/events/0"),
        ({"url": f"{HOOKS}/x", "events": []}, "/events"),
        ({"url": f"{HOOKS}/x", "events": ["*"], "secret": "mine"}, "/secret"),
    ],
)
def test_bad_subscriptions_are_422_problems_with_pointers(gateway, admin, spec, pointer):
    r = gateway.client.post("/v1/webhooks", json=spec, headers=admin)

    assert r.status_code == 422
    assert r.headers["content-type"].startswith("application/problem+json")
    assert pointer in [e["pointer"] for e in r.json()["errors"]]
    assert gateway.client.get("/v1/webhooks", headers=admin).json()["items"] == []


def test_deliveries_are_signed_and_only_for_subscribed_event_types(gateway, admin, alice, hooks):
    everything = subscribe(gateway.client, admin, "/all", ["request.*"])
    bookends = subscribe(gateway.client, admin, "/bookends", ["request.submitted", "request.succeeded"])
    votes = subscribe(gateway.client, admin, "/votes", ["approval.recorded"])
    all_rx, bookends_rx, votes_rx = (listen(hooks, s) for s in (everything, bookends, votes))

    rid = gateway.submit(request(instance()), alice).json()["id"]  # dev, cheap: approved and run at once
    sent = gateway.services.dispatcher.deliver_due()

    assert sent == 6
    assert all_rx.types == ["request.submitted", "request.approved", "request.executing", "request.succeeded"]
    assert bookends_rx.types == ["request.submitted", "request.succeeded"]
    assert votes_rx.received == []
    headers, payload = bookends_rx.received[1]
    assert payload["type"] == "request.succeeded"
    assert payload["timestamp"] == "2026-12-01T22:30:00Z"  # the gateway's business clock
    assert payload["data"]["request"]["id"] == rid
    assert payload["data"]["request"]["state"] == "succeeded"
    assert payload["data"]["request"]["team"] == "payments"
    assert [p["data"]["request"]["state"] for _, p in all_rx.received] == [
        "received",
        "approved",
        "executing",
        "succeeded",
    ]
    assert headers["webhook-signature"].startswith("v1,") and headers["content-type"] == "application/json"
    # Each event has its own id, and a delivered one is not sent again.
    assert len(set(all_rx.ids)) == 4
    assert gateway.services.dispatcher.deliver_due() == 0
    log = delivery_log(gateway.client, admin, bookends["id"])
    assert [(m["event_type"], m["status"], m["attempts"]) for m in log] == [
        ("request.succeeded", "delivered", 1),
        ("request.submitted", "delivered", 1),
    ]


def test_a_signature_made_with_another_secret_does_not_verify(gateway, admin, alice, hooks):
    sub = subscribe(gateway.client, admin, "/a", ["request.submitted"])
    other = subscribe(gateway.client, admin, "/b", ["request.submitted"])
    seen: list[httpx.Request] = []
    hooks.post(sub["url"]).mock(side_effect=lambda req: seen.append(req) or httpx.Response(200))
    listen(hooks, other)

    gateway.submit(request(instance()), alice)
    gateway.services.dispatcher.deliver_due()

    assert len(seen) == 1
    Webhook(sub["secret"]).verify(seen[0].content, dict(seen[0].headers))
    with pytest.raises(WebhookVerificationError):
        Webhook(other["secret"]).verify(seen[0].content, dict(seen[0].headers))


def _deliveries_metric(client: TestClient, headers: dict[str, str], result: str) -> float:
    text = client.get("/metrics", headers=headers).text
    line = next(
        (
            x
            for x in text.splitlines()
            if x.startswith(f'gateway_deliveries_total{{kind="webhook",result="{result}"}}')
        ),
        None,
    )
    return float(line.split()[-1]) if line else 0.0


def test_a_failing_receiver_gets_the_event_on_the_third_try(gateway, admin, alice, clock, hooks):
    before = {r: _deliveries_metric(gateway.client, admin, r) for r in ("retry", "delivered")}
    sub = subscribe(gateway.client, admin, "/flaky", ["request.submitted"])
    rx = listen(hooks, sub, 500, 500, 200)
    rid = gateway.submit(request(instance()), alice).json()["id"]
    dispatcher = gateway.services.dispatcher

    assert dispatcher.deliver_due() == 1
    assert dispatcher.deliver_due() == 0  # backing off: nothing is due yet
    clock.advance(hours=2)
    assert dispatcher.deliver_due() == 1
    assert dispatcher.deliver_due() == 0
    clock.advance(hours=2)
    assert dispatcher.deliver_due() == 1
    clock.advance(hours=2)
    assert dispatcher.deliver_due() == 0

    assert len(rx.received) == 3
    assert len(set(rx.ids)) == 1  # one event, one id: receivers deduplicate by it
    assert all(p["data"]["request"]["id"] == rid for _, p in rx.received)
    [msg] = delivery_log(gateway.client, admin, sub["id"])
    assert (msg["status"], msg["attempts"], msg["msg_id"], msg["last_error"]) == (
        "delivered",
        3,
        rx.ids[0],
        None,
    )
    assert [(a["attempt"], a["ok"], a["status"]) for a in msg["log"]] == [
        (1, False, 500),
        (2, False, 500),
        (3, True, 200),
    ]
    # Each attempt is logged at the gateway's time, two hours apart.
    assert [a["at"][:16] for a in msg["log"]] == ["2026-12-01T22:30", "2026-12-02T00:30", "2026-12-02T02:30"]
    # Operators see it in Prometheus too.
    assert _deliveries_metric(gateway.client, admin, "retry") - before["retry"] == 2
    assert _deliveries_metric(gateway.client, admin, "delivered") - before["delivered"] == 1


def test_retries_survive_a_gateway_restart(settings, clock, hooks):
    with TestClient(create_app(settings, clock=clock)) as client:
        db = client.app.state.services.db  # type: ignore[attr-defined]
        admin = {"Authorization": f"Bearer {tokens.create(db, name='root', role=Role.ADMIN, groups=[])}"}
        alice = {
            "Authorization": "Bearer "
            + tokens.create(db, name="alice", role=Role.REQUESTER, groups=["payments"])
        }
        sub = subscribe(client, admin, "/flaky", ["request.submitted"])
        rx = listen(hooks, sub, 500, 500, 200)
        rid = client.post("/v1/requests", json=request(instance()), headers=alice).json()["id"]
        assert client.app.state.services.dispatcher.deliver_due() == 1  # type: ignore[attr-defined]
    assert len(rx.received) == 1

    clock.advance(hours=2)
    with TestClient(create_app(settings, clock=clock)) as client:
        dispatcher = client.app.state.services.dispatcher  # type: ignore[attr-defined]
        assert dispatcher.deliver_due() == 1  # attempt 2: fails again
        assert dispatcher.deliver_due() == 0
        clock.advance(hours=2)
        assert dispatcher.deliver_due() == 1  # attempt 3: delivered
        clock.advance(hours=2)
        assert dispatcher.deliver_due() == 0
        [msg] = delivery_log(client, admin, sub["id"])

    assert len(rx.received) == 3 and len(set(rx.ids)) == 1
    assert rx.received[2][1]["data"]["request"]["id"] == rid
    assert (msg["status"], msg["attempts"]) == ("delivered", 3)
    assert [(a["attempt"], a["ok"], a["status"]) for a in msg["log"]] == [
        (1, False, 500),
        (2, False, 500),
        (3, True, 200),
    ]


def test_a_400_is_not_retried_and_is_recorded_in_the_ledger(gateway, admin, alice, auditor, clock, hooks):
    sub = subscribe(gateway.client, admin, "/strict", ["request.submitted"])
    rx = listen(hooks, sub, 400)
    rid = gateway.submit(request(instance()), alice).json()["id"]

    assert gateway.services.dispatcher.deliver_due() == 1
    for _ in range(3):
        clock.advance(hours=2)
        assert gateway.services.dispatcher.deliver_due() == 0

    assert len(rx.received) == 1
    [msg] = delivery_log(gateway.client, admin, sub["id"])
    assert (msg["status"], msg["attempts"], msg["next_attempt_at"]) == ("failed", 1, None)
    assert "400" in msg["last_error"]
    assert [(a["ok"], a["status"]) for a in msg["log"]] == [(False, 400)]
    events = gateway.client.get(
        "/v1/audit/events", params={"type": "delivery.failed"}, headers=auditor
    ).json()["items"]
    assert len(events) == 1
    failed = events[0]
    assert (failed["request_id"], failed["actor"]) == (rid, "gateway")
    assert failed["data"]["kind"] == "webhook" and failed["data"]["target"] == sub["id"]
    assert (failed["data"]["status"], failed["data"]["attempts"]) == (400, 1)
    assert failed["data"]["msg_id"] == msg["msg_id"] == rx.ids[0]
    assert gateway.client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True


def test_a_deleted_subscription_gets_nothing_more(gateway, admin, alice, hooks):
    kept = subscribe(gateway.client, admin, "/kept", ["request.submitted"])
    gone = subscribe(gateway.client, admin, "/gone", ["request.submitted"])
    kept_rx, gone_rx = listen(hooks, kept), listen(hooks, gone)
    gateway.submit(request(instance("a")), alice)  # queued for both before the delete

    r = gateway.client.delete(f"/v1/webhooks/{gone['id']}", headers=admin)
    assert r.status_code == 200 and r.json()["active"] is False
    gateway.submit(request(instance("b")), alice)
    gateway.services.dispatcher.deliver_due()

    assert len(kept_rx.received) == 2
    assert gone_rx.received == []
    assert gone["url"] not in {str(call.request.url) for call in hooks.calls}
    [dropped] = delivery_log(gateway.client, admin, gone["id"])  # queued before the delete, then dropped
    assert dropped["status"] == "failed" and "deleted" in dropped["last_error"]
    listed = {x["id"]: x["active"] for x in gateway.client.get("/v1/webhooks", headers=admin).json()["items"]}
    assert listed == {kept["id"]: True, gone["id"]: False}


def test_messages_commit_with_the_state_change_or_not_at_all(gateway, admin, alice, bob, hooks, monkeypatch):
    sub = subscribe(gateway.client, admin, "/all", ["*"])
    rx = listen(hooks, sub)
    rid = gateway.submit(expensive(), alice).json()["id"]
    assert gateway.client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "pending_approval"
    real_notify = outbox.notify

    def notify_then_fail(s, **kw):
        real_notify(s, **kw)  # the message is in the session...
        if kw["event_type"] == "request.approved":
            raise RuntimeError("the database went away mid-transaction")  # ...and the unit of work fails

    monkeypatch.setattr(outbox, "notify", notify_then_fail)
    with pytest.raises(RuntimeError):
        gateway.client.post(
            f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "ok"}, headers=bob
        )
    monkeypatch.undo()

    assert gateway.client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "pending_approval"
    with gateway.services.db.read() as s:
        queued = [m.event_type for m in s.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all()]
    # Neither the vote's message nor the approval's: both were in the unit of work that rolled back.
    assert queued == ["request.submitted", "request.pending_approval"]
    gateway.services.dispatcher.deliver_due()
    assert rx.types == ["request.submitted", "request.pending_approval"]


def test_a_backlog_for_a_dead_receiver_does_not_hold_back_the_others(gateway, admin, alice, clock, hooks):
    dead = subscribe(gateway.client, admin, "/dead", ["request.*"])
    live = subscribe(gateway.client, admin, "/live", ["request.submitted"])
    listen(hooks, dead, *([503] * 2000))
    rx = listen(hooks, live)
    # A receiver that has been down for a while: many events queued for it, all backing off.
    later = clock.now() + timedelta(hours=1)
    with gateway.services.db.unit_of_work() as s:
        for i in range(1200):
            s.add(OutboxMessage(msg_id=f"msg_backlog_{i}", kind="webhook", target=dead["id"], attempts=3,
                                event_type="request.submitted", payload={"type": "request.submitted"},
                                next_attempt_at=later, created_at=clock.now()))  # fmt: skip

    rid = gateway.submit(request(instance()), alice).json()["id"]
    gateway.services.dispatcher.deliver_due()

    assert [p["data"]["request"]["id"] for _, p in rx.received] == [rid]


def test_every_request_state_can_be_subscribed_to_by_name(gateway, admin):
    events = [f"request.{s}" for s in State]

    r = gateway.client.post("/v1/webhooks", json={"url": f"{HOOKS}/states", "events": events}, headers=admin)

    assert r.status_code == 201, r.text
    assert r.json()["events"] == events
