"""With OPA down the gateway fails closed: 503 with Retry-After, nothing approved, nothing lost."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from gateway.adapters.bundle_server import BundleServer
from gateway.adapters.opa_process import LocalOpa
from gateway.adapters.policy_source import load_policy_source
from gateway.app import create_app
from gateway.domain.identity import Role
from gateway.pipeline import tokens
from tests.conftest import POLICY_DIR
from tests.factories import expensive, instance, request


@pytest.fixture
def own_opa(tmp_path):
    src = load_policy_source(POLICY_DIR)
    server = BundleServer()
    server.publish(src.bundles)
    opa = LocalOpa(server.url, tmp_path / "opa")
    opa.start(revisions=src.revisions)
    yield opa, src.revisions
    opa.stop()
    server.close()


def test_request_survives_an_opa_outage_and_is_evaluated_when_it_returns(settings, own_opa):
    opa, paths = own_opa
    app = create_app(settings.model_copy(update={"opa_url": opa.url}))
    with TestClient(app) as client:
        alice = {"Authorization": "Bearer " + tokens.create(app.state.services.db, name="alice",
                                                             role=Role.REQUESTER, groups=["payments"])}  # fmt: skip
        opa.stop()

        r = client.post("/v1/requests", json=request(instance()), headers=alice)

        assert r.status_code == 503
        assert r.headers["retry-after"] == str(settings.retry_after_seconds)
        assert r.headers["content-type"] == "application/problem+json"
        rid = r.json()["request_id"]
        held = client.get(f"/v1/requests/{rid}", headers=alice).json()
        assert held["state"] == "received" and held["decision"] is None and held["outputs"] == {}
        assert client.get("/readyz").status_code == 503
        assert client.post(f"/v1/requests/{rid}/evaluate", headers=alice).status_code == 503

        opa.start(revisions=paths)  # same port: the gateway's pooled client reconnects

        assert client.get("/readyz").status_code == 200
        r = client.post(f"/v1/requests/{rid}/evaluate", headers=alice)
        assert r.status_code == 200 and r.json()["state"] == "succeeded"


def test_background_retry_evaluates_received_requests(settings, own_opa):
    opa, paths = own_opa
    app = create_app(settings.model_copy(update={"opa_url": opa.url}))
    with TestClient(app) as client:
        scheduler = app.state.services.scheduler
        alice = {"Authorization": "Bearer " + tokens.create(app.state.services.db, name="alice",
                                                             role=Role.REQUESTER, groups=["payments"])}  # fmt: skip
        opa.stop()
        rid = client.post("/v1/requests", json=request(instance()), headers=alice).json()["request_id"]
        assert scheduler.tick() == 0
        opa.start(revisions=paths)
        assert scheduler.tick() == 1
        assert client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "succeeded"


def test_database_unreachable_is_a_503_with_retry_after_not_a_500(gateway, alice):
    from sqlalchemy import create_engine

    db = gateway.services.db
    healthy_engine = db.engine
    # A PostgreSQL URL on a port nothing listens on: every connection attempt fails as in an outage.
    db.engine = create_engine(
        "postgresql+psycopg://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 1}
    )
    try:
        r = gateway.submit(request(instance()), alice)
        assert r.status_code == 503
        assert r.headers["retry-after"] and r.headers["content-type"] == "application/problem+json"
        assert r.json()["type"].endswith("/database-unavailable")
        assert gateway.client.get("/readyz").json()["checks"]["database"] != "ok"
    finally:
        db.engine.dispose()
        db.engine = healthy_engine
    assert gateway.client.get("/v1/requests", headers=alice).json()["items"] == []


def test_approval_during_an_outage_executes_nothing_until_policy_is_rechecked(settings, own_opa, clock):
    opa, paths = own_opa
    app = create_app(settings.model_copy(update={"opa_url": opa.url}), clock=clock)
    with TestClient(app) as client:
        db = app.state.services.db
        alice = {
            "Authorization": "Bearer "
            + tokens.create(db, name="alice", role=Role.REQUESTER, groups=["payments"])
        }
        bob = {
            "Authorization": "Bearer " + tokens.create(db, name="bob", role=Role.APPROVER, groups=["finance"])
        }
        rid = client.post("/v1/requests", json=expensive(), headers=alice).json()["id"]
        opa.stop()

        r = client.post(
            f"/v1/requests/{rid}/approvals", json={"verdict": "approve", "comment": "ok"}, headers=bob
        )

        assert r.status_code == 201  # the vote counts; the re-check before execution cannot run yet
        held = client.get(f"/v1/requests/{rid}", headers=alice).json()
        assert held["state"] == "approved" and held["outputs"] == {}
        opa.start(revisions=paths)
        assert app.state.services.scheduler.tick() == 0  # the queued execution backs off before trying again
        clock.advance(seconds=settings.retry_after_seconds)
        assert app.state.services.scheduler.tick() == 1
        done = client.get(f"/v1/requests/{rid}", headers=alice).json()
        assert done["state"] == "succeeded" and len(done["outputs"]) == 4


def test_a_retry_with_the_same_idempotency_key_after_an_outage_resumes_the_stored_request(settings, own_opa):
    opa, paths = own_opa
    app = create_app(settings.model_copy(update={"opa_url": opa.url}))
    with TestClient(app) as client:
        alice = {"Authorization": "Bearer " + tokens.create(app.state.services.db, name="alice",
                                                             role=Role.REQUESTER, groups=["payments"]),
                 "Idempotency-Key": '"outage-1"'}  # fmt: skip
        opa.stop()
        first = client.post("/v1/requests", json=request(instance()), headers=alice)
        assert first.status_code == 503
        rid = first.json()["request_id"]

        second = client.post("/v1/requests", json=request(instance()), headers=alice)
        assert second.status_code == 503, second.json()
        opa.start(revisions=paths)
        again = client.post("/v1/requests", json=request(instance()), headers=alice)

        assert again.status_code == 201 and again.json()["id"] == rid
        assert again.json()["state"] == "succeeded"
        assert len(client.get("/v1/requests", headers=alice).json()["items"]) == 1


def test_a_request_accepted_in_an_outage_whose_target_left_the_inventory_is_rejected_not_stuck(
    settings, own_opa
):
    from sqlalchemy import text

    opa, paths = own_opa
    app = create_app(settings.model_copy(update={"opa_url": opa.url}))
    with TestClient(app) as client:
        svc = app.state.services
        alice = {"Authorization": "Bearer " + tokens.create(svc.db, name="alice", role=Role.REQUESTER,
                                                             groups=["payments"])}  # fmt: skip
        iid = client.post("/v1/requests", json=request(instance("app")), headers=alice).json()["outputs"]
        iid = iid["aws_instance.app"]["id"]
        update = {"action": "update", "type": "aws_instance", "name": "app", "id": iid,
                  "properties": {"instance_type": "t3.medium"}}  # fmt: skip
        opa.stop()
        rid = client.post("/v1/requests", json=request(update), headers=alice).json()["request_id"]
        with svc.db.engine.begin() as conn:  # another change retires the instance meanwhile
            conn.execute(text("UPDATE inventory SET status = 'retired' WHERE id = :id"), {"id": iid})
        opa.start(revisions=paths)

        assert svc.scheduler.tick() == 1
        view = client.get(f"/v1/requests/{rid}", headers=alice).json()
        assert view["state"] == "rejected"
        assert svc.scheduler.tick() == 0  # nothing left to retry
