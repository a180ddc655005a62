"""EC2 instances."""

from __future__ import annotations

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

TYPE = "aws_instance"
SCHEMA_ID = "resources/aws_instance.schema.json"
# What an update can change in place; validation refuses anything else.
UPDATABLE = frozenset(("instance_type", "tags"))
IAM_ACTIONS = (
    "ec2:DescribeInstances",
    "ec2:RunInstances",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:StopInstances",
    "ec2:ModifyInstanceAttribute",
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
        mo = p["metadata_options"][0]
        args["MetadataOptions"] = {
            k2: mo[k1]
            for k1, k2 in (("http_tokens", "HttpTokens"), ("http_endpoint", "HttpEndpoint"),
                           ("http_put_response_hop_limit", "HttpPutResponseHopLimit"))
            if k1 in mo
        }  # fmt: skip
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


def update(cloud: Cloud, t: Target) -> None:
    """An instance type change needs the instance stopped: stop, modify, start. It is started again whatever
    happens to the change (a failed resize must not leave a production instance down), and left alone when it
    already has that type (a retry, or a step resumed after a crash)."""
    assert t.resource_id
    ec2 = cloud.client("ec2", t.region)
    if "instance_type" in t.changes:
        inst = ec2.describe_instances(InstanceIds=[t.resource_id])["Reservations"][0]["Instances"][0]
        if inst["InstanceType"] != t.changes["instance_type"]:
            _resize(
                ec2, t.resource_id, t.changes["instance_type"], running=inst["State"]["Name"] != "stopped"
            )
    if "tags" in t.changes:
        ec2.create_tags(Resources=[t.resource_id], Tags=tag_list(t.tags))
        if t.removed_tags:
            ec2.delete_tags(Resources=[t.resource_id], Tags=[{"Key": k} for k in t.removed_tags])


def _resize(ec2: Any, instance_id: str, instance_type: str, *, running: bool) -> None:
    ec2.stop_instances(InstanceIds=[instance_id])
    try:
        ec2.get_waiter("instance_stopped").wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 2})
        ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": instance_type})
    finally:
        if running:
            ec2.start_instances(InstanceIds=[instance_id])


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
