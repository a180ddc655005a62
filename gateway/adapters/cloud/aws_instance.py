"""EC2 instances."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from gateway.adapters.cloud.client import Cloud
from gateway.adapters.cloud.driver import (
    REQUEST_TAG,
    RESOURCE_TAG,
    Target,
    ec2_dry_run,
    is_not_found,
    tag_list,
)
from gateway.domain.drift import user_tags

log = logging.getLogger("gateway.cloud")

TYPE = "aws_instance"
SCHEMA_ID = "resources/aws_instance.schema.json"
# What an update can change in place; validation refuses anything else.
UPDATABLE = frozenset(("instance_type", "metadata_options", "tags"))
IAM_ACTIONS = (
    "ec2:DescribeInstances",
    "ec2:RunInstances",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:StopInstances",
    "ec2:ModifyInstanceAttribute",
    "ec2:ModifyInstanceMetadataOptions",
    "ec2:StartInstances",
    "ec2:TerminateInstances",
    # Used by EC2 on the gateway's behalf for volumes encrypted with a customer-managed KMS key.
    "kms:CreateGrant",
    "kms:DescribeKey",
)
GONE = ("shutting-down", "terminated")
_METADATA = (
    ("http_tokens", "HttpTokens"),
    ("http_endpoint", "HttpEndpoint"),
    ("http_put_response_hop_limit", "HttpPutResponseHopLimit"),
)


def _existing(ec2: Any, t: Target) -> str | None:
    resp = ec2.describe_instances(
        Filters=[
            {"Name": f"tag:{REQUEST_TAG}", "Values": [t.request_id]},
            {"Name": f"tag:{RESOURCE_TAG}", "Values": [t.address]},
            {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
        ]
    )
    for res in resp.get("Reservations", []):
        for inst in res.get("Instances", []):
            return str(inst["InstanceId"])
    return None


def _block_devices(p: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for root in p.get("root_block_device") or []:
        ebs = {"VolumeSize": root.get("volume_size", 8), "VolumeType": root.get("volume_type", "gp3")}
        ebs["Encrypted"] = bool(root.get("encrypted", False))
        if root.get("kms_key_id"):
            ebs["KmsKeyId"] = root["kms_key_id"]
        out.append({"DeviceName": "/dev/xvda", "Ebs": ebs})
    for vol in p.get("ebs_block_device") or []:
        ebs = {"VolumeSize": vol["volume_size"], "VolumeType": vol.get("volume_type", "gp3")}
        ebs["Encrypted"] = bool(vol.get("encrypted", False))
        if vol.get("kms_key_id"):
            ebs["KmsKeyId"] = vol["kms_key_id"]
        out.append({"DeviceName": vol["device_name"], "Ebs": ebs})
    return out


def find(cloud: Cloud, t: Target) -> str | None:
    return _existing(cloud.client("ec2", t.region), t)


def create(cloud: Cloud, t: Target) -> str:
    ec2 = cloud.client("ec2", t.region)
    found = _existing(ec2, t)
    if found:
        return found
    resp = ec2.run_instances(**run_args(t))
    return str(resp["Instances"][0]["InstanceId"])


def run_args(t: Target) -> dict[str, Any]:
    p = t.properties
    args: dict[str, Any] = {
        "ImageId": p["ami"],
        "InstanceType": p["instance_type"],
        "MinCount": 1,
        "MaxCount": 1,
        "ClientToken": t.client_token,
        "TagSpecifications": [
            {"ResourceType": "instance", "Tags": tag_list(t.tags)},
            {"ResourceType": "volume", "Tags": tag_list(t.tags)},
        ],
    }
    if p.get("metadata_options"):
        args["MetadataOptions"] = _metadata_options(p)
    if devices := _block_devices(p):
        args["BlockDeviceMappings"] = devices
    if "monitoring" in p:
        args["Monitoring"] = {"Enabled": bool(p["monitoring"])}
    if "associate_public_ip_address" in p:
        nic: dict[str, Any] = {"DeviceIndex": 0, "AssociatePublicIpAddress": p["associate_public_ip_address"]}
        if p.get("subnet_id"):
            nic["SubnetId"] = p["subnet_id"]
        if p.get("vpc_security_group_ids"):
            nic["Groups"] = p["vpc_security_group_ids"]
        args["NetworkInterfaces"] = [nic]
    else:
        if p.get("subnet_id"):
            args["SubnetId"] = p["subnet_id"]
        if p.get("vpc_security_group_ids"):
            args["SecurityGroupIds"] = p["vpc_security_group_ids"]
    return args


# Set on an instance the gateway stops to resize while it runs; whoever finds it (a retry, a resumed step after a
# crash) starts the instance again. The instance's own state cannot say so: the gateway changed it.
RESTART_TAG = "govgate:restart"


def update(cloud: Cloud, t: Target) -> None:
    assert t.resource_id
    ec2 = cloud.client("ec2", t.region)
    if "instance_type" in t.changes:
        _resize(ec2, t.resource_id, t.changes["instance_type"])
    if "metadata_options" in t.changes:
        ec2.modify_instance_metadata_options(InstanceId=t.resource_id, **_metadata_options(t.changes))
    if "tags" in t.changes:
        ec2.create_tags(Resources=[t.resource_id], Tags=tag_list(t.tags))
        if t.removed_tags:
            ec2.delete_tags(Resources=[t.resource_id], Tags=[{"Key": k} for k in t.removed_tags])


def _resize(ec2: Any, instance_id: str, instance_type: str) -> None:
    """Stop, modify, start. A running instance is started again whatever happens to the change (a failed resize
    must not leave a production instance down), even by a retry or a resumed step: the restart tag says so."""
    inst = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
    tags = {x["Key"]: x["Value"] for x in inst.get("Tags", [])}
    restart = tags.get(RESTART_TAG) == "1" or inst["State"]["Name"] in ("pending", "running")
    try:
        if inst["InstanceType"] != instance_type:
            if restart and RESTART_TAG not in tags:
                ec2.create_tags(Resources=[instance_id], Tags=[{"Key": RESTART_TAG, "Value": "1"}])
            ec2.stop_instances(InstanceIds=[instance_id])
            ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 2})
            ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": instance_type})
    except BaseException:
        if restart:
            try:
                _start(ec2, instance_id)
            except (
                Exception
            ) as exc:  # the tag stays: the next attempt starts it; the first error is the one told
                log.warning("could not start %s again after a failed resize: %s", instance_id, exc)
        raise
    if restart:
        _start(ec2, instance_id)


def _start(ec2: Any, instance_id: str) -> None:
    ec2.start_instances(InstanceIds=[instance_id])
    ec2.delete_tags(Resources=[instance_id], Tags=[{"Key": RESTART_TAG}])


def _metadata_options(p: dict[str, Any]) -> dict[str, Any]:
    mo = (p.get("metadata_options") or [{}])[0]
    return {
        k2: mo[k1]
        for k1, k2 in (("http_tokens", "HttpTokens"), ("http_endpoint", "HttpEndpoint"),
                       ("http_put_response_hop_limit", "HttpPutResponseHopLimit"))
        if k1 in mo
    }  # fmt: skip


def delete(cloud: Cloud, t: Target) -> None:
    assert t.resource_id
    try:
        cloud.client("ec2", t.region).terminate_instances(InstanceIds=[t.resource_id])
    except ClientError as exc:
        if not is_not_found(exc, "InvalidInstanceID.NotFound"):
            raise


def preflight(cloud: Cloud, t: Target, action: str) -> str | None:
    ec2 = cloud.client("ec2", t.region)
    if action == "create":
        return ec2_dry_run(ec2.run_instances, **{k: v for k, v in run_args(t).items() if k != "ClientToken"})
    if action == "delete":
        return ec2_dry_run(ec2.terminate_instances, InstanceIds=[t.resource_id])
    if "instance_type" in t.changes:
        return ec2_dry_run(ec2.stop_instances, InstanceIds=[t.resource_id]) or ec2_dry_run(
            ec2.modify_instance_attribute,
            InstanceId=t.resource_id,
            InstanceType={"Value": t.changes["instance_type"]},
        )
    return ec2_dry_run(ec2.create_tags, Resources=[t.resource_id], Tags=tag_list(t.tags))


def read(cloud: Cloud, region: str, resource_id: str) -> dict[str, Any] | None:
    """The live instance's comparable properties (Terraform names), or None once it is gone."""
    try:
        resp = cloud.client("ec2", region).describe_instances(InstanceIds=[resource_id])
    except ClientError as exc:
        if is_not_found(exc, "InvalidInstanceID.NotFound", "InvalidInstanceID.Malformed"):
            return None
        raise
    found = [i for r in resp.get("Reservations", []) for i in r.get("Instances", [])]
    if not found or found[0].get("State", {}).get("Name") in GONE:
        return None
    inst = found[0]
    live: dict[str, Any] = {
        "instance_type": inst.get("InstanceType"),
        "ami": inst.get("ImageId"),
        "tags": user_tags(inst.get("Tags")),
        "monitoring": inst.get("Monitoring", {}).get("State") in ("enabled", "pending"),
    }
    if mo := inst.get("MetadataOptions"):
        live["metadata_options"] = [{k1: mo[k2] for k1, k2 in _METADATA if k2 in mo}]
    if inst.get("SubnetId"):
        live["subnet_id"] = inst["SubnetId"]
    if groups := inst.get("SecurityGroups"):
        live["vpc_security_group_ids"] = sorted(g["GroupId"] for g in groups)
    return live
