"""The edges of execution a review found: each test here failed before its fix."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from gateway.adapters.cloud.driver import Target
from gateway.adapters.store import jobs
from gateway.app import create_app
from gateway.domain.identity import Role
from gateway.pipeline.journal import Journal, LostClaim
from gateway.settings import Settings
from tests.clock import ManualClock
from tests.conftest import Gateway
from tests.factories import TAGS, bucket, database, instance, request, security_group
from tests.factories import change as _change
from tests.test_execution_queue import Refuse


def _client(sandbox_url: str, service: str, region: str = "eu-west-1") -> Any:
    return boto3.client(service, region_name=region, endpoint_url=sandbox_url,
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # fmt: skip


class Crash(BaseException):
    """Stands for SIGKILL inside the test process: nothing catches it, nothing after it runs."""


@pytest.fixture
def queued(settings: Settings, clock: ManualClock) -> Iterator[Gateway]:
    tuned = settings.model_copy(
        update={"execute_inline": False, "cloud_max_attempts": 1, "cloud_retry_attempts": 1}
    )
    with TestClient(create_app(tuned, clock=clock)) as client:
        yield Gateway(client)


def test_a_bucket_someone_else_made_in_us_east_1_is_never_taken_over(gateway, alice, sandbox_url):
    s3 = _client(sandbox_url, "s3", "us-east-1")
    s3.create_bucket(Bucket="someone-elses-bucket")  # us-east-1 answers 200 to creating it again

    body = gateway.submit(
        request(bucket("mine", region="us-east-1", bucket="someone-elses-bucket")), alice
    ).json()

    assert body["state"] == "failed" and "is taken by a bucket this request did not make" in body["error"]
    assert s3.get_bucket_tagging  # the bucket is untouched: no gateway tags, still there
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "someone-elses-bucket" in names
    with pytest.raises(s3.exceptions.ClientError):
        s3.get_bucket_tagging(Bucket="someone-elses-bucket")


def test_two_claims_by_one_worker_are_two_claims(queued):
    """The inline run and the background loop share one Worker: a claim taken over must be lost to the first."""
    alice = queued.token("alice", groups=["payments"])
    rid = queued.submit(request(bucket("b")), alice).json()["id"]
    svc, clock = queued.services, queued.services.clock
    first = svc.worker._claim(rid)
    assert first is not None
    clock.advance(seconds=svc.worker.lease.total_seconds() + 1)  # its lease runs out
    second = svc.worker._claim(rid)
    assert second is not None and second[1] != first[1]
    stale = Journal(db=svc.db, clock=clock, request_id=rid, worker=first[1], lease=svc.worker.lease)
    with pytest.raises(LostClaim):
        stale.heartbeat()


def test_a_resumed_creation_that_fails_leaves_nothing_behind(queued, sandbox_url):
    alice = queued.token("alice", groups=["payments"])
    rid = queued.submit(request(instance("vm"), security_group("edge")), alice).json()["id"]
    ec2 = queued.services.cloud.client("ec2", "eu-west-1")

    def crash(**_: Any) -> None:
        raise Crash

    ec2.meta.events.register("after-call.ec2.CreateSecurityGroup", crash)
    with pytest.raises(Crash):  # the group exists, without its rule, and nothing says so
        queued.services.worker.drain()
    ec2.meta.events.unregister("after-call.ec2.CreateSecurityGroup", crash)

    # The next worker resumes the step; the cloud now refuses the rule.
    queued.services.clock.advance(seconds=queued.services.worker.lease.total_seconds() + 1)
    refuse = Refuse("AuthorizeSecurityGroupIngress", 1, 400, "InvalidPermission.Malformed", "bad rule")
    ec2.meta.events.register("before-send.ec2.AuthorizeSecurityGroupIngress", refuse)
    try:
        assert queued.services.worker.drain() == 1
    finally:
        ec2.meta.events.unregister("before-send.ec2.AuthorizeSecurityGroupIngress", refuse)

    body = queued.client.get(f"/v1/requests/{rid}", headers=alice).json()
    assert body["state"] == "failed" and "InvalidPermission.Malformed" in body["error"]
    mine = _client(sandbox_url, "ec2").describe_security_groups(
        Filters=[{"Name": "tag:govgate:request-id", "Values": [rid]}]
    )["SecurityGroups"]
    assert mine == []


def test_an_update_deferred_by_the_cloud_ends_even_if_its_resource_is_deleted_meanwhile(queued, sandbox_url):
    alice = queued.token("alice", groups=["payments"])
    svc = queued.services
    made = queued.submit(request(instance("app")), alice).json()["id"]
    assert svc.worker.drain() == 1
    iid = queued.client.get(f"/v1/requests/{made}", headers=alice).json()["outputs"]["aws_instance.app"]["id"]

    ec2 = svc.cloud.client("ec2", "eu-west-1")
    refuse = Refuse("StopInstances", 1, 503, "Unavailable", "try later")
    ec2.meta.events.register("before-send.ec2.StopInstances", refuse)
    upd = queued.submit(
        request(_change("aws_instance", "app", iid, "update", instance_type="t3.large")), alice
    )
    try:
        assert svc.worker.drain() == 1  # the cloud said 503: deferred, still executing
    finally:
        ec2.meta.events.unregister("before-send.ec2.StopInstances", refuse)
    assert queued.client.get(f"/v1/requests/{upd.json()['id']}", headers=alice).json()["state"] == "executing"

    gone = queued.submit(request(_change("aws_instance", "app", iid, "delete")), alice).json()["id"]
    assert svc.worker.drain() == 1
    assert queued.client.get(f"/v1/requests/{gone}", headers=alice).json()["state"] == "succeeded"

    svc.clock.advance(hours=1)
    assert svc.worker.drain() == 1
    body = queued.client.get(f"/v1/requests/{upd.json()['id']}", headers=alice).json()
    assert body["state"] == "failed", body  # no endless retries, and it says why
    assert body["error"] == f"aws_instance.app: {iid} was retired by another request while this one waited"
    with svc.db.read() as s:
        job = jobs.get_job(s, request_id=upd.json()["id"])
        assert job is not None and job.status == "done"


def test_a_failed_resize_starts_the_instance_again(gateway, alice, sandbox_url):
    iid = gateway.submit(request(instance("db-proxy")), alice).json()["outputs"]["aws_instance.db-proxy"][
        "id"
    ]
    ec2 = gateway.services.cloud.client("ec2", "eu-west-1")
    refuse = Refuse("ModifyInstanceAttribute", 1, 400, "InvalidInstanceAttributeValue", "no such type here")
    ec2.meta.events.register("before-send.ec2.ModifyInstanceAttribute", refuse)
    try:
        body = gateway.submit(request(_change("aws_instance", "db-proxy", iid, "update", instance_type="t3.large")),
                              alice).json()  # fmt: skip
    finally:
        ec2.meta.events.unregister("before-send.ec2.ModifyInstanceAttribute", refuse)

    assert body["state"] == "failed" and "InvalidInstanceAttributeValue" in body["error"]
    inst = _client(sandbox_url, "ec2").describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][
        0
    ]
    assert inst["State"]["Name"] in ("pending", "running") and inst["InstanceType"] == "t3.small"


def test_every_resource_of_a_request_gets_its_own_client_token():
    def target(address: str) -> Target:
        return Target(request_id="8f14e45f-ceea-467f-a0e6-27f1e2b9c1d3", team="payments", address=address,
                      name=address.split(".")[1], region="eu-west-1", properties={})  # fmt: skip

    tokens = {target(f"aws_instance.payments-worker-{i}").client_token for i in range(10)}
    assert len(tokens) == 10 and all(len(t) <= 64 for t in tokens)


def test_an_update_removes_the_tags_it_drops_and_replaces_egress(gateway, alice, sandbox_url):
    ec2 = _client(sandbox_url, "ec2")
    made = gateway.submit(
        request(instance("tagged", tags={**TAGS, "temp": "yes"}), security_group("out")), alice
    )
    out = made.json()["outputs"]
    iid, gid = out["aws_instance.tagged"]["id"], out["aws_security_group.out"]["id"]
    egress = [
        {
            "from_port": 443,
            "to_port": 443,
            "protocol": "tcp",
            "cidr_blocks": ["10.0.0.0/8"],
            "description": "o",
        }
    ]

    body = gateway.submit(request(
        _change("aws_instance", "tagged", iid, "update", tags=dict(TAGS)),
        _change("aws_security_group", "out", gid, "update", egress=egress),
    ), alice).json()  # fmt: skip

    assert body["state"] == "succeeded", body
    tags = {
        t["Key"] for t in ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]["Tags"]
    }
    assert "temp" not in tags and "govgate:request-id" in tags
    sg = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert [(p.get("FromPort"), p["IpRanges"][0]["CidrIp"]) for p in sg["IpPermissionsEgress"]] == [
        (443, "10.0.0.0/8")
    ]


def test_an_update_of_what_cannot_change_in_place_is_refused(gateway, alice):
    iid = gateway.submit(request(instance("fixed")), alice).json()["outputs"]["aws_instance.fixed"]["id"]
    r = gateway.submit(
        request(_change("aws_instance", "fixed", iid, "update", ami="ami-0123456789abcdef0")), alice
    )
    assert r.status_code == 422
    [err] = r.json()["errors"]
    assert err["pointer"] == "/resources/0/properties/ami" and "cannot be changed in place" in err["detail"]


def test_a_rollback_removes_a_database_that_asked_for_deletion_protection(gateway, alice, sandbox_url):
    taken = "taken-for-rds-rollback"
    _client(sandbox_url, "s3").create_bucket(
        Bucket=taken, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    protected = database("vault")
    protected["properties"]["deletion_protection"] = True

    body = gateway.submit(request(protected, bucket("clash", bucket=taken)), alice).json()

    assert body["state"] == "failed" and "aws_s3_bucket.clash" in body["error"]
    rds = _client(sandbox_url, "rds")
    idents = [d["DBInstanceIdentifier"] for d in rds.describe_db_instances()["DBInstances"]]
    assert not any(i.endswith(body["id"][:8]) for i in idents)


def test_an_auditor_sees_the_step_journal_in_the_ledger_and_the_ledger_verifies(gateway, alice):
    auditor = gateway.token("erin", Role.AUDITOR)
    rid = gateway.submit(request(instance("one"), bucket("two")), alice).json()["id"]
    items = gateway.client.get("/v1/audit/events", params={"request_id": rid, "limit": 500}, headers=auditor)
    types = [e["type"] for e in items.json()["items"]]
    assert types.count("execution.step_started") == 2 and types.count("execution.step_succeeded") == 2
    assert gateway.client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True


def test_a_resize_cut_off_after_the_stop_starts_the_instance_again_when_resumed(queued, sandbox_url):
    alice = queued.token("alice", groups=["payments"])
    svc = queued.services
    made = queued.submit(request(instance("api")), alice).json()["id"]
    assert svc.worker.drain() == 1
    iid = queued.client.get(f"/v1/requests/{made}", headers=alice).json()["outputs"]["aws_instance.api"]["id"]
    rid = queued.submit(
        request(_change("aws_instance", "api", iid, "update", instance_type="t3.large")), alice
    )
    ec2 = svc.cloud.client("ec2", "eu-west-1")

    def crash(**_: Any) -> None:
        raise Crash

    ec2.meta.events.register("after-call.ec2.StopInstances", crash)
    with pytest.raises(Crash):  # stopped by the gateway, then nothing
        svc.worker.drain()
    ec2.meta.events.unregister("after-call.ec2.StopInstances", crash)
    svc.clock.advance(seconds=svc.worker.lease.total_seconds() + 1)
    assert svc.worker.drain() == 1

    assert queued.client.get(f"/v1/requests/{rid.json()['id']}", headers=alice).json()["state"] == "succeeded"
    inst = _client(sandbox_url, "ec2").describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][
        0
    ]
    assert inst["InstanceType"] == "t3.large" and inst["State"]["Name"] in ("pending", "running")
    assert "govgate:restart" not in {t["Key"] for t in inst["Tags"]}


def test_a_request_whose_execution_keeps_failing_before_the_cloud_is_failed_not_stranded(settings, clock):
    tuned = settings.model_copy(update={"execute_inline": False, "execution_max_attempts": 2})
    with TestClient(create_app(tuned, clock=clock)) as client:
        gw = Gateway(client)
        alice = gw.token("alice", groups=["payments"])
        rid = gw.submit(request(bucket("b")), alice).json()["id"]
        svc = gw.services

        def broken(_req: Any) -> Any:
            raise RuntimeError("a bug in the re-check")

        svc.worker.evaluate = broken
        assert svc.worker.drain() == 1  # the first failure: tried again later
        assert client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "approved"
        clock.advance(minutes=5)
        assert svc.worker.drain() == 1  # the last allowed attempt fails too: given up, and said so
        body = client.get(f"/v1/requests/{rid}", headers=alice).json()
        assert body["state"] == "failed" and "a bug in the re-check" in body["error"]


def test_an_outage_does_not_use_up_the_attempts(queued):
    alice = queued.token("alice", groups=["payments"])
    rid = queued.submit(request(bucket("b")), alice).json()["id"]
    svc = queued.services

    def down(_req: Any) -> Any:
        from gateway.errors import PolicyUnavailable

        raise PolicyUnavailable("the policy engine did not answer")

    real, svc.worker.evaluate = svc.worker.evaluate, down
    for _ in range(svc.worker.max_attempts + 2):
        assert svc.worker.drain() == 1
        svc.clock.advance(seconds=svc.settings.retry_after_seconds)
    with svc.db.read() as s:
        job = jobs.get_job(s, request_id=rid)
        assert job is not None and job.attempts == 0 and job.status == "queued"
    svc.worker.evaluate = real
    assert svc.worker.drain() == 1
    assert queued.client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "succeeded"


def test_a_request_that_kills_every_worker_is_given_up(queued):
    alice = queued.token("alice", groups=["payments"])
    rid = queued.submit(request(bucket("b")), alice).json()["id"]
    svc = queued.services
    now = svc.clock.now()
    for _ in range(
        svc.worker.max_attempts
    ):  # each worker dies in it: its lease runs out, the next takes over
        with svc.db.unit_of_work() as s:
            assert jobs.claim(
                s, request_id=rid, worker="doomed", now=svc.clock.now(), lease_until=svc.clock.now()
            )
        svc.clock.advance(seconds=1)
    assert svc.clock.now() > now
    assert svc.worker.drain() == 1
    body = queued.client.get(f"/v1/requests/{rid}", headers=alice).json()
    assert body["state"] == "failed" and "cut off" in body["error"]


def test_two_resources_may_not_name_one_bucket_and_a_protected_resource_has_no_lease(gateway, alice):
    twice = gateway.submit(request(bucket("a", bucket="shared-x"), bucket("b", bucket="shared-x")), alice)
    assert twice.status_code == 422
    assert [e["pointer"] for e in twice.json()["errors"]] == ["/resources/1/properties/bucket"]
    protected = database("vault")
    protected["properties"]["deletion_protection"] = True
    leased = gateway.submit(request(protected, lease={"days": 3}), alice)
    assert leased.status_code == 422
    assert [e["pointer"] for e in leased.json()["errors"]] == ["/resources/0/properties/deletion_protection"]


def test_extending_a_lease_cancels_the_retirement_already_filed(gateway, alice, auditor, clock, sandbox_url):
    standard = {"type": "standard", "ticket": "CHG0031337"}
    made = gateway.submit(
        request(bucket("keepme"), env="prod", change=standard, lease={"days": 1}), alice
    ).json()
    assert made["state"] == "succeeded", made
    name = made["outputs"]["aws_s3_bucket.keepme"]["id"]
    clock.advance(days=1, minutes=1)
    gateway.services.scheduler.tick()
    [retirement] = [r for r in gateway.client.get("/v1/requests", headers=auditor).json()["items"]
                    if r["id"] != made["id"]]  # fmt: skip
    assert retirement["state"] == "pending_approval"

    update = request(_change("aws_s3_bucket", "keepme", name, "update", tags={**TAGS, "keep": "yes"}),
                     env="prod", change=standard, lease={"days": 30})  # fmt: skip
    assert gateway.submit(update, alice).json()["state"] == "succeeded"

    after = gateway.client.get(f"/v1/requests/{retirement['id']}", headers=auditor).json()
    assert after["state"] == "cancelled"
    [item] = [
        i for i in gateway.client.get("/v1/inventory", headers=auditor).json()["items"] if i["id"] == name
    ]
    assert item["lease_expires_at"] == "2027-01-01T22:31:00Z" and item["retire_request_id"] is None
    cab = gateway.token("dana", Role.APPROVER, ["cab"])
    late = gateway.client.post(
        f"/v1/requests/{retirement['id']}/approvals", json={"verdict": "approve"}, headers=cab
    )
    assert late.status_code == 409
    assert name in [b["Name"] for b in _client(sandbox_url, "s3").list_buckets()["Buckets"]]
