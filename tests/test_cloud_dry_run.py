"""POST /v1/evaluate?cloud_dry_run=true: the cloud is asked whether each call would succeed; nothing changes."""

from __future__ import annotations

import boto3

from tests.factories import bucket, database, instance, request, security_group


def _ec2(sandbox_url):
    return boto3.client("ec2", region_name="eu-west-1", endpoint_url=sandbox_url,
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # fmt: skip


def _instances(sandbox_url) -> int:
    return sum(len(r["Instances"]) for r in _ec2(sandbox_url).describe_instances()["Reservations"])


def test_a_cloud_dry_run_reports_each_call_and_creates_nothing(gateway, alice, auditor, sandbox_url):
    before = _instances(sandbox_url)
    body = request(instance(), bucket(), security_group(), database())
    r = gateway.client.post("/v1/evaluate", params={"cloud_dry_run": "true"}, json=body, headers=alice)

    assert r.status_code == 200
    checked = r.json()["cloud_dry_run"]
    assert checked["ok"] is True and checked["sandbox"] is True
    assert {c["address"]: c["ok"] for c in checked["checks"]} == {
        "aws_instance.web-1": True, "aws_s3_bucket.assets": True, "aws_security_group.web": True,
        "aws_db_instance.ledger": True,
    }  # fmt: skip
    operations = {c["operation"] for c in checked["calls"]}
    assert {"RunInstances", "CreateSecurityGroup", "HeadBucket", "DescribeDBInstances"} <= operations
    assert all(c["params"].get("DryRun") for c in checked["calls"] if c["service"] == "ec2")
    assert _instances(sandbox_url) == before  # nothing was created
    events = gateway.client.get("/v1/audit/events", params={"type": "policy.dry_run"}, headers=auditor).json()
    assert events["items"][-1]["data"]["cloud_dry_run"]["ok"] is True
    # Without the flag, the cloud is not asked.
    assert "cloud_dry_run" not in gateway.client.post("/v1/evaluate", json=body, headers=alice).json()


def test_a_cloud_dry_run_says_which_call_would_fail(gateway, alice):
    made = gateway.submit(request(bucket("logs")), alice).json()["outputs"]["aws_s3_bucket.logs"]["id"]
    taken = bucket("again", bucket=made)  # a bucket name that exists already
    gone = {"action": "delete", "type": "aws_db_instance", "name": "old", "id": "no-such-db"}
    r = gateway.client.post(
        "/v1/evaluate", params={"cloud_dry_run": "true"}, json=request(taken), headers=alice
    )
    checks = r.json()["cloud_dry_run"]
    assert checks["ok"] is False and "is taken" in checks["checks"][0]["detail"]
    r = gateway.client.post(
        "/v1/evaluate", params={"cloud_dry_run": "true"}, json=request(gone), headers=alice
    )
    assert r.status_code == 422  # not in the inventory: refused before the cloud is asked
