"""The least-privilege IAM policy for the gateway's role, from what each driver declares it calls."""

from __future__ import annotations

from typing import Any

from gateway.adapters.cloud.registry import DRIVERS

# S3 grants some API operations under another action name; every other service (EC2, RDS) uses the operation's.
S3_ACTION_OF = {
    "PutBucketEncryption": "PutEncryptionConfiguration",
    "GetBucketEncryption": "GetEncryptionConfiguration",
    "PutPublicAccessBlock": "PutBucketPublicAccessBlock",
    "GetPublicAccessBlock": "GetBucketPublicAccessBlock",
    "DeletePublicAccessBlock": "PutBucketPublicAccessBlock",
    "HeadBucket": "ListBucket",
    "ListBuckets": "ListAllMyBuckets",
    "ListObjects": "ListBucket",
    "ListObjectsV2": "ListBucket",
    "ListObjectVersions": "ListBucketVersions",
    "DeleteObjects": "DeleteObject",
    "DeleteBucketTagging": "PutBucketTagging",
}


def action_for(service: str, operation: str) -> str:
    """The IAM action that allows one API call (service as boto3 names it, operation as botocore does)."""
    if service == "s3":
        return f"s3:{S3_ACTION_OF.get(operation, operation)}"
    return f"{service}:{operation}"


def policy_document() -> dict[str, Any]:
    """One statement per resource type, so a reviewer sees which driver needs what. Some declared actions never
    appear as calls of their own: tagging at creation (TagSpecifications, RDS Tags) needs ec2:CreateTags and
    rds:AddTagsToResource all the same."""
    statements = [
        {
            "Sid": "GovernanceGateway" + "".join(p.title() for p in rtype.split("_")),
            "Effect": "Allow",
            "Action": sorted(set(drv.IAM_ACTIONS)),
            "Resource": "*",
        }
        for rtype, drv in sorted(DRIVERS.items())
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def allowed_actions(document: dict[str, Any]) -> set[str]:
    return {a for s in document["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
