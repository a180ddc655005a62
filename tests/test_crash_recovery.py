"""A worker process killed with SIGKILL at several points of a request, then a fresh worker: the request ends as
if nothing had happened, with exactly one cloud resource per requested one and nothing left over.

The gateway here only queues (execute_inline off); `govgate worker` processes, on the same database, OPA and
sandbox cloud, do the execution. GATEWAY_FAULT_KILL_AT makes the first one kill itself at the chosen point."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from fastapi.testclient import TestClient

from gateway.adapters.store import jobs
from gateway.app import create_app
from gateway.domain.identity import Role
from gateway.settings import Settings
from tests.conftest import POLICY_DIR, Gateway
from tests.factories import bucket, instance, request, security_group

GOVGATE = str(Path(sys.executable).parent / "govgate")
LEASE_SECONDS = 1.0


def _client(sandbox_url: str, service: str) -> Any:
    return boto3.client(service, region_name="eu-west-1", endpoint_url=sandbox_url,
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # fmt: skip


@pytest.fixture
def queued(settings: Settings) -> Iterator[Gateway]:
    """The gateway on the system clock (the workers' clock), leaving execution to the worker processes."""
    tuned = settings.model_copy(update={"execute_inline": False, "execution_lease_seconds": LEASE_SECONDS})
    with TestClient(create_app(tuned)) as client:
        yield Gateway(client)


def _worker(
    gw: Gateway, settings: Settings, tmp_path: Path, kill_at: str | None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update({
        "GATEWAY_DATABASE_URL": gw.services.db.url, "GATEWAY_OPA_URL": str(settings.opa_url),
        "GATEWAY_AWS_ENDPOINT_URL": str(settings.aws_endpoint_url), "GATEWAY_CLOUD": "sandbox",
        "GATEWAY_POLICY_DIR": str(POLICY_DIR), "GATEWAY_DATA_DIR": str(tmp_path),
        "GATEWAY_EXECUTION_LEASE_SECONDS": str(LEASE_SECONDS),
    })  # fmt: skip
    if kill_at:
        env["GATEWAY_FAULT_KILL_AT"] = kill_at
    return subprocess.run([GOVGATE, "worker", "--until-idle", "--poll", "0.2"], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def _resources(sandbox_url: str, rid: str) -> dict[str, list[str]]:
    """Every live cloud resource this request made, by type: found by the tags and names, not by the gateway."""
    ec2 = _client(sandbox_url, "ec2")
    live = ("pending", "running", "stopping", "stopped")
    inst = ec2.describe_instances(Filters=[{"Name": "tag:govgate:request-id", "Values": [rid]},
                                           {"Name": "instance-state-name", "Values": list(live)}])  # fmt: skip
    sgs = ec2.describe_security_groups(Filters=[{"Name": "tag:govgate:request-id", "Values": [rid]}])
    s3 = _client(sandbox_url, "s3")
    return {
        "aws_instance": [i["InstanceId"] for r in inst["Reservations"] for i in r["Instances"]],
        "aws_security_group": [g["GroupId"] for g in sgs["SecurityGroups"]],
        # Found by name, tagged or not: a crash between CreateBucket and its tagging leaves an untagged one.
        "aws_s3_bucket": [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].endswith(rid[:8])],
    }


def _state(gw: Gateway, rid: str, who: dict[str, str]) -> dict[str, Any]:
    return dict(gw.client.get(f"/v1/requests/{rid}", headers=who).json())


# Calls that change the cloud for request(instance, bucket, security_group), in order:
#   1 RunInstances, 2 CreateBucket, 3 PutBucketTagging, 4 PutBucketEncryption, 5 PutPublicAccessBlock,
#   6 CreateSecurityGroup, 7 AuthorizeSecurityGroupIngress.
KILL_POINTS = [
    "executing:1",  # marked executing, nothing asked yet
    "step-started:2",  # the bucket's step recorded, not yet called
    "cloud-call:1",  # the instance exists, nothing recorded about it
    "cloud-call:2",  # the bucket exists, untagged, unrecorded
    "cloud-call:6",  # the security group exists without its rule
    "step-done:3",  # everything made and recorded, the request not yet marked succeeded
]


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_a_worker_killed_mid_request_is_finished_by_the_next_with_no_duplicate(
    queued, settings, sandbox_url, tmp_path, kill_at
):
    alice = queued.token("alice", groups=["payments"])
    auditor = queued.token("carol", Role.AUDITOR)
    rid = queued.submit(request(instance("web"), bucket("logs"), security_group("edge")), alice).json()["id"]
    assert _state(queued, rid, alice)["state"] == "approved"

    first = _worker(queued, settings, tmp_path, kill_at)
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    assert _state(queued, rid, alice)["state"] == "executing"

    second = _worker(queued, settings, tmp_path, None)
    assert second.returncode == 0, second.stderr[-2000:]

    body = _state(queued, rid, alice)
    assert body["state"] == "succeeded", body
    made = _resources(sandbox_url, rid)
    assert {k: len(v) for k, v in made.items()} == {
        "aws_instance": 1,
        "aws_security_group": 1,
        "aws_s3_bucket": 1,
    }
    assert body["outputs"]["aws_instance.web"]["id"] == made["aws_instance"][0]
    assert body["outputs"]["aws_s3_bucket.logs"]["id"] == made["aws_s3_bucket"][0]
    assert body["outputs"]["aws_security_group.edge"]["id"] == made["aws_security_group"][0]
    # What a resumed step made is what was asked for: the bucket tagged and encrypted, the group with its rule.
    s3 = _client(sandbox_url, "s3")
    name = made["aws_s3_bucket"][0]
    assert {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=name)["TagSet"]}[
        "govgate:request-id"
    ] == rid
    assert s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"]
    sg = _client(sandbox_url, "ec2").describe_security_groups(GroupIds=made["aws_security_group"])[
        "SecurityGroups"
    ][0]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in sg["IpPermissions"]] == [(443, "0.0.0.0/0")]

    inv = queued.client.get("/v1/inventory", headers=auditor).json()["items"]
    assert sorted(i["address"] for i in inv if i["request_id"] == rid) == [
        "aws_instance.web", "aws_s3_bucket.logs", "aws_security_group.edge"
    ]  # fmt: skip
    events = queued.client.get("/v1/audit/events", params={"request_id": rid, "limit": 500}, headers=auditor)
    types = [e["type"] for e in events.json()["items"]]
    assert types.count("execution.started") == 1 and "execution.resumed" in types
    assert types[-1] == "execution.succeeded"
    assert queued.client.get("/v1/audit/verify", headers=auditor).json()["ok"] is True
    with queued.services.db.read() as s:
        job = jobs.get_job(s, request_id=rid)
        # The killed attempt counts as a failed one: a request that kills every worker is not retried forever.
        assert job is not None and job.status == "done" and job.attempts == 1


