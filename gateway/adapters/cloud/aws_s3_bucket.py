"""S3 buckets: the bucket, then its encryption, public access block, versioning, ACL and tags."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from gateway.adapters.cloud.client import Cloud
from gateway.adapters.cloud.driver import (
    REQUEST_TAG,
    RESOURCE_TAG,
    NameTaken,
    Target,
    error_of,
    is_not_found,
    tag_list,
)
from gateway.adapters.cloud.retry import is_transient
from gateway.domain.drift import user_tags

TYPE = "aws_s3_bucket"
SCHEMA_ID = "resources/aws_s3_bucket.schema.json"
# What an update can change in place; validation refuses anything else.
UPDATABLE = frozenset(
    (
        "tags",
        "versioning",
        "server_side_encryption_configuration",
        "public_access_block",
        "acl",
        "force_destroy",
    )
)
IAM_ACTIONS = (
    "s3:CreateBucket",
    "s3:ListAllMyBuckets",
    "s3:GetBucketPolicy",
    "s3:GetBucketTagging",
    "s3:PutBucketTagging",
    "s3:PutEncryptionConfiguration",
    "s3:PutBucketPublicAccessBlock",
    "s3:PutBucketVersioning",
    "s3:PutBucketAcl",
    "s3:ListBucket",
    "s3:DeleteObject",
    "s3:DeleteBucket",
    "s3:GetBucketVersioning",
    "s3:GetEncryptionConfiguration",
    "s3:GetBucketPublicAccessBlock",
)


# How far the cloud's clock may be behind the gateway's when telling a resumed attempt's bucket from an older one.
CLOCK_SKEW = timedelta(minutes=2)


def bucket_name(t: Target) -> str:
    return str(
        t.properties.get("bucket") or f"{t.team}-{t.name}-{t.request_id[:8]}".lower().replace("_", "-")
    )


def _tags(s3: Any, name: str) -> dict[str, str] | None:
    """The bucket's tags; None when it has none or is not there (or not ours to read). Throttling and 5xx raise:
    "cannot tell now" must never read as "not ours"."""
    try:
        return {x["Key"]: x["Value"] for x in s3.get_bucket_tagging(Bucket=name)["TagSet"]}
    except ClientError as exc:
        if is_transient(exc):
            raise
        return None


def _ours(s3: Any, name: str, t: Target) -> bool:
    tags = _tags(s3, name) or {}
    return tags.get(REQUEST_TAG) == t.request_id and tags.get(RESOURCE_TAG) == t.address


def _exists(s3: Any, name: str) -> bool:
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        if is_not_found(exc, "404", "NoSuchBucket", "NotFound"):
            return False
        if exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 403:
            return True  # another account's
        raise
    return True


def _made_by_cut_off_attempt(s3: Any, name: str, t: Target) -> bool:
    """S3 cannot tag a bucket as it creates it, so an attempt cut off between the two leaves our bucket untagged.
    It is ours if this step was resumed and the bucket is as a bucket just made is: created after the step first
    began (a policy edit also moves that date, hence the rest), without tags, without a policy, empty."""
    if not (t.resuming and t.first_attempt_at):
        return False
    since = t.first_attempt_at - CLOCK_SKEW
    if not any(b["Name"] == name and b["CreationDate"] >= since for b in s3.list_buckets()["Buckets"]):
        return False
    if _tags(s3, name) is not None:
        return False
    try:
        s3.get_bucket_policy(Bucket=name)
        return False
    except ClientError as exc:
        if is_transient(exc) or exc.response.get("Error", {}).get("Code") != "NoSuchBucketPolicy":
            raise
    return not s3.list_objects_v2(Bucket=name, MaxKeys=1).get("KeyCount", 0)


def _state(s3: Any, name: str, t: Target) -> str:
    if _ours(s3, name, t):
        return "ours"
    if not _exists(s3, name):
        return "free"
    return "adoptable" if _made_by_cut_off_attempt(s3, name, t) else "taken"


def find(cloud: Cloud, t: Target) -> str | None:
    s3 = cloud.client("s3", t.region)
    name = bucket_name(t)
    return name if _state(s3, name, t) in ("ours", "adoptable") else None


def create(cloud: Cloud, t: Target) -> str:
    """Never takes over a bucket it did not make: in us-east-1 CreateBucket answers 200 for a bucket the account
    already owns, so the name is checked first."""
    s3 = cloud.client("s3", t.region)
    p = t.properties
    name = bucket_name(t)
    state = _state(s3, name, t)
    if state == "ours":
        configure(s3, name, p)
        return name
    if state == "taken":
        raise NameTaken(
            f"BucketAlreadyExists: bucket name {name} is taken by a bucket this request did not make"
        )
    if state == "free":
        args: dict[str, Any] = {"Bucket": name}
        if t.region != "us-east-1":
            args["CreateBucketConfiguration"] = {"LocationConstraint": t.region}
        s3.create_bucket(**args)
    try:
        s3.put_bucket_tagging(Bucket=name, Tagging={"TagSet": tag_list(t.tags)})
        configure(s3, name, p)
    except Exception:
        # A half-configured bucket (say, unencrypted) must not stay behind untracked.
        s3.delete_bucket(Bucket=name)
        raise
    return name


def configure(s3: Any, name: str, p: dict[str, Any]) -> None:
    """Encryption, public access block, versioning and ACL, as declared."""
    for sse in p.get("server_side_encryption_configuration") or []:
        default = sse["rule"][0]["apply_server_side_encryption_by_default"][0]
        by_default = {"SSEAlgorithm": default["sse_algorithm"]}
        if default.get("kms_master_key_id"):
            by_default["KMSMasterKeyID"] = default["kms_master_key_id"]
        s3.put_bucket_encryption(
            Bucket=name,
            ServerSideEncryptionConfiguration={"Rules": [{"ApplyServerSideEncryptionByDefault": by_default}]},
        )
    # Absent a block, apply what AWS applies to new buckets: all public access blocked.
    pab = (p.get("public_access_block") or [{}])[0]
    s3.put_public_access_block(
        Bucket=name,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": pab.get("block_public_acls", True),
            "IgnorePublicAcls": pab.get("ignore_public_acls", True),
            "BlockPublicPolicy": pab.get("block_public_policy", True),
            "RestrictPublicBuckets": pab.get("restrict_public_buckets", True),
        },
    )
    for ver in p.get("versioning") or []:
        status = "Enabled" if ver.get("enabled") else "Suspended"
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": status})
    if p.get("acl"):
        s3.put_bucket_acl(Bucket=name, ACL=p["acl"])


def update(cloud: Cloud, t: Target) -> None:
    assert t.resource_id
    s3 = cloud.client("s3", t.region)
    configure(s3, t.resource_id, t.properties)
    if "tags" in t.changes:
        s3.put_bucket_tagging(Bucket=t.resource_id, Tagging={"TagSet": tag_list(t.tags)})


def delete(cloud: Cloud, t: Target) -> None:
    assert t.resource_id
    s3 = cloud.client("s3", t.region)
    try:
        if t.properties.get("force_destroy"):
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=t.resource_id):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                if keys:
                    s3.delete_objects(Bucket=t.resource_id, Delete={"Objects": keys})
        s3.delete_bucket(Bucket=t.resource_id)
    except ClientError as exc:
        if not is_not_found(exc, "NoSuchBucket"):
            raise


def preflight(cloud: Cloud, t: Target, action: str) -> str | None:
    """S3 has no dry run: the name must be free to create a bucket, and the bucket must be there to change it."""
    s3 = cloud.client("s3", t.region)
    name = bucket_name(t) if action == "create" else str(t.resource_id)
    try:
        s3.head_bucket(Bucket=name)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in ("404", "NoSuchBucket", "NotFound"):
            return None if action == "create" else f"bucket {name} does not exist"
        return f"bucket {name}: {error_of(exc)}"
    return f"bucket name {name} is taken" if action == "create" else None


def _absent(exc: ClientError, *codes: str) -> bool:
    return str(exc.response.get("Error", {}).get("Code")) in codes


def read(cloud: Cloud, region: str, resource_id: str) -> dict[str, Any] | None:
    """The live bucket's versioning, encryption, public access block and tags (Terraform names), or None once it
    is gone. A configuration that was never set reads as AWS applies it: unversioned, no block, no tags."""
    s3 = cloud.client("s3", region)
    try:
        s3.head_bucket(Bucket=resource_id)
    except ClientError as exc:
        if is_not_found(exc, "404", "NoSuchBucket", "NotFound"):
            return None
        raise
    status = s3.get_bucket_versioning(Bucket=resource_id).get("Status")
    live: dict[str, Any] = {"bucket": resource_id, "versioning": [{"enabled": status == "Enabled"}]}
    try:
        rules = s3.get_bucket_encryption(Bucket=resource_id)["ServerSideEncryptionConfiguration"]["Rules"]
    except ClientError as exc:
        if not _absent(exc, "ServerSideEncryptionConfigurationNotFoundError"):
            raise
        rules = []
    sse = []
    for r in rules:
        by_default = r.get("ApplyServerSideEncryptionByDefault") or {}
        default = {"sse_algorithm": by_default.get("SSEAlgorithm")}
        if by_default.get("KMSMasterKeyID"):
            default["kms_master_key_id"] = by_default["KMSMasterKeyID"]
        sse.append({"rule": [{"apply_server_side_encryption_by_default": [default]}]})
    live["server_side_encryption_configuration"] = sse
    try:
        pab = s3.get_public_access_block(Bucket=resource_id)["PublicAccessBlockConfiguration"]
    except ClientError as exc:
        if not _absent(exc, "NoSuchPublicAccessBlockConfiguration"):
            raise
        pab = {}
    live["public_access_block"] = [
        {k1: bool(pab.get(k2, False)) for k1, k2 in (
            ("block_public_acls", "BlockPublicAcls"), ("ignore_public_acls", "IgnorePublicAcls"),
            ("block_public_policy", "BlockPublicPolicy"), ("restrict_public_buckets", "RestrictPublicBuckets"))}
    ]  # fmt: skip
    try:
        live["tags"] = user_tags(s3.get_bucket_tagging(Bucket=resource_id)["TagSet"])
    except ClientError as exc:
        if not _absent(exc, "NoSuchTagSet"):
            raise
        live["tags"] = {}
    return live
