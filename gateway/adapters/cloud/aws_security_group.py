"""EC2 security groups and their rules."""

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

TYPE = "aws_security_group"
SCHEMA_ID = "resources/aws_security_group.schema.json"
# What an update can change in place; validation refuses anything else.
UPDATABLE = frozenset(("ingress", "egress", "tags"))
IAM_ACTIONS = (
    "ec2:DescribeSecurityGroups",
    "ec2:CreateSecurityGroup",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:DeleteSecurityGroup",
)


def permissions(rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for r in rules:
        perm: dict[str, Any] = {"IpProtocol": r["protocol"]}
        if r["protocol"] != "-1":
            perm.update(FromPort=r["from_port"], ToPort=r["to_port"])
        desc = {"Description": r["description"]} if r.get("description") else {}
        perm["IpRanges"] = [{"CidrIp": c, **desc} for c in r.get("cidr_blocks") or []]
        perm["Ipv6Ranges"] = [{"CidrIpv6": c, **desc} for c in r.get("ipv6_cidr_blocks") or []]
        if r.get("security_groups"):
            perm["UserIdGroupPairs"] = [{"GroupId": g} for g in r["security_groups"]]
        out.append(perm)
    return out


def create(cloud: Cloud, t: Target) -> str:
    ec2 = cloud.client("ec2", t.region)
    found = _tagged(ec2, t)
    if found:
        # Made by an attempt cut off by a crash, perhaps before its rules: make the rules what is declared.
        group_id = str(found[0]["GroupId"])
        _converge_rules(ec2, found[0], t.properties)
        return group_id
    p = t.properties
    args: dict[str, Any] = {
        "GroupName": p.get("name") or f"{t.team}-{t.name}-{t.request_id[:8]}",
        "Description": p.get("description") or f"managed by governance-gateway for {t.team}",
        "TagSpecifications": [{"ResourceType": "security-group", "Tags": tag_list(t.tags)}],
    }
    if p.get("vpc_id"):
        args["VpcId"] = p["vpc_id"]
    group_id = str(ec2.create_security_group(**args)["GroupId"])
    try:
        _apply_rules(ec2, group_id, p)
    except Exception:
        ec2.delete_security_group(GroupId=group_id)  # no half-made group left behind untracked
        raise
    return group_id


def _apply_rules(ec2: Any, group_id: str, p: dict[str, Any]) -> None:
    if p.get("ingress"):
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions(p["ingress"]))
    if "egress" in p:
        # Terraform semantics: a declared egress list replaces AWS's default allow-all rule.
        ec2.revoke_security_group_egress(
            GroupId=group_id, IpPermissions=[{"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]
        )
        if p["egress"]:
            ec2.authorize_security_group_egress(GroupId=group_id, IpPermissions=permissions(p["egress"]))


def _converge_rules(ec2: Any, group: dict[str, Any], p: dict[str, Any]) -> None:
    """Each direction `p` declares (ingress, egress) set to exactly the declared rules, whatever the group has now:
    none, some or all of them (a resumed creation), or others (an update; Terraform semantics)."""
    group_id = group["GroupId"]
    for key, current, revoke, authorize in (
        ("ingress", "IpPermissions", ec2.revoke_security_group_ingress, ec2.authorize_security_group_ingress),
        (
            "egress",
            "IpPermissionsEgress",
            ec2.revoke_security_group_egress,
            ec2.authorize_security_group_egress,
        ),
    ):
        if key not in p:
            continue
        if group.get(current):
            revoke(GroupId=group_id, IpPermissions=group[current])
        if p[key]:
            authorize(GroupId=group_id, IpPermissions=permissions(p[key]))


def find(cloud: Cloud, t: Target) -> str | None:
    found = _tagged(cloud.client("ec2", t.region), t)
    return str(found[0]["GroupId"]) if found else None


def _tagged(ec2: Any, t: Target) -> list[dict[str, Any]]:
    filters = [{"Name": f"tag:{REQUEST_TAG}", "Values": [t.request_id]},
               {"Name": f"tag:{RESOURCE_TAG}", "Values": [t.address]}]  # fmt: skip
    return list(ec2.describe_security_groups(Filters=filters)["SecurityGroups"])


def update(cloud: Cloud, t: Target) -> None:
    """A declared ingress or egress list replaces the group's current rules of that direction."""
    assert t.resource_id
    ec2 = cloud.client("ec2", t.region)
    rules: dict[str, Any] = {k: t.changes[k] for k in ("ingress", "egress") if k in t.changes}
    if rules:
        group = ec2.describe_security_groups(GroupIds=[t.resource_id])["SecurityGroups"][0]
        _converge_rules(ec2, group, rules)
    if "tags" in t.changes:
        ec2.create_tags(Resources=[t.resource_id], Tags=tag_list(t.tags))
        if t.removed_tags:
            ec2.delete_tags(Resources=[t.resource_id], Tags=[{"Key": k} for k in t.removed_tags])


def delete(cloud: Cloud, t: Target) -> None:
    assert t.resource_id
    try:
        cloud.client("ec2", t.region).delete_security_group(GroupId=t.resource_id)
    except ClientError as exc:
        if not is_not_found(exc, "InvalidGroup.NotFound"):
            raise


def preflight(cloud: Cloud, t: Target, action: str) -> str | None:
    ec2 = cloud.client("ec2", t.region)
    p = t.properties
    if action == "create":
        args = {
            "GroupName": p.get("name") or f"{t.team}-{t.name}",
            "Description": p.get("description") or "check",
        }
        if p.get("vpc_id"):
            args["VpcId"] = p["vpc_id"]
        return ec2_dry_run(ec2.create_security_group, **args)
    if action == "delete":
        return ec2_dry_run(ec2.delete_security_group, GroupId=t.resource_id)
    if "ingress" in t.changes:
        return ec2_dry_run(
            ec2.authorize_security_group_ingress,
            GroupId=t.resource_id,
            IpPermissions=permissions(t.changes["ingress"]),
        )
    return ec2_dry_run(ec2.create_tags, Resources=[t.resource_id], Tags=tag_list(t.tags))


def _rules(perms: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """AWS permissions back into Terraform rules (descriptions left out: they are not compared)."""
    out = []
    for p in perms:
        rule: dict[str, Any] = {"protocol": p.get("IpProtocol", "-1"),
                                "from_port": p.get("FromPort", 0), "to_port": p.get("ToPort", 0)}  # fmt: skip
        rule["cidr_blocks"] = [r["CidrIp"] for r in p.get("IpRanges") or []]
        rule["ipv6_cidr_blocks"] = [r["CidrIpv6"] for r in p.get("Ipv6Ranges") or []]
        rule["security_groups"] = [g["GroupId"] for g in p.get("UserIdGroupPairs") or [] if g.get("GroupId")]
        out.append(rule)
    return out


def read(cloud: Cloud, region: str, resource_id: str) -> dict[str, Any] | None:
    """The live group's rules and tags (Terraform names), or None once it is gone."""
    try:
        groups = cloud.client("ec2", region).describe_security_groups(GroupIds=[resource_id])[
            "SecurityGroups"
        ]
    except ClientError as exc:
        if is_not_found(exc, "InvalidGroup.NotFound", "InvalidGroupId.Malformed"):
            return None
        raise
    if not groups:
        return None
    g = groups[0]
    return {
        "name": g.get("GroupName"),
        "description": g.get("Description"),
        "vpc_id": g.get("VpcId"),
        "ingress": _rules(g.get("IpPermissions") or []),
        "egress": _rules(g.get("IpPermissionsEgress") or []),
        "tags": user_tags(g.get("Tags")),
    }