def test_a_worker_killed_during_a_rollback_leaves_nothing_behind_after_restart(
    queued, settings, sandbox_url, tmp_path
):
    alice = queued.token("alice", groups=["payments"])
    taken = "taken-for-crash-rollback"
    _client(sandbox_url, "s3").create_bucket(
        Bucket=taken, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    body = request(instance("app"), bucket("logs"), bucket("clash", bucket=taken), security_group("web"))
    rid = queued.submit(body, alice).json()["id"]

    # Mutating calls: 1 RunInstances, 2-5 the logs bucket, the clash fails; 6 is the rollback's DeleteBucket.
    first = _worker(queued, settings, tmp_path, "cloud-call:6")
    assert first.returncode == -signal.SIGKILL, first.stderr[-2000:]
    second = _worker(queued, settings, tmp_path, None)
    assert second.returncode == 0, second.stderr[-2000:]

    final = _state(queued, rid, alice)
    assert final["state"] == "failed" and final["error"].startswith("aws_s3_bucket.clash: ")
    assert _resources(sandbox_url, rid) == {"aws_instance": [], "aws_security_group": [], "aws_s3_bucket": []}


def test_a_lease_held_by_a_live_worker_is_not_taken(queued, settings, tmp_path):
    """The restart only takes over once the dead worker's lease ran out; a job whose lease is current is left."""
    alice = queued.token("alice", groups=["payments"])
    rid = queued.submit(request(bucket("held")), alice).json()["id"]
    svc = queued.services
    now = svc.clock.now()
    with svc.db.unit_of_work() as s:
        for r in jobs.claimable_ids(s, now=now, limit=5):
            assert jobs.claim(
                s, request_id=r, worker="someone-else", now=now, lease_until=now.replace(year=now.year + 1)
            )
    assert svc.worker.drain() == 0
    assert _state(queued, rid, alice)["state"] == "approved"
