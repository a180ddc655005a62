"""Stage 4 in the sandbox cloud: what the gateway says it created exists, tagged, and failures clean up."""

from __future__ import annotations

import boto3

from gateway.adapters.cloud.registry import DRIVERS
from tests.factories import bucket, instance, request, security_group


def _client(sandbox_url, service, region="eu-west-1"):
    return boto3.client(service, region_name=region, endpoint_url=sandbox_url,
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # fmt: skip


def test_created_resources_exist_in_the_sandbox_with_gateway_tags(gateway, alice, sandbox_url):
    body = gateway.submit(request(instance(), bucket(), security_group()), alice).json()
    out = body["outputs"]

    ec2 = _client(sandbox_url, "ec2")
    inst = ec2.describe_instances(InstanceIds=[out["aws_instance.web-1"]["id"]])["Reservations"][0][
        "Instances"
    ][0]
    tags = {t["Key"]: t["Value"] for t in inst["Tags"]}
    assert tags["govgate:request-id"] == body["id"] and tags["govgate:resource"] == "aws_instance.web-1"
    assert tags["owner"] == "payments" and inst["InstanceType"] == "t3.small"
    assert inst["MetadataOptions"]["HttpTokens"] == "required"

    s3 = _client(sandbox_url, "s3")
    name = out["aws_s3_bucket.assets"]["id"]
    enc = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert enc["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert all(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"].values())

    sg = ec2.describe_security_groups(GroupIds=[out["aws_security_group.web"]["id"]])["SecurityGroups"][0]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in sg["IpPermissions"]] == [(443, "0.0.0.0/0")]


def test_every_cloud_call_is_in_the_ledger(gateway, alice, auditor):
    rid = gateway.submit(request(instance()), alice).json()["id"]
    events = gateway.client.get("/v1/audit/events", params={"request_id": rid}, headers=auditor).json()[
        "items"
    ]
    calls = [e["data"] for e in events if e["type"] == "cloud.call"]
    run = [c for c in calls if c["operation"] == "RunInstances"]
    assert run and run[0]["service"] == "ec2" and run[0]["http_status"] == 200
    assert run[0]["params"]["InstanceType"] == "t3.small" and run[0]["duration_ms"] > 0
    types = [e["type"] for e in events]
    assert types[:2] == ["request.submitted", "policy.evaluated"]
    assert types[-1] == "execution.succeeded" and "execution.started" in types


def test_a_failed_resource_removes_what_the_request_created(gateway, alice, sandbox_url):
    taken = "taken-bucket-for-failure-test"
    s3 = _client(sandbox_url, "s3")
    s3.create_bucket(Bucket=taken, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})

    body = gateway.submit(request(instance("first"), bucket("clash", bucket=taken)), alice).json()

    assert body["state"] == "failed"
    assert "aws_s3_bucket.clash" in body["error"]
    assert body["outputs"] == {}
    ec2 = _client(sandbox_url, "ec2")
    mine = ec2.describe_instances(Filters=[{"Name": "tag:govgate:request-id", "Values": [body["id"]]}])
    states = [i["State"]["Name"] for r in mine["Reservations"] for i in r["Instances"]]
    assert states and all(s in ("shutting-down", "terminated") for s in states)


def test_delete_retires_a_managed_resource(gateway, alice, sandbox_url):
    created = gateway.submit(request(bucket("scratch")), alice).json()
    name = created["outputs"]["aws_s3_bucket.scratch"]["id"]

    gone = gateway.submit(request({"action": "delete", "type": "aws_s3_bucket", "name": "scratch", "id": name}),
                          alice).json()  # fmt: skip

    assert gone["state"] == "succeeded", gone
    names = [b["Name"] for b in _client(sandbox_url, "s3").list_buckets()["Buckets"]]
    assert name not in names
    # And the inventory knows: it no longer counts toward the team's spend, and cannot be changed again.
    again = gateway.submit(request({"action": "delete", "type": "aws_s3_bucket", "name": "scratch", "id": name}),
                           alice)  # fmt: skip
    assert (
        again.status_code == 422 and "not in the gateway's inventory" in again.json()["errors"][0]["detail"]
    )


def test_update_changes_the_instance_type(gateway, alice, sandbox_url):
    created = gateway.submit(request(instance("app")), alice).json()
    iid = created["outputs"]["aws_instance.app"]["id"]

    upd = request({"action": "update", "type": "aws_instance", "name": "app", "id": iid,
                   "properties": {"instance_type": "t3.medium"}})  # fmt: skip
    body = gateway.submit(upd, alice).json()

    assert body["state"] == "succeeded", body
    assert body["decision"]["cost"]["delta_monthly"] > 0
    inst = _client(sandbox_url, "ec2").describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][
        0
    ]
    assert inst["InstanceType"] == "t3.medium"


def test_every_driver_declares_its_schema_and_iam_actions():
    for rtype, drv in DRIVERS.items():
        assert rtype == drv.TYPE
        assert f"resources/{rtype}.schema.json" == drv.SCHEMA_ID
        assert drv.IAM_ACTIONS, f"{rtype} declares no IAM actions"
        assert all(":" in a for a in drv.IAM_ACTIONS)


def test_a_half_made_security_group_is_removed_too(gateway, alice, auditor, sandbox_url):
    # The schema's CIDR pattern lets 999.0.0.0/8 through; the cloud refuses it after the group exists.
    body = gateway.submit(request(instance("vm"), security_group("bad", cidr="999.0.0.0/8")), alice).json()

    assert body["state"] == "failed" and "aws_security_group.bad" in body["error"]
    ec2 = _client(sandbox_url, "ec2")
    groups = ec2.describe_security_groups(
        Filters=[{"Name": "tag:govgate:request-id", "Values": [body["id"]]}]
    )
    assert groups["SecurityGroups"] == []
    events = gateway.client.get("/v1/audit/events", params={"request_id": body["id"]}, headers=auditor).json()
    ops = [e["data"]["operation"] for e in events["items"] if e["type"] == "cloud.call"]
    assert ops.index("CreateSecurityGroup") < ops.index("DeleteSecurityGroup")
    assert "TerminateInstances" in ops
