"""Create, update and delete of every resource type through the gateway, each checked in the sandbox cloud: what
the request asked for is what the cloud has afterwards."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tests.factories import TAGS, bucket, database, instance, request, security_group
from tests.factories import change as _change


def _client(sandbox_url: str, service: str) -> Any:
    return boto3.client(service, region_name="eu-west-1", endpoint_url=sandbox_url,
                        aws_access_key_id="sandbox", aws_secret_access_key="sandbox")  # fmt: skip


def _tags(pairs: list[dict[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in pairs}


def _run(gateway, alice, *resources: dict[str, Any]) -> dict[str, Any]:
    body = gateway.submit(request(*resources), alice).json()
    assert body["state"] == "succeeded", body
    return dict(body)


def test_an_instance_is_created_resized_retagged_and_terminated(gateway, alice, sandbox_url):
    ec2 = _client(sandbox_url, "ec2")
    iid = _run(gateway, alice, instance("app"))["outputs"]["aws_instance.app"]["id"]

    _run(gateway, alice, _change("aws_instance", "app", iid, "update", instance_type="t3.large",
                                 tags={**TAGS, "tier": "batch"}))  # fmt: skip

    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert inst["InstanceType"] == "t3.large"
    assert inst["State"]["Name"] == "running"  # stopped to resize, started again
    assert (
        _tags(inst["Tags"])["tier"] == "batch"
        and _tags(inst["Tags"])["govgate:resource"] == "aws_instance.app"
    )
    _run(gateway, alice, _change("aws_instance", "app", iid, "delete"))
    inst = ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]
    assert inst["State"]["Name"] in ("shutting-down", "terminated")


def test_a_bucket_gets_versioning_encryption_and_public_access_block_and_is_deleted(
    gateway, alice, sandbox_url
):
    s3 = _client(sandbox_url, "s3")
    name = _run(gateway, alice, bucket("data"))["outputs"]["aws_s3_bucket.data"]["id"]
    assert s3.get_bucket_versioning(Bucket=name).get("Status") is None

    kms = [
        {
            "rule": [
                {
                    "apply_server_side_encryption_by_default": [
                        {
                            "sse_algorithm": "aws:kms",
                            "kms_master_key_id": "arn:aws:kms:eu-west-1:123456789012:key/abc",
                        }
                    ]
                }
            ]
        }
    ]
    _run(gateway, alice, _change("aws_s3_bucket", "data", name, "update", versioning=[{"enabled": True}],
                                 server_side_encryption_configuration=kms, tags={**TAGS, "tier": "cold"}))  # fmt: skip

    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    rule = s3.get_bucket_encryption(Bucket=name)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert all(s3.get_public_access_block(Bucket=name)["PublicAccessBlockConfiguration"].values())
    assert _tags(s3.get_bucket_tagging(Bucket=name)["TagSet"])["tier"] == "cold"
    _run(gateway, alice, _change("aws_s3_bucket", "data", name, "delete"))
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_a_security_groups_rules_are_replaced_and_the_group_deleted(gateway, alice, sandbox_url):
    ec2 = _client(sandbox_url, "ec2")
    gid = _run(gateway, alice, security_group("edge"))["outputs"]["aws_security_group.edge"]["id"]

    rules = [{"from_port": 8443, "to_port": 8443, "protocol": "tcp", "cidr_blocks": ["10.0.0.0/8"],
              "description": "internal"}]  # fmt: skip
    _run(gateway, alice, _change("aws_security_group", "edge", gid, "update", ingress=rules))

    sg = ec2.describe_security_groups(GroupIds=[gid])["SecurityGroups"][0]
    assert [(p["FromPort"], p["IpRanges"][0]["CidrIp"]) for p in sg["IpPermissions"]] == [
        (8443, "10.0.0.0/8")
    ]
    _run(gateway, alice, _change("aws_security_group", "edge", gid, "delete"))
    gone = ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": [gid]}])["SecurityGroups"]
    assert gone == []


def test_a_database_changes_class_and_storage_and_is_deleted(gateway, alice, sandbox_url):
    rds = _client(sandbox_url, "rds")
    ident = _run(gateway, alice, database("orders"))["outputs"]["aws_db_instance.orders"]["id"]
    db = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    assert (db["DBInstanceClass"], db["AllocatedStorage"], db["StorageEncrypted"]) == (
        "db.t3.micro",
        20,
        True,
    )

    _run(gateway, alice, _change("aws_db_instance", "orders", ident, "update", instance_class="db.t3.small",
                                 allocated_storage=50))  # fmt: skip

    db = rds.describe_db_instances(DBInstanceIdentifier=ident)["DBInstances"][0]
    assert (db["DBInstanceClass"], db["AllocatedStorage"]) == ("db.t3.small", 50)
    _run(gateway, alice, _change("aws_db_instance", "orders", ident, "delete"))
    with pytest.raises(rds.exceptions.DBInstanceNotFoundFault):
        rds.describe_db_instances(DBInstanceIdentifier=ident)
