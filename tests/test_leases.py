"""Leases: subscribers are warned before a lease ends; when it ends the gateway files a delete request of its own,
which goes through policy and approval like any other, and retires the resources and their request."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import respx

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
