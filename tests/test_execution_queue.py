"""Stage 4 as a durable queue: retries of throttled calls, rollback of partial failures (or not, on request), a
cloud that stays down, and workers that never run one request twice."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from fastapi.testclient import TestClient

from gateway.adapters.store import jobs
from gateway.app import create_app
from gateway.domain.identity import Role
from gateway.settings import Settings
from tests.clock import ManualClock
from tests.conftest import Gateway
from tests.factories import bucket, instance, request, security_group

EC2_ERROR = (
    '<?xml version="1.0" encoding="UTF-8"?><Response><Errors><Error><Code>{code}</Code>'
    "<Message>{message}</Message></Error></Errors><RequestID>injected</RequestID></Response>"
)


class _Raw:
    def __init__(self, body: bytes) -> None:
        self.body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self.body


class Refuse:
    """Answers the first `times` calls of one EC2 operation with an error, as AWS would, before they leave."""

    def __init__(self, operation: str, times: int, status: int, code: str, message: str) -> None:
        self.operation, self.times, self.status = operation, times, status
        self.body = EC2_ERROR.format(code=code, message=message).encode()
        self.seen = 0

    def __call__(self, request: Any, **_: Any) -> AWSResponse | None:
        self.seen += 1
        if self.seen > self.times:
            return None
        return AWSResponse(request.url, self.status, {"Content-Type": "text/xml"}, _Raw(self.body))


def _client(sandbox_url: str, service: str) -> Any:
    return boto3.client(service, region_name="eu-west-1", endpoint_url=sandbox_url,
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # fmt: skip


def _events(gateway: Gateway, rid: str, auditor: dict[str, str]) -> list[dict[str, Any]]:
    body = gateway.client.get("/v1/audit/events", params={"request_id": rid, "limit": 500}, headers=auditor)
    return list(body.json()["items"])


def _live_instances(sandbox_url: str, rid: str) -> list[dict[str, Any]]:
    resp = _client(sandbox_url, "ec2").describe_instances(
        Filters=[{"Name": "tag:govgate:request-id", "Values": [rid]},
                 {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]}]
    )  # fmt: skip
    return [i for r in resp["Reservations"] for i in r["Instances"]]


def _buckets_of(sandbox_url: str, rid: str) -> list[str]:
    return [
        b["Name"] for b in _client(sandbox_url, "s3").list_buckets()["Buckets"] if b["Name"].endswith(rid[:8])
    ]


@pytest.fixture
def fast(settings: Settings, clock: ManualClock) -> Iterator[Gateway]:
    """The gateway with short retries: botocore tries each call twice, the gateway each step three times."""
    tuned = settings.model_copy(update={"cloud_max_attempts": 2, "cloud_retry_attempts": 3,
                                        "cloud_retry_base_seconds": 0.01, "cloud_retry_max_seconds": 0.05})  # fmt: skip
    with TestClient(create_app(tuned, clock=clock)) as client:
        yield Gateway(client)


def test_a_throttled_call_is_retried_and_succeeds(fast, sandbox_url):
    alice = fast.token("alice", groups=["payments"])
    auditor = fast.token("carol", role=Role.AUDITOR)
    ec2 = fast.services.cloud.client("ec2", "eu-west-1")
    # Three throttled answers: more than botocore's two attempts, so the gateway's own retry is needed too.
    refuse = Refuse("RunInstances", 3, 503, "RequestLimitExceeded", "Request limit exceeded.")
    ec2.meta.events.register("before-send.ec2.RunInstances", refuse)
    try:
        body = fast.submit(request(instance("web")), alice).json()
    finally:
        ec2.meta.events.unregister("before-send.ec2.RunInstances", refuse)

    assert body["state"] == "succeeded", body
    assert refuse.seen == 4  # three refused, the fourth went through
    assert len(_live_instances(sandbox_url, body["id"])) == 1
    runs = [e["data"] for e in _events(fast, body["id"], auditor)
            if e["type"] == "cloud.call" and e["data"]["operation"] == "RunInstances"]  # fmt: skip
    # The first call gave up after botocore's retries and is in the ledger with its error; the step's retry won.
    assert [r["retries"] for r in runs] == [1, 1]
    assert "RequestLimitExceeded" in runs[0]["error"] and runs[1]["error"] is None
    assert runs[1]["http_status"] == 200


def test_a_client_error_is_not_retried(fast, sandbox_url):
    alice = fast.token("alice", groups=["payments"])
    ec2 = fast.services.cloud.client("ec2", "eu-west-1")
    refuse = Refuse("CreateSecurityGroup", 1, 400, "InvalidParameterValue", "Invalid value for group name")
    ec2.meta.events.register("before-send.ec2.CreateSecurityGroup", refuse)
    try:
        body = fast.submit(request(instance("vm"), security_group("edge")), alice).json()
    finally:
        ec2.meta.events.unregister("before-send.ec2.CreateSecurityGroup", refuse)

    assert body["state"] == "failed"
    assert body["error"] == "aws_security_group.edge: InvalidParameterValue: Invalid value for group name"
    assert refuse.seen == 1  # asked once: a 4xx is the request's fault, asking again changes nothing
    assert _live_instances(sandbox_url, body["id"]) == []  # and the instance made before it is gone


def test_a_four_resource_request_whose_third_fails_leaves_nothing_behind(
    gateway, alice, auditor, sandbox_url
):
    taken = "taken-by-someone-else-q5"
    _client(sandbox_url, "s3").create_bucket(
        Bucket=taken, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    body = gateway.submit(
        request(instance("app"), bucket("logs"), bucket("clash", bucket=taken), security_group("web")), alice
    ).json()

    assert body["state"] == "failed"
    assert body["error"] == (
        "aws_s3_bucket.clash: BucketAlreadyExists: bucket name taken-by-someone-else-q5 is taken by a bucket this"
        " request did not make"
    )
    assert body["outputs"] == {}
    rid = body["id"]
    assert _live_instances(sandbox_url, rid) == [] and _buckets_of(sandbox_url, rid) == []
    sgs = _client(sandbox_url, "ec2").describe_security_groups(
        Filters=[{"Name": "tag:govgate:request-id", "Values": [rid]}]
    )["SecurityGroups"]
    assert sgs == []  # never attempted
    assert taken in [
        b["Name"] for b in _client(sandbox_url, "s3").list_buckets()["Buckets"]
    ]  # not ours: untouched
    inv = gateway.client.get("/v1/inventory", params={"status": "all"}, headers=auditor).json()["items"]
    assert [i for i in inv if i["request_id"] == rid] == []

    events = _events(gateway, rid, auditor)
    failed = next(e["data"] for e in events if e["type"] == "execution.failed")
    assert failed["rolled_back"] == ["aws_s3_bucket.logs", "aws_instance.app"]
    steps = [
        (e["type"], e["data"]["phase"], e["data"]["index"])
        for e in events
        if e["type"].startswith("execution.step")
    ]
    assert steps == [
        ("execution.step_started", "apply", 0), ("execution.step_succeeded", "apply", 0),
        ("execution.step_started", "apply", 1), ("execution.step_succeeded", "apply", 1),
        ("execution.step_started", "apply", 2), ("execution.step_failed", "apply", 2),
        ("execution.step_started", "rollback", 1), ("execution.step_succeeded", "rollback", 1),
        ("execution.step_started", "rollback", 0), ("execution.step_succeeded", "rollback", 0),
    ]  # fmt: skip


def test_on_failure_keep_leaves_what_was_made_in_the_inventory(gateway, alice, auditor, sandbox_url):
    taken = "taken-for-keep-q5"
    _client(sandbox_url, "s3").create_bucket(
        Bucket=taken, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    body = gateway.submit(
        request(instance("app"), bucket("logs"), bucket("clash", bucket=taken), on_failure="keep"), alice
    ).json()

    assert body["state"] == "failed" and "aws_s3_bucket.clash" in body["error"]
    rid = body["id"]
    assert set(body["outputs"]) == {"aws_instance.app", "aws_s3_bucket.logs"}
    assert len(_live_instances(sandbox_url, rid)) == 1 and len(_buckets_of(sandbox_url, rid)) == 1
    inv = gateway.client.get("/v1/inventory", headers=auditor).json()["items"]
    assert sorted(i["address"] for i in inv if i["request_id"] == rid) == [
        "aws_instance.app",
        "aws_s3_bucket.logs",
    ]


def test_a_cloud_that_stays_down_fails_closed_then_fails_the_request(settings, clock, sandbox_url):
    down = settings.model_copy(update={
        "aws_endpoint_url": "http://127.0.0.1:9", "cloud_max_attempts": 1, "cloud_retry_attempts": 2,
        "cloud_retry_base_seconds": 0.01, "cloud_retry_max_seconds": 0.02, "execution_max_attempts": 2,
    })  # fmt: skip
    with TestClient(create_app(down, clock=clock)) as client:
        gw = Gateway(client)
        alice = gw.token("alice", groups=["payments"])
        body = gw.submit(request(instance("web")), alice).json()
        # Nothing could be asked: the request waits, executing, and its job is queued to be tried again later.
        assert body["state"] == "executing"
        with gw.services.db.read() as s:
            job = jobs.get_job(s, request_id=body["id"])
            assert job is not None and job.status == "queued" and job.not_before > clock.now()
        assert gw.services.worker.drain() == 0  # not due yet
        clock.advance(seconds=60)
        assert gw.services.worker.drain() == 1  # the last attempt: now the failure is final
        final = client.get(f"/v1/requests/{body['id']}", headers=alice).json()
        assert final["state"] == "failed" and "aws_instance.web" in final["error"]


def test_queued_requests_are_run_once_by_racing_workers(settings, clock, sandbox_url):
    queued = settings.model_copy(update={"execute_inline": False})
    with TestClient(create_app(queued, clock=clock)) as client:
        gw = Gateway(client)
        alice = gw.token("alice", groups=["payments"])
        auditor = gw.token("carol", role=Role.AUDITOR)
        ids = [gw.submit(request(bucket(f"b{i}")), alice).json()["id"] for i in range(6)]
        assert {client.get(f"/v1/requests/{r}", headers=alice).json()["state"] for r in ids} == {"approved"}

        # Four workers (as four replicas would) drain one queue at once.
        from gateway.pipeline.worker import Worker

        svc = gw.services
        workers = [Worker(db=svc.db, execution=svc.runner.execution, evaluate=svc.runner.evaluate_stored,
                          clock=clock, lease=svc.worker.lease, retry_after=svc.worker.retry_after,
                          max_attempts=3) for _ in range(4)]  # fmt: skip
        ran: list[int] = []
        threads = [threading.Thread(target=lambda w=w: ran.append(w.drain())) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

        assert sum(ran) == 6
        for rid in ids:
            assert client.get(f"/v1/requests/{rid}", headers=alice).json()["state"] == "succeeded"
            events = _events(gw, rid, auditor)
            assert [e["type"] for e in events].count("execution.started") == 1
            assert (
                len(
                    [
                        e
                        for e in events
                        if e["type"] == "cloud.call" and e["data"]["operation"] == "CreateBucket"
                    ]
                )
                == 1
            )
            assert len(_buckets_of(sandbox_url, rid)) == 1
