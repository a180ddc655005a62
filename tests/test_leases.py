"""Leases: subscribers are warned before a lease ends; when it ends the gateway files a delete request of its own,
which goes through policy and approval like any other, and retires the resources and their request."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
import respx

from gateway.adapters.store import leases as lease_store
from gateway.domain.identity import Role
from tests.factories import bucket, instance, request
from tests.test_webhooks import listen, subscribe


@pytest.fixture
def receivers() -> Iterator[respx.MockRouter]:
    with respx.mock(assert_all_called=False) as mock:
        mock.route(host="127.0.0.1").pass_through()  # OPA and the sandbox stay real
        yield mock


def _client(sandbox_url: str, service: str) -> Any:
    return boto3.client(service, region_name="eu-west-1", endpoint_url=sandbox_url,
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # fmt: skip


def _requests(gateway, who, **params: str) -> list[dict[str, Any]]:
    return list(gateway.client.get("/v1/requests", params=params, headers=who).json()["items"])


def test_a_lease_end_retires_its_resources_through_the_pipeline(
    gateway, alice, auditor, clock, sandbox_url, receivers
):
    admin = gateway.token("root", Role.ADMIN)
    sub = subscribe(gateway.client, admin, "/leases", ["lease.*"])
    receiver = listen(receivers, sub)
    made = gateway.submit(request(instance("tmp"), bucket("scratch"), lease={"days": 7}), alice).json()
    assert made["state"] == "succeeded"
    inv = gateway.client.get("/v1/inventory", headers=auditor).json()["items"]
    assert {i["lease_expires_at"] for i in inv} == {"2026-12-08T22:30:00Z"}  # seven days after it was made

    svc = gateway.services
    clock.advance(days=3)
    svc.scheduler.tick()
    svc.dispatcher.deliver_due()
    assert receiver.types == []  # four days left: more than the 72 hours' warning

    clock.advance(days=2)  # 48 hours left
    svc.scheduler.tick()
    svc.dispatcher.deliver_due()
    assert receiver.types == ["lease.expiring", "lease.expiring"]
    warned = {p["data"]["lease"]["address"] for _, p in receiver.received}
    assert warned == {"aws_instance.tmp", "aws_s3_bucket.scratch"}
    svc.scheduler.tick()
    svc.dispatcher.deliver_due()
    assert len(receiver.received) == 2  # each warned once

    clock.advance(days=2, minutes=1)  # the lease has ended
    svc.scheduler.tick()
    retirements = [r for r in _requests(gateway, auditor) if r["id"] != made["id"]]
    assert len(retirements) == 1
    ret = gateway.client.get(f"/v1/requests/{retirements[0]['id']}", headers=auditor).json()
    assert ret["requester"] == "gateway:lease" and ret["team"] == "payments"
    assert ret["state"] == "succeeded", ret  # dev: policy asks for no approval, so it ran
    out = made["outputs"]
    assert {(r["action"], r["id"]) for r in ret["request"]["resources"]} == {
        ("delete", out["aws_instance.tmp"]["id"]), ("delete", out["aws_s3_bucket.scratch"]["id"])
    }  # fmt: skip

    names = [b["Name"] for b in _client(sandbox_url, "s3").list_buckets()["Buckets"]]
    assert made["outputs"]["aws_s3_bucket.scratch"]["id"] not in names
    inst = _client(sandbox_url, "ec2").describe_instances(
        InstanceIds=[made["outputs"]["aws_instance.tmp"]["id"]]
    )
    assert inst["Reservations"][0]["Instances"][0]["State"]["Name"] in ("shutting-down", "terminated")
    assert gateway.client.get("/v1/inventory", headers=auditor).json()["items"] == []
    assert gateway.client.get(f"/v1/requests/{made['id']}", headers=auditor).json()["state"] == "retired"
    svc.scheduler.tick()
    assert len(_requests(gateway, auditor)) == 2  # filed once


def test_a_production_lease_end_waits_for_an_approval(gateway, alice, auditor, clock, sandbox_url):
    made = gateway.submit(request(bucket("reports"), env="prod", lease={"days": 1}), alice).json()
    assert made["state"] == "succeeded", made
    clock.advance(days=1, minutes=1)
    gateway.services.scheduler.tick()

    [ret] = [r for r in _requests(gateway, auditor) if r["id"] != made["id"]]
    ret = gateway.client.get(f"/v1/requests/{ret['id']}", headers=auditor).json()
    assert ret["state"] == "pending_approval"
    assert [a["group"] for a in ret["decision"]["required_approvals"]] == ["cab"]
    name = made["outputs"]["aws_s3_bucket.reports"]["id"]
    assert name in [b["Name"] for b in _client(sandbox_url, "s3").list_buckets()["Buckets"]]  # still there

    cab = gateway.token("dana", Role.APPROVER, ["cab"])
    voted = gateway.client.post(
        f"/v1/requests/{ret['id']}/approvals", json={"verdict": "approve"}, headers=cab
    )
    assert voted.status_code == 201, voted.text
    assert voted.json()["state"] == "succeeded"
    assert name not in [b["Name"] for b in _client(sandbox_url, "s3").list_buckets()["Buckets"]]
    assert gateway.client.get(f"/v1/requests/{made['id']}", headers=auditor).json()["state"] == "retired"


def _events(gateway, auditor, rid: str, type: str) -> list[dict[str, Any]]:
    params = {"request_id": rid, "type": type}
    return list(gateway.client.get("/v1/audit/events", params=params, headers=auditor).json()["items"])


def _retirements(gateway, auditor, made: dict[str, Any]) -> list[dict[str, Any]]:
    """The retirement requests filed for `made`, oldest first, in full."""
    ids = sorted(
        (r for r in _requests(gateway, auditor) if r["id"] != made["id"]), key=lambda r: str(r["created_at"])
    )
    return [gateway.client.get(f"/v1/requests/{r['id']}", headers=auditor).json() for r in ids]


def _item(gateway, auditor, resource_id: str) -> dict[str, Any]:
    [item] = [i for i in gateway.client.get("/v1/inventory", headers=auditor).json()["items"]
              if i["id"] == resource_id]  # fmt: skip
    return item


def _buckets(sandbox_url: str) -> list[str]:
    return [b["Name"] for b in _client(sandbox_url, "s3").list_buckets()["Buckets"]]


def test_a_retirement_the_cab_rejects_keeps_the_resources(gateway, alice, auditor, clock, sandbox_url):
    made = gateway.submit(request(bucket("reports"), env="prod", lease={"days": 1}), alice).json()
    assert made["state"] == "succeeded", made
    name = made["outputs"]["aws_s3_bucket.reports"]["id"]
    clock.advance(days=1, minutes=1)
    gateway.services.scheduler.tick()
    [ret] = _retirements(gateway, auditor, made)
    assert ret["state"] == "pending_approval"
    assert _item(gateway, auditor, name)["retire_request_id"] == ret["id"]

    cab = gateway.token("dana", Role.APPROVER, ["cab"])
    body = {"verdict": "reject", "comment": "still used by the quarterly close"}
    voted = gateway.client.post(f"/v1/requests/{ret['id']}/approvals", json=body, headers=cab)
    assert voted.status_code == 201, voted.text
    assert voted.json()["state"] == "rejected"
    assert gateway.services.scheduler.tick() >= 1  # the lease pass counts what it settled

    item = _item(gateway, auditor, name)
    assert item["lease_expires_at"] is None and item["retire_request_id"] is None
    [kept] = _events(gateway, auditor, made["id"], "lease.kept")
    assert kept["actor"] == "gateway"
    assert kept["data"]["resources"] == [name] and kept["data"]["retirement_request"] == ret["id"]
    assert kept["data"]["by"] == "dana" and kept["data"]["comment"] == "still used by the quarterly close"
    assert _events(gateway, auditor, made["id"], "lease.retry") == []

    for days in (1, 7, 14):  # kept for good: nothing is filed again, and it is settled once
        clock.advance(days=days)
        gateway.services.scheduler.tick()
    assert len(_retirements(gateway, auditor, made)) == 1
    assert len(_events(gateway, auditor, made["id"], "lease.kept")) == 1
    assert name in _buckets(sandbox_url)
    assert gateway.client.get(f"/v1/requests/{made['id']}", headers=auditor).json()["state"] == "succeeded"


def test_a_retirement_nobody_approves_expires_and_is_filed_again(gateway, alice, auditor, clock, sandbox_url):
    made = gateway.submit(request(bucket("reports"), env="prod", lease={"days": 1}), alice).json()
    assert made["state"] == "succeeded", made
    name = made["outputs"]["aws_s3_bucket.reports"]["id"]
    clock.advance(days=1, minutes=1)
    gateway.services.scheduler.tick()
    [first] = _retirements(gateway, auditor, made)
    assert first["state"] == "pending_approval"

    clock.advance(hours=168, minutes=1)  # GATEWAY_PENDING_EXPIRY_HOURS: nobody voted
    gateway.services.scheduler.tick()
    [first] = _retirements(gateway, auditor, made)
    assert first["state"] == "expired"
    [retry] = _events(gateway, auditor, made["id"], "lease.retry")
    assert retry["data"]["retirement_request"] == first["id"] and retry["data"]["resources"] == [name]
    assert retry["data"]["state"] == "expired"
    assert "no decision within 168 hours" in retry["data"]["reason"]
    assert retry["data"]["next_attempt_at"] == "2026-12-10T22:32:00Z"  # a day later
    item = _item(gateway, auditor, name)
    assert item["retire_request_id"] is None and item["lease_expires_at"] == "2026-12-10T22:32:00Z"

    clock.advance(hours=23)
    gateway.services.scheduler.tick()
    assert len(_retirements(gateway, auditor, made)) == 1  # not yet
    assert len(_events(gateway, auditor, made["id"], "lease.retry")) == 1  # settled once

    clock.advance(hours=1)
    gateway.services.scheduler.tick()
    first, second = _retirements(gateway, auditor, made)
    assert second["state"] == "pending_approval" and second["requester"] == "gateway:lease"
    assert second["request"]["retirement"]["of"] == made["id"]
    assert _item(gateway, auditor, name)["retire_request_id"] == second["id"]

    cab = gateway.token("dana", Role.APPROVER, ["cab"])
    voted = gateway.client.post(
        f"/v1/requests/{second['id']}/approvals", json={"verdict": "approve"}, headers=cab
    )
    assert voted.status_code == 201, voted.text
    assert voted.json()["state"] == "succeeded"
    assert name not in _buckets(sandbox_url)
    assert gateway.client.get(f"/v1/requests/{made['id']}", headers=auditor).json()["state"] == "retired"
    gateway.services.scheduler.tick()
    assert len(_retirements(gateway, auditor, made)) == 2
    assert len(_events(gateway, auditor, made["id"], "lease.retry")) == 1


def test_a_cancelled_retirement_is_filed_again(gateway, alice, auditor, clock):
    made = gateway.submit(request(bucket("reports"), env="prod", lease={"days": 1}), alice).json()
    clock.advance(days=1, minutes=1)
    gateway.services.scheduler.tick()
    [first] = _retirements(gateway, auditor, made)
    admin = gateway.token("root", Role.ADMIN)
    cancelled = gateway.client.post(f"/v1/requests/{first['id']}/cancel", headers=admin)
    assert cancelled.status_code < 300, cancelled.text

    gateway.services.scheduler.tick()
    [retry] = _events(gateway, auditor, made["id"], "lease.retry")
    assert retry["data"]["state"] == "cancelled" and retry["data"]["reason"] == "cancelled by root"
    assert _events(gateway, auditor, made["id"], "lease.kept") == []
    clock.advance(days=1)
    gateway.services.scheduler.tick()
    first, second = _retirements(gateway, auditor, made)
    assert first["state"] == "cancelled" and second["state"] == "pending_approval"


def test_a_failed_retirement_is_filed_again(gateway, alice, auditor, clock, sandbox_url):
    made = gateway.submit(request(bucket("scratch"), lease={"days": 1}), alice).json()
    name = made["outputs"]["aws_s3_bucket.scratch"]["id"]
    s3 = _client(sandbox_url, "s3")
    s3.put_object(Bucket=name, Key="left-behind.csv", Body=b"a,b\n")
    clock.advance(days=1, minutes=1)
    gateway.services.scheduler.tick()
    [first] = _retirements(gateway, auditor, made)
    assert first["state"] == "failed", first  # dev: no approval, but the bucket is not empty

    gateway.services.scheduler.tick()
    [retry] = _events(gateway, auditor, made["id"], "lease.retry")
    assert retry["data"]["state"] == "failed" and "BucketNotEmpty" in retry["data"]["reason"]
    s3.delete_object(Bucket=name, Key="left-behind.csv")
    clock.advance(days=1)
    gateway.services.scheduler.tick()
    first, second = _retirements(gateway, auditor, made)
    assert second["state"] == "succeeded", second
    assert name not in _buckets(sandbox_url)
    assert gateway.client.get(f"/v1/requests/{made['id']}", headers=auditor).json()["state"] == "retired"


def test_a_retirement_the_policy_rejects_is_filed_again(gateway, alice, auditor, clock, sandbox_url):
    # The lease ends in the year-end freeze (2026-12-20 to 2027-01-04): production changes are denied.
    made = gateway.submit(request(bucket("reports"), env="prod", lease={"days": 20}), alice).json()
    assert made["state"] == "succeeded", made
    name = made["outputs"]["aws_s3_bucket.reports"]["id"]
    clock.advance(days=20, minutes=1)
    gateway.services.scheduler.tick()
    [first] = _retirements(gateway, auditor, made)
    assert first["state"] == "rejected", first

    gateway.services.scheduler.tick()
    [retry] = _events(gateway, auditor, made["id"], "lease.retry")
    assert retry["data"]["state"] == "rejected" and "freeze" in retry["data"]["reason"]
    assert _events(gateway, auditor, made["id"], "lease.kept") == []  # nobody rejected it: not kept
    assert _item(gateway, auditor, name)["lease_expires_at"] == "2026-12-22T22:31:00Z"


def test_two_replicas_settle_a_retirement_once(gateway, alice, auditor, clock, monkeypatch):
    made = gateway.submit(request(bucket("reports"), env="prod", lease={"days": 1}), alice).json()
    clock.advance(days=1, minutes=1)
    gateway.services.scheduler.tick()
    [ret] = _retirements(gateway, auditor, made)
    cab = gateway.token("dana", Role.APPROVER, ["cab"])
    body = {"verdict": "reject", "comment": "keep it"}
    assert (
        gateway.client.post(f"/v1/requests/{ret['id']}/approvals", json=body, headers=cab).status_code == 201
    )

    # Both replicas find the rejected retirement before either settles it.
    both_read = threading.Barrier(2, timeout=30)
    found = lease_store.retirements_ended

    def ended(*args: Any, **kw: Any) -> list[str]:
        rids = found(*args, **kw)
        both_read.wait()
        return rids

    monkeypatch.setattr(lease_store, "retirements_ended", ended)
    leases = gateway.services.scheduler.leases
    with ThreadPoolExecutor(2) as pool:
        counts = sorted(pool.map(lambda _: leases.tick(), range(2)))
    assert counts == [0, 1]
    assert len(_events(gateway, auditor, made["id"], "lease.kept")) == 1
